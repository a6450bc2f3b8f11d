"""The shipped systemd units are ones systemd accepts: no unknown keys, bad values or missing units."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.server_process import REPO_ROOT

UNITS = REPO_ROOT / "packaging" / "systemd"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_units_verify_clean(tmp_path: Path) -> None:
    """`systemd-analyze verify` reports nothing for the server unit and the nightly backup service and timer."""
    names = sorted(p.name for p in UNITS.iterdir() if p.suffix in (".service", ".timer"))
    assert names == ["clinic-backup.service", "clinic-backup.timer", "clinic-server.service"]
    for name in names:
        # The programs live in /opt/dentalcare on a real install; point them at one that exists here.
        text = (UNITS / name).read_text().replace("/opt/dentalcare/venv/bin/clinic-server", "/bin/true")
        (tmp_path / name).write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", *names], capture_output=True, text=True, cwd=tmp_path,
                            timeout=60)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
