"""Where the project lives: the core package's folder, the repository around it in a clone, the configs and the
folders of the project's own code. The standard library alone, so that :mod:`pixeltransformer.errors`, read at
every start-up, can import it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

BEST_FILENAME = "best-step{step:06d}"  # the best checkpoint's name (ModelCheckpoint's filename template)


def checkout(package: Path) -> Path | None:
    """The repository the core package folder ``package`` lies in (<repository>/src/pixeltransformer, beside its
    configs/, domains/ and data/); None where the project is installed from a wheel (or by ``pip install .``):
    pixeltransformer/ and domains/ side by side (in site-packages), the shipped configs in pixeltransformer/configs/,
    which only an installed package has."""
    if (package / "configs").is_dir():
        return None
    root = package.parents[1]
    return root if package.parent.name == "src" and (root / "configs").is_dir() else None


PACKAGE = Path(__file__).resolve().parent
CHECKOUT = checkout(PACKAGE)
CONFIGS = (CHECKOUT or PACKAGE) / "configs"  # the built-in domains' configs: a clone's configs/, or the shipped ones
PROJECT_CODE = (PACKAGE, (CHECKOUT or PACKAGE.parent) / "domains")


NAME_MAX = 255  # bytes of one folder name on Linux's and macOS's file systems


def folder_name_fault(name: str) -> tuple[str, str] | None:
    """Why ``name`` is not one folder name, and the remedy where one fits every caller ("" where the caller names
    its own), or None where it is one: a run name's and a domain name's rule, which are folders of the run's path.
    A path in it put the folder outside its parent ('..') or below another there ('a/b'); a name past the file
    systems' limit failed on the system's "File name too long"; a line break broke the lines that name the folder."""
    if name in (".", "..") or "/" in name or "\\" in name:
        return "must be one folder name, not '.', '..' or a path", ""
    if len(name.encode()) > NAME_MAX:
        return (f"is {len(name.encode())} bytes long, more than a folder name may be ({NAME_MAX})",
                "give a shorter one")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "holds a line break or another control character", "give a name without"
    return None

def best_checkpoint_step(stem: str) -> int | None:
    """The training step a best checkpoint's file name (``stem``: "best-step004000") carries: BEST_FILENAME's step;
    None for any other name. Read here without torch, by the results' import as by the checkpoint callback."""
    named = re.fullmatch(re.escape(BEST_FILENAME.split("{")[0]) + r"(\d+)", stem)
    return int(named.group(1)) if named else None


def built_in_domain(name: object) -> bool:
    """Whether ``name`` is a domain of this project (images, polynomial, sdf, video): the domains whose configs ship
    with it, which make's targets and the printed advice know; a domain of the user's own has no config here."""
    return isinstance(name, str) and bool(name) and (CONFIGS / f"{name}.yaml").is_file()


def config_shown(name: str) -> str:
    """A built-in config (``name``: "polynomial.yaml", "trainer/gpu.yaml") as a printed line names it: configs/<name>
    in a clone, whose command lines run in the repository; where installed, the shipped file's full path (a shell
    word), there being no configs/ in the folder an installed command runs in."""
    return f"configs/{name}" if CHECKOUT is not None else shlex.quote(str(CONFIGS / name))


def next_command(clone: str, installed: str = "") -> str:
    """What a printed line advises running: ``clone`` (a make target or its variables) in a clone; where installed,
    which has no Makefile, ``installed`` (the pixeltransformer command's words, its configs by
    :func:`config_shown`; "" where the rest of the line says it all)."""
    return clone if CHECKOUT is not None else installed


def results_command(runs: str = "") -> str:
    """The command that writes the results page, importing the run folder ``runs`` first where given: `make results
    (RUNS=...)` in a clone; where installed, its module (no Makefile, no console script of its own)."""
    return next_command(f"make results{f' RUNS={runs}' if runs else ''}",
                        f"python -m pixeltransformer.results{f' --runs {runs}' if runs else ''}")


def data_words(domain: str, overlay: str | None = None) -> str:
    """A built-in domain, or with ``overlay`` one of its dataset overlays, as a line names it to be given: make's
    DOMAIN=<domain> (DATA=<overlay>) in a clone, the --config of its shipped file where installed."""
    name, variable = (f"{domain}/{overlay}", f"DATA={overlay}") if overlay else (domain, f"DOMAIN={domain}")
    return next_command(variable, f"--config {config_shown(f'{name}.yaml')}")


def config_word(config) -> str:
    """`--config <config>`, the file's path as one shell word (whatever spaces or quotes it holds)."""
    return f"--config {shlex.quote(str(config))}"


def test_command(config, ckpt, data: str | None = None) -> str:
    """The `pixeltransformer test` line that evaluates the checkpoint ``ckpt`` with the config ``config`` (a run's
    config.yaml, or an evaluation's config_test.yaml: its data, options and data roots as given), as shell words, so
    that it runs as printed whatever spaces or quotes the paths hold; a fit's closing line and `make results` print
    it. ``data``: a placeholder for data options after the config, as given (`<data>`)."""
    more = f" --config {data}" if data else ""
    return f"pixeltransformer test {config_word(config)}{more} --ckpt_path {shlex.quote(str(ckpt))}"
