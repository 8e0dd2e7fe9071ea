"""Where the project lives: the core package's folder, the repository around it in a clone, the configs and the
folders of the project's own code. The standard library alone, so that :mod:`pixeltransformer.errors`, read at
every start-up, can import it."""

from __future__ import annotations

from pathlib import Path


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
