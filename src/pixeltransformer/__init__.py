"""PixelTransformer core: one model, one objective, one sampler for every signal domain."""
__version__ = "0.1.0"  # the one place of the version: pyproject.toml reads it (tool.setuptools.dynamic)


def versions() -> dict[str, str]:
    """This project's version and the installed torch's and Lightning's (their metadata, neither imported), as
    checkpoints and metrics.json record them under "pixeltransformer" and "versions"."""
    from .cache import package_versions  # imported here: the package itself stays light

    found = package_versions(("torch", "lightning"))
    return {"version": __version__, **{name: v or "not installed" for name, v in found.items()}}


def version_line(recorded: dict | None = None) -> str:
    """``pixeltransformer 0.1.0 (torch 2.5.1, lightning 2.6.0)``: ``pixeltransformer --version``'s line, of these
    versions (default: the ones running)."""
    found = versions() if recorded is None else recorded
    return (f"pixeltransformer {found.get('version', '?')} (torch {found.get('torch', '?')}, "
            f"lightning {found.get('lightning', '?')})")


def written_by(ckpt: dict) -> str:
    """The refusals' note on a checkpoint that records another version as having written it: "written by
    pixeltransformer 0.2.0; this is 0.1.0"; "" where it records this version or none (an earlier version's)."""
    recorded = ckpt.get("pixeltransformer") if isinstance(ckpt, dict) else None
    wrote = recorded.get("version") if isinstance(recorded, dict) else None
    return f"written by pixeltransformer {wrote}; this is {__version__}" if wrote and wrote != __version__ else ""
