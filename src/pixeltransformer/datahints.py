"""Where a checkpoint's data is, in the words that end the one-line error of a checkpoint given other data than it was
trained on, or data of another domain, and the [run] line of an evaluation on other data: the checkpoint's own data as
make variables in a clone (``DOMAIN=video DATA=beach``), as config files where the package is installed, and as its
run folder's config.yaml for a domain of the user's own, which neither knows; the file or folder a spec's data was
read from (:func:`source_name`); the dataset a model was trained on (:func:`trained_dataset`) and its file or folder
(:func:`trained_data`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config_files import config_entry
from .layout import CONFIGS, built_in_domain, data_words, next_command


def own_data(saved: dict, given: dict | None = None) -> str | None:
    """A checkpoint's data as make variables: its saved spec's domain and, where the repository has an overlay of
    that name, else the overlays that read that dataset ("DOMAIN=video DATA=beach", whose dataset is npz), and the
    file or folder it read where its spec names one ("on curves.npy"); a domain of the user's own, which make does not
    know, by its dataset's name. ``given``: the spec of the data given instead; of the same domain, what is left to
    choose (the domain given is not named again: "DATA=file on curves.npy", "without DATA=" for the domain's default
    data), None where only other options differ."""
    domain, dataset = saved.get("domain"), saved.get("dataset")
    if not built_in_domain(domain):
        return f"{domain}/{dataset}"
    named = ([dataset] if dataset and (CONFIGS / str(domain) / f"{dataset}.yaml").is_file()
             else dataset_overlays(str(domain), str(dataset)))
    overlays = " or ".join(data_words(str(domain), name) for name in named)
    source = (saved.get("extra") or {}).get("source")
    on = f" on {source}" if source and source != dataset else ""
    if given is None or given.get("domain") != domain:
        return f"{data_words(str(domain))}{f' {overlays}' if overlays else ''}{on}"
    if dataset == given.get("dataset"):  # the dataset given too: its file or folder, if another
        return source if on and source != (given.get("extra") or {}).get("source") else None
    if overlays:
        return f"{overlays}{on}"
    if dataset == config_dataset(CONFIGS / f"{domain}.yaml"):
        return next_command("without DATA=", "without a dataset overlay")
    return f"--data.init_args.dataset={dataset}{on}"


def data_hint(saved: dict, predict: bool = False, given: dict | None = None) -> str:
    """Where a checkpoint's data is, for the one-line error of a checkpoint given other data (``given``: its spec,
    whose domain is not named again, :func:`own_data`); a prediction needs only the checkpoint's domain (its model and
    bins are the checkpoint's, whatever the data config)."""
    if not saved.get("domain"):
        return ""
    if not built_in_domain(saved["domain"]):  # a domain of the user's own: make knows no DOMAIN=
        return " (use the config.yaml of its run folder)"
    if predict:
        return f" (use its domain: {data_words(saved['domain'])})"
    if (own := own_data(saved, given)) is None:  # the same data, read with other options (a size, a resolution)
        return " (use the config.yaml of its run folder: its data is read otherwise)"
    return f" (use its own data: {own}, or the config.yaml of its run folder)"


def dataset_overlays(domain: str, dataset: str) -> list[str]:
    """The names of the dataset overlays configs/<domain>/<name>.yaml whose data is ``dataset`` (their
    data.init_args.dataset: configs/video/beach.yaml's is "npz"), sorted."""
    return [path.stem for path in sorted((CONFIGS / domain).glob("*.yaml")) if config_dataset(path) == dataset]


def config_dataset(path: Path) -> Any:
    """The data.init_args.dataset a config file sets (None where it sets none or cannot be read)."""
    _, init = config_entry(path, "data", "init_args")
    return init.get("dataset") if isinstance(init, dict) else None


def trained_dataset(module: Any) -> str:
    """The dataset a model was trained on: its checkpoint's (``trained_dataset``) where it was loaded from one, else
    its spec's (fitted here)."""
    dataset = getattr(module, "trained_dataset", None)
    return module.spec.dataset if dataset is None else dataset


def trained_data(module: Any) -> tuple[str, str | None]:
    """The dataset a model was trained on (:func:`trained_dataset`) and the name of its file or folder
    (:func:`source_name`): its checkpoint's ``trained_source`` where it was loaded from one, else its spec's."""
    loaded = getattr(module, "trained_dataset", None) is not None
    source = getattr(module, "trained_source", None) if loaded else source_name(module.spec.to_dict())
    return trained_dataset(module), source


def source_name(spec: dict[str, Any]) -> str | None:
    """The name of the file or folder a spec's data was read from (its extra's "source", a path or a name: the last
    part), None where it names none: data moved to another folder keeps its name."""
    source = (spec.get("extra") or {}).get("source")
    return Path(str(source)).name or None if source else None
