"""Build the one-folder `clinic-desktop` bundle with PyInstaller on the current platform.

    python packaging/build.py [--dist DIR] [--work DIR]

The result is `DIR/clinic-desktop/` (and on macOS `DIR/DentalCare Connect.app`): the desktop client,
the sync server (`clinic-desktop --run-server ...`), the embedded PostgreSQL binaries, icons and
resources. PyInstaller does not cross-compile: build the Windows bundle on Windows, the macOS one on
macOS (docs/INSTALL.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "clinic-desktop.spec"


def project_version() -> str:
    """The version in this checkout's pyproject.toml (the one being built, not whatever is installed)."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return str(tomllib.load(fh)["project"]["version"])


def make_icons(folder: Path) -> list[Path]:
    """Render resources/icons/dentalcare.svg into the icon files the platform's program and installer use.

    PNGs on every platform, `dentalcare.ico` where Qt can write ICO (Windows, Linux), and on macOS
    `dentalcare.icns` (Qt's ICNS writer, else Apple's `iconutil` on a Mac).
    """
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSize
    from PySide6.QtGui import QGuiApplication, QImage, QImageWriter, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 - QImage painting needs it
    renderer = QSvgRenderer(str(ROOT / "resources" / "icons" / "dentalcare.svg"))
    if not renderer.isValid():
        raise RuntimeError("resources/icons/dentalcare.svg cannot be read")
    folder.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []
    images: dict[int, QImage] = {}
    for size in (16, 32, 48, 64, 128, 256, 512, 1024):
        image = QImage(QSize(size, size), QImage.Format.Format_ARGB32)
        image.fill(0)
        painter = QPainter(image)
        renderer.render(painter)
        painter.end()
        images[size] = image
    png = folder / "dentalcare-256.png"
    images[256].save(str(png))
    made.append(png)
    if b"ico" in [bytes(f) for f in QImageWriter.supportedImageFormats()]:
        ico = folder / "dentalcare.ico"
        images[256].save(str(ico), "ICO")
        made.append(ico)
    formats = [bytes(f) for f in QImageWriter.supportedImageFormats()]
    if b"icns" in formats:  # Qt's own ICNS writer (every platform)
        images[1024].save(str(folder / "dentalcare.icns"), "ICNS")
        made.append(folder / "dentalcare.icns")
    elif sys.platform == "darwin":  # else Apple's iconutil
        iconset = folder / "dentalcare.iconset"
        iconset.mkdir(exist_ok=True)
        for size in (16, 32, 128, 256, 512):
            images[size].save(str(iconset / f"icon_{size}x{size}.png"))
            images[size * 2].save(str(iconset / f"icon_{size}x{size}@2x.png"))
        subprocess.run(["iconutil", "-c", "icns", str(iconset), "-o", str(folder / "dentalcare.icns")], check=True)
        made.append(folder / "dentalcare.icns")
    return made


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="packaging/build.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="where the bundle goes (default: dist/)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller",
                        help="PyInstaller's work folder (default: build/pyinstaller/)")
    args = parser.parse_args(argv)

    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        print("error: PyInstaller is not installed; run: pip install -e \".[package]\"", file=sys.stderr)
        return 2

    dist, work = args.dist.resolve(), args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    version = project_version()
    version_file = work / "VERSION"
    version_file.write_text(version + "\n")

    icons = make_icons(work / "icons")
    print(f"icons: {', '.join(p.name for p in icons)}")
    env = dict(os.environ, CLINIC_BUILD_ROOT=str(ROOT), CLINIC_BUILD_VERSION_FILE=str(version_file),
               CLINIC_BUILD_ICON_DIR=str(work / "icons"))
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
               "--distpath", str(dist), "--workpath", str(work), str(SPEC)]
    print(f"building clinic-desktop {version} with: {' '.join(command)}", flush=True)
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, env=env)
    if result.returncode != 0:
        print(f"error: PyInstaller failed (exit code {result.returncode})", file=sys.stderr)
        return result.returncode
    bundle = dist / "clinic-desktop"
    if (work / "icons" / "dentalcare-256.png").exists():  # for a Linux .desktop entry (docs/INSTALL.md)
        shutil.copy2(work / "icons" / "dentalcare-256.png", bundle / "dentalcare-connect.png")
    executable = bundle / ("clinic-desktop.exe" if os.name == "nt" else "clinic-desktop")
    if not executable.exists():
        print(f"error: PyInstaller finished but {executable} is missing", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    print(f"built {executable} ({folder_size(bundle) / 1e6:.0f} MB) in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
