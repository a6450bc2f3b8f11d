"""`clinic-server bench --short`: every simulated client gets every change once (no timings asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_bench_short_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "results"
    env = dict(os.environ)
    env.pop("CLINIC_DATABASE_URL", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-m", "server", "bench", "--short", "--out", str(out)],
                          cwd=str(REPO_ROOT), env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = list(out.glob("bench-fanout-*.json"))
    assert len(files) == 1, proc.stdout
    result = json.loads(files[0].read_text())
    summary = result["summary"]
    assert summary["events_written"] > 0
    assert summary["clients_connected"] == summary["clients"] == 20
    assert len(result["per_client"]) == 20
    for client in result["per_client"]:
        assert client["received"] > 0, client
        assert client["lost"] == 0, client
        assert client["duplicated"] == 0, client
        assert client["unexpected"] == 0, client
