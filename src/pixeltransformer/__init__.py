"""PixelTransformer core: one model, one objective, one sampler for every signal domain."""
import os

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


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo, else what platform knows."""
    import platform  # imported here: the package itself stays light

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return cpu


def this_machine() -> str:
    """A one-line description of the machine this runs on (for runs imported right after they ran), with the
    installed torch's version (:func:`versions`' reading)."""
    from .cache import package_version  # imported here: the package itself stays light

    torch = package_version("torch")
    return f"{os.cpu_count()}-core {cpu_name()}" + (f", torch {torch}" if torch else "")


def written_by(ckpt: dict) -> str:
    """The refusals' note on a checkpoint that records another version as having written it: "written by
    pixeltransformer 0.2.0; this is 0.1.0"; "" where it records this version or none (an earlier version's)."""
    recorded = ckpt.get("pixeltransformer") if isinstance(ckpt, dict) else None
    wrote = recorded.get("version") if isinstance(recorded, dict) else None
    return f"written by pixeltransformer {wrote}; this is {__version__}" if wrote and wrote != __version__ else ""
