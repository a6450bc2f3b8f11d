"""The server's HTTP side (/healthz, /metrics) and `--demo` on its own embedded database."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.server_process import REPO_ROOT, ServerProcess, free_port
from helpers import RpcClient, make_world_reachable


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


async def test_healthz_and_metrics_report_clients_relay_and_latency(server: ServerProcess) -> None:
    """/healthz answers JSON with the relay position and clients; /metrics counts relayed events and RPC errors."""
    async with RpcClient(server.ws_url) as desk:
        await desk.login("frontdesk")
        await desk.subscribe(None)
        status, ctype, body = _get(server.http_url + "/healthz")
        health = json.loads(body)
        assert status == 200 and ctype == "application/json"
        assert health["status"] == "ok" and health["database"] == "ok" and health["clients"] == 1
        before = health["relay_position"]
        await desk.call("appointments.update", id=1, version=1, notes="metrics")
        await desk.next_event()
        with pytest.raises(Exception):
            await desk.call("appointments.cancel", id=999999)
        assert json.loads(_get(server.http_url + "/healthz")[2])["relay_position"] > before
    status, ctype, text = _get(server.http_url + "/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    relayed = [line for line in text.splitlines() if line.startswith("clinic_events_relayed_total ")]
    assert relayed and float(relayed[0].split()[1]) >= 1
    assert 'clinic_rpc_errors_total{method="appointments.cancel",reason="not_found"} 1.0' in text
    assert "clinic_commit_to_send_seconds_bucket" in text
    assert _get(server.http_url + "/nothing-here")[0] == 404


async def test_demo_mode_seeds_once_and_keeps_bookings_across_restarts() -> None:
    """`clinic-server --demo` seeds an empty embedded database, and a restart keeps what was booked."""
    # Outside pytest's basetemp (other pytest runs reset it to 0700), reachable by the unprivileged user
    # postgres runs as when we are root; see tests/conftest.py's pg_cluster.
    data_dir = Path(tempfile.mkdtemp(prefix="clinic-demo-")) / "demo-data"
    make_world_reachable(data_dir)
    port = free_port()
    env = dict(os.environ, CLINIC_LOG_LEVEL="WARNING")
    env.pop("CLINIC_DATABASE_URL", None)
    cmd = [sys.executable, "-m", "server", "--demo", "--data-dir", str(data_dir), "--port", str(port)]

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(cmd, cwd=str(REPO_ROOT), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if _get(f"http://127.0.0.1:{port}/healthz")[0] == 200:
                    return proc
            except OSError:
                pass
            time.sleep(0.2)
        proc.kill()
        raise AssertionError("the demo server did not start")

    def stop(proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0

    url = f"ws://127.0.0.1:{port}/ws"
    since = (datetime.now(ZoneInfo("Europe/London")).date() - timedelta(days=30)).isoformat()
    proc = start()
    try:
        async with RpcClient(url) as desk:
            await desk.login("frontdesk")
            seeded = len(await desk.call("appointments.list", **{"from": since}))
        async with RpcClient(url) as alice:
            await alice.login("alice")
            day = datetime.now(ZoneInfo("Europe/London")).date() + timedelta(days=9)
            while day.weekday() >= 5:
                day += timedelta(days=1)
            slot = (await alice.call("slots.find", type_id=1, **{"from": day.isoformat(), "to": day.isoformat()}))[0]
            booked = await alice.call("appointments.create", dentist_id=slot["dentist_id"], type_id=1, start=slot["start"])
    finally:
        stop(proc)
    assert (data_dir / "secret.key").stat().st_mode & 0o777 == 0o600
    proc = start()
    try:
        async with RpcClient(url) as desk:
            await desk.login("frontdesk")
            appts = await desk.call("appointments.list", **{"from": since})
            assert booked["id"] in {a["id"] for a in appts}
            assert len(appts) == seeded + 1  # the demo (its working fortnight too), seeded once, plus Alice's booking
    finally:
        stop(proc)
        shutil.rmtree(data_dir.parent, ignore_errors=True)
