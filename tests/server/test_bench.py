"""`clinic-server bench --short`: every scenario runs end to end, and no client loses or repeats a change.

It asserts correctness only (who received what, what was written, what the plots are), never a timing:
our server, the Node.js peer (when node and npm are installed), the broadcaster peer and the floor.
The figures' arithmetic (median, min, max over runs) and the floor's sender are checked on their own.
"""

from __future__ import annotations

import json
import os
import shutil
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
    systems = fanout["systems"]
    node_present = shutil.which("node") is not None and shutil.which("npm") is not None
    expected = ["clinic-server", *(["Node.js peer"] if node_present else []), "broadcaster peer", "floor"]
    assert fanout["order"] == expected and list(systems) == expected
    if not node_present:
        assert "node_peer" in result and "not found" in result["node_peer"]["skipped"]
    for name, system in systems.items():
        run = system["runs"][0]
        # Every client got every change (every frame, for the floor) exactly once.
        assert run["events_written"] > 0, name
        assert run["clients"] == 20 and run["clients_disconnected"] == 0, name
        assert run["lost_total"] == 0 and run["duplicated_total"] == 0 and run["unexpected_total"] == 0, name
        assert run["deliveries"] == 20 * run["events_written"], name
        for client in system["per_client_last_run"]:
            assert client["received"] == run["events_written"], (name, client)
        assert system["median"]["p99_ms"]["runs"] == 1
    assert {c["role"] for c in systems["clinic-server"]["per_client_last_run"]} == {"admin", "dentist", "patient"}
    assert systems["floor"]["median"]["send_p50_us"]["median"] > 0

    rated = [step["system"] for step in result["rates"]]
    assert set(result["rates_held"]) == set(rated)
    assert rated == ["clinic-server", *(["Node.js peer"] if node_present else [])]
    for step in result["rates"]:
        assert step["lost_total"] == 0 and step["duplicated_total"] == 0 and step["events_written"] > 0
        assert step["deliveries"] == 20 * step["events_written"]

    assert [(row["clients"], row["server_workers"]) for row in result["workers"]] == [(20, 1), (20, 2)]
    for row in result["workers"]:
        run = row["runs"][0]
        assert run["lost_total"] == 0 and run["duplicated_total"] == 0
        assert run["deliveries"] == 20 * run["events_written"] > 0

    idle = result["idle"]
    assert idle[-1]["connections"] == 200 and idle[-1]["rss_mib"] > idle[0]["rss_mib"]

    bookings = result["bookings"]
    assert bookings["ok"] > 0 and bookings["failed"] == 0, bookings["fail_reasons"]

    for key, tab in (("store", "calendar"), ("store_week", "week")):
        assert result[key]["tab"] == tab
        assert result[key]["events_applied"] == result[key]["events_fed"] > 0

    for plot in result["plots"]:
        assert Path(plot).stat().st_size > 0
    assert len(result["plots"]) == 5
    assert "latency p50 / p90 / p99 / max (ms)" in proc.stdout


def test_each_figure_is_the_median_of_the_runs_with_min_and_max() -> None:
    """Three runs give each metric's median, min and max; loss counts add up; a missing figure is left out."""
    from server.bench.stats import comparison_table, summarise

    runs = [{"p99_ms": 30.0, "p50_ms": 5.0, "lost_total": 0, "duplicated_total": 1},
            {"p99_ms": 10.0, "p50_ms": 4.0, "lost_total": 2, "duplicated_total": 0},
            {"p99_ms": 20.0, "p50_ms": float("nan"), "lost_total": 0, "duplicated_total": 0}]
    summary = summarise(runs)
    assert summary["p99_ms"] == {"median": 20.0, "min": 10.0, "max": 30.0, "runs": 3}
    assert summary["p50_ms"] == {"median": 4.5, "min": 4.0, "max": 5.0, "runs": 2}
    assert "send_p50_us" not in summary
    assert (summary["lost_total"], summary["duplicated_total"]) == (2, 1)
    floor = summarise([{"p99_ms": 2.0}, {"p99_ms": 4.0}, {"p99_ms": 5.0}])
    rows = dict(comparison_table({"ours": summary, "floor": floor}))
    assert "p99 20.0 (10.0-30.0)" in rows["ours"] and "5.0x the floor's p99" in rows["ours"]


def test_the_floor_sends_one_frame_per_socket_per_fan_out() -> None:
    """Each fan-out writes the same sync.event frame to every socket; each reader gets every seq once, in order."""
    import json
    import socket

    from server.bench.floor import fan_out

    pairs = [socket.socketpair() for _ in range(5)]
    try:
        result = fan_out([a for a, _ in pairs], per_minute=6_000, seconds=0.1, payload_bytes=300)
        assert result["fan_outs"] >= 2 and result["clients"] == 5
        frames = result["frame_bytes"]
        for _, reader in pairs:
            reader.settimeout(2)
            data = b""
            while len(data) < frames * result["fan_outs"]:
                data += reader.recv(1 << 16)
            seqs = []
            for n in range(result["fan_outs"]):
                frame = data[n * frames:(n + 1) * frames]
                assert frame[0] == 0x81  # one final text frame, unmasked
                message = json.loads(frame[4:])
                assert message["method"] == "sync.event" and abs(len(frame[4:]) - 300) <= 2
                seqs.append(message["params"]["seq"])
            assert seqs == list(range(1, result["fan_outs"] + 1))
    finally:
        for a, b in pairs:
            a.close()
            b.close()
