"""`clinic-server bench --short`: every scenario runs end to end, and no client loses or repeats a change.

It asserts correctness only (who received what, what was written, what the plots are), never a timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_bench_short_runs_every_scenario_and_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "results"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("CLINIC_DATABASE_URL", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-m", "server", "bench", "--short", "--out", str(out)],
                          cwd=str(REPO_ROOT), env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    files = list(out.glob("bench-*.json"))
    assert len(files) == 1, proc.stdout
    result = json.loads(files[0].read_text())

    fanout = result["fanout"]
    summary = fanout["summary"]
    assert summary["events_written"] > 0
    assert summary["clients"] == 20 and summary["clients_disconnected"] == 0
    assert summary["lost_total"] == 0 and summary["duplicated_total"] == 0 and summary["unexpected_total"] == 0
    assert summary["deliveries"] == 20 * summary["events_written"]
    assert {c["role"] for c in fanout["per_client"]} == {"admin", "dentist", "patient"}
    for client in fanout["per_client"]:
        assert client["received"] == summary["events_written"], client

    for step in result["rates"]:
        assert step["lost_total"] == 0 and step["duplicated_total"] == 0 and step["events_written"] > 0

    peer = result["peer"]["summary"]
    assert peer["clients"] == 20 and peer["events_written"] > 0 and peer["deliveries"] > 0

    idle = result["idle"]
    assert idle[-1]["connections"] == 200 and idle[-1]["rss_mib"] > idle[0]["rss_mib"]

    bookings = result["bookings"]
    assert bookings["ok"] > 0 and bookings["failed"] == 0, bookings["fail_reasons"]

    assert result["store"]["events_applied"] == result["store"]["events_fed"] > 0

    for plot in result["plots"]:
        assert Path(plot).stat().st_size > 0
    assert len(result["plots"]) == 4
    assert "latency p50 / p90 / p99 / max (ms)" in proc.stdout
