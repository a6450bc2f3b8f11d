"""`clinic-desktop --self-test` and `--version` from source (the bundle test runs the same from the bundle)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.server_process import REPO_ROOT


def _desktop(*args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINIC_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    env["QT_QPA_PLATFORM"] = "offscreen"
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-m", "clinic_desktop", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, env=env, timeout=300, stdin=subprocess.DEVNULL)


def test_version_names_the_package_version() -> None:
    """`clinic-desktop --version` prints the project's version."""
    with open(REPO_ROOT / "pyproject.toml", "rb") as fh:
        version = tomllib.load(fh)["project"]["version"]
    result = _desktop("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"clinic-desktop {version}"


def test_self_test_books_and_sees_the_event() -> None:
    """The self-test starts a server on a throwaway database, books, sees the event at two users, exits 0."""
    result = _desktop("--self-test")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "self-test (source," in out
    assert "frontdesk received the event for appointment" in out
    assert "drsmith received the event for appointment" in out
    grew = re.search(r"the appointment table model went from (\d+) to (\d+) rows", out)
    assert grew and int(grew.group(2)) == int(grew.group(1)) + 1, out  # the booking it made, and only that
    assert out.rstrip().splitlines()[-1].startswith("self-test passed")


def test_self_test_fails_with_a_reason_when_the_server_cannot_start(tmp_path: Path) -> None:
    """When the bundled server cannot start, the self-test says so and exits non-zero (no traceback)."""
    result = _desktop("--self-test", extra_env={"CLINIC_CONFIG": str(tmp_path / "missing.toml")})
    assert result.returncode == 1
    assert "self-test FAILED: the demo server exited" in result.stdout
    assert "missing.toml does not exist" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
