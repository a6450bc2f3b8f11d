"""The client-store bench feeds every event through the sync client's path, and the store ends where the events say."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from server.bench.store_stall import fold_events, make_workload

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("tab", ["calendar", "week"])
def test_small_store_run_applies_every_event_and_ends_in_the_fed_state(tab: str) -> None:
    """1,000 appointments, 200 events/s for 1 s, with the day or the week view in front: all 200 applied,
    the grid in front repainted for the ones on its days; sampled rows equal an independent fold."""
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "server.bench.store_stall", "--appointments", "1000", "--events-per-second", "200",
         "--seconds", "1", "--seed", "3", "--tab", tab],
        cwd=str(REPO_ROOT), env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    result = json.loads(proc.stdout)

    assert result["appointments_loaded"] == 1000
    assert result["tab"] == tab
    assert result["appointments_on_shown_day"] > 0
    assert result["calendar_repaints_requested"] > 0 and result["calendar_paints"] > 0
    assert result["events_fed"] == 200
    assert result["events_applied"] == result["events_fed"]
    assert result["probe_fires"] > 0 and len(result["gaps_ms"]) == result["probe_fires"] - 1
    assert result["stall_max_ms"] >= result["stall_p99_ms"] >= result["stall_p50_ms"] >= 0

    workload = make_workload(1000, 200, date.fromisoformat(result["shown_day"]), seed=3)
    expected = fold_events(workload.snapshot["appointment"], workload.events)
    final_rows = result["final_rows"]
    assert len(final_rows) == 50
    for appointment_id, row in final_rows.items():
        want = expected[int(appointment_id)]
        assert row == {key: want[key] for key in row}, appointment_id
    # The sample really saw changes: new versions, and statuses that differ from the snapshot's.
    before = {r["id"]: r for r in workload.snapshot["appointment"]}
    assert all(row["version"] > before.get(int(i), {"version": 0})["version"] for i, row in final_rows.items())
    assert any(int(i) in before and row["status"] != before[int(i)]["status"] for i, row in final_rows.items())
