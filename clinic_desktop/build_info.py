"""What the running program is: its version, and whether it runs from a PyInstaller bundle.

The version comes from the installed package's metadata; a bundle built without that metadata falls
back to the `VERSION` file the build script bakes into it, and a bare source tree to `__version__`.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from . import __version__

__all__ = ["DISTRIBUTION", "bundle_root", "frozen", "package_version", "server_command"]

DISTRIBUTION = "dentalcare-connect"


def frozen() -> bool:
    """True inside a PyInstaller bundle (`sys.executable` is then the bundle's own program)."""
    return bool(getattr(sys, "frozen", False))


def bundle_root() -> Path | None:
    """The bundle's data folder (`_internal/` of a one-folder build), or None when run from source."""
    root = getattr(sys, "_MEIPASS", None)
    return Path(root) if frozen() and root else None


def package_version() -> str:
    """The package version: installed metadata, else the version baked into the bundle, else the source."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        pass
    root = bundle_root()
    if root is not None:
        try:
            return (root / "VERSION").read_text().strip()
        except OSError:
            pass
    return __version__


def server_command(*args: str) -> list[str]:
    """The command line that runs `clinic-server ARGS`: the bundle runs itself in server mode."""
    if frozen():
        return [sys.executable, "--run-server", *args]
    return [sys.executable, "-m", "server", *args]
