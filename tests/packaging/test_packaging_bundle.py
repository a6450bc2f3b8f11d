"""The Linux one-folder bundle: built from this checkout, it runs `--version` and its self-test on its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from tests.server_process import REPO_ROOT


def _bundle_env() -> dict[str, str]:
    """The environment of a clinic PC: offscreen Qt here, and nothing pointing back at the source tree."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "CLINIC_"))}
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


@pytest.mark.bundle
@pytest.mark.timeout(1800)
def test_linux_bundle_builds_and_passes_its_self_test(work_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The build script makes a bundle whose --version names this version and whose self-test books and sees the event."""
    dist = work_dir / "dist"
    started = time.monotonic()
    build = subprocess.run([sys.executable, str(REPO_ROOT / "packaging" / "build.py"), "--dist", str(dist),
                            "--work", str(work_dir / "build")], capture_output=True, text=True, cwd=REPO_ROOT)
    build_seconds = time.monotonic() - started
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-5000:]
    bundle = dist / "clinic-desktop"
    executable = bundle / "clinic-desktop"
    assert executable.is_file() and os.access(executable, os.X_OK)

    with open(REPO_ROOT / "pyproject.toml", "rb") as fh:
        version = tomllib.load(fh)["project"]["version"]
    outside = work_dir  # run from elsewhere than the checkout, as an installed copy would be
    shown = subprocess.run([str(executable), "--version"], capture_output=True, text=True, cwd=outside,
                           env=_bundle_env(), timeout=60)
    assert shown.returncode == 0 and shown.stdout.strip() == f"clinic-desktop {version}", shown
    server_version = subprocess.run([str(executable), "--run-server", "--version"], capture_output=True, text=True,
                                    cwd=outside, env=_bundle_env(), timeout=60)
    assert server_version.returncode == 0 and server_version.stdout.startswith("clinic-server "), server_version

    started = time.monotonic()
    self_test = subprocess.run([str(executable), "--self-test"], capture_output=True, text=True, cwd=outside,
                               env=_bundle_env(), timeout=600)
    self_test_seconds = time.monotonic() - started
    assert self_test.returncode == 0, self_test.stdout + self_test.stderr
    assert "self-test (bundle," in self_test.stdout  # the frozen program ran, not the source tree
    assert "received the event for appointment" in self_test.stdout
    assert "self-test passed" in self_test.stdout

    # The bundled PostgreSQL client programs work too: the bundle's own server backs up and restores.
    def bundled_server(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(executable), "--run-server", *args], capture_output=True, text=True,
                              cwd=outside, env=_bundle_env(), timeout=300)

    seeded = bundled_server("seed-demo", "--data-dir", str(work_dir / "clinic"), "--log-level", "WARNING")
    assert seeded.returncode == 0, seeded.stderr
    dump = work_dir / "clinic.dump"
    saved = bundled_server("backup", "--data-dir", str(work_dir / "clinic"), "--out", str(dump))
    # The demo is a working fortnight (DESIGN.md "Demo data"): however many appointments, the 5 logins.
    backed_up = re.search(r"backed up (\d+) appointments, 5 users", saved.stdout)
    assert saved.returncode == 0 and backed_up, saved.stderr
    restored = bundled_server("restore", str(dump), "--data-dir", str(work_dir / "restored"))
    assert restored.returncode == 0 and f"{backed_up.group(1)} appointments, 5 users" in restored.stdout, restored.stderr

    size = subprocess.run(["du", "-sb", str(bundle)], capture_output=True, text=True, check=True)
    size_mb = int(size.stdout.split()[0]) / 1e6
    with capsys.disabled():
        print(f"\nbundle: {bundle} {size_mb:.0f} MB; build {build_seconds:.0f} s; "
              f"self-test wall time {self_test_seconds:.1f} s\n{self_test.stdout}")
