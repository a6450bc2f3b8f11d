"""Scale-out: two `clinic-server` instances on one database behind the shipped nginx config, on loopback."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from tests.helpers import RpcClient
from tests.packaging.nginx_process import UPSTREAM_HEADER, NginxProcess, nginx_binary
from tests.server_process import ServerProcess

# A dev machine without nginx skips this; CI installs nginx (.ci/run), so there a missing nginx fails.
pytestmark = pytest.mark.skipif(nginx_binary() is None and os.environ.get("CI") != "true",
                                reason="nginx is not installed (.ci/run installs it)")

LONDON = ZoneInfo("Europe/London")
# The patient books more than the online cap on upcoming appointments allows (it is about instances, not hoarding).
SHARED = {"CLINIC_SECRET": "one-secret-for-every-instance", "CLINIC_WRITES_PER_MINUTE": "100000",
          "CLINIC_MAX_FUTURE_BOOKINGS": "1000"}


def _weekday_ahead(days: int) -> str:
    d = datetime.now(LONDON).date() + timedelta(days=days)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d.isoformat()


def _answered_by(client: RpcClient) -> str:
    """The instance that took the WebSocket: the last address nginx tried (it lists every one it tried)."""
    return client.ws.response.headers.get(UPSTREAM_HEADER, "").split(", ")[-1]


async def _connect_to(lb: NginxProcess, backend: ServerProcess, spares: list[RpcClient]) -> RpcClient:
    """A client through the balancer that landed on `backend` (the balancer says which one answered)."""
    for _ in range(6):
        client = await RpcClient(lb.ws_url).__aenter__()
        if _answered_by(client) == f"127.0.0.1:{backend.port}":
            return client
        spares.append(client)  # keep it open: least_conn then sends the next one to the other instance
    raise AssertionError(f"the balancer never sent a client to {backend}")


async def _book(client: RpcClient, days: int, patient_id: int | None = None) -> dict:
    day = _weekday_ahead(days)
    slot = (await client.call("slots.find", type_id=1, dentist_id=1, **{"from": day, "to": day}))[0]
    params = {"patient_id": patient_id} if patient_id is not None else {}
    return await client.call("appointments.create", dentist_id=1, type_id=1, start=slot["start"], **params)


async def _event_for(client: RpcClient, appointment_id: int) -> dict:
    return (await client.events_until(lambda e: e["entity"] == "appointment" and e["id"] == appointment_id,
                                      timeout=15))[-1]


async def test_two_instances_behind_nginx_share_changes_and_a_client_resumes_on_the_survivor(
        database_url: str, work_dir: Path) -> None:
    """Clients on either instance see each other's bookings; when one instance dies its client resumes on the other, nothing lost or repeated."""
    one = ServerProcess(database_url, work_dir / "one", work_dir / "one.log", extra_env=SHARED)
    two = ServerProcess(database_url, work_dir / "two", work_dir / "two.log", extra_env=SHARED)
    lb = NginxProcess([one.port, two.port], work_dir / "nginx")
    spares: list[RpcClient] = []
    one.start()
    two.start()
    lb.start()
    try:
        status, upstream = lb.get("/healthz")
        assert status == 200 and upstream in {f"127.0.0.1:{one.port}", f"127.0.0.1:{two.port}"}

        desk = await _connect_to(lb, one, spares)   # the front desk, on instance one
        alice = await _connect_to(lb, two, spares)  # a patient, on instance two
        spares += [desk, alice]
        await desk.login("frontdesk")
        await alice.login("alice")
        desk_seq = (await desk.subscribe(None))["seq"]
        await alice.subscribe(None)

        # A booking through instance one reaches the patient on instance two, and the other way round.
        for_alice = await _book(desk, 8, patient_id=1)
        event = await _event_for(alice, for_alice["id"])
        assert event["data"]["patient_name"] == "Alice Brown" and event["data"]["start"] == for_alice["start"]
        desk_event = await _event_for(desk, for_alice["id"])
        by_alice = await _book(alice, 9)
        event = await _event_for(desk, by_alice["id"])
        assert event["data"]["source"] == "patient" and event["data"]["patient_name"] == "Alice Brown"
        desk_seq = event["seq"]
        assert desk_event["seq"] < desk_seq
        token = desk.access_token

        # Instance one crashes. The front desk's link drops; meanwhile the patient keeps booking on two.
        one.kill()
        await desk.wait_closed(15)
        while_away = [await _book(alice, 10 + i) for i in range(3)]
        cancelled = await alice.call("appointments.cancel", id=by_alice["id"], reason="changed my mind")

        # The front desk reconnects to the same address: the balancer passes it to instance two, where
        # it resumes from its last seq and gets exactly what it missed, in order, once.
        back = await RpcClient(lb.ws_url).__aenter__()
        spares.append(back)
        assert _answered_by(back) == f"127.0.0.1:{two.port}"
        await back.call("auth.resume", access_token=token)
        resumed = await back.subscribe(desk_seq)
        conn = await asyncpg.connect(database_url)
        try:
            missed = [r["seq"] for r in await conn.fetch("SELECT seq FROM change_log WHERE seq > $1 ORDER BY seq",
                                                         desk_seq)]
        finally:
            await conn.close()
        assert resumed["replayed"] == len(missed) >= 4
        replayed = [await back.next_event() for _ in missed]
        assert [e["seq"] for e in replayed] == missed
        appointments = {e["id"]: e["data"] for e in replayed if e["entity"] == "appointment"}
        assert {a["id"] for a in while_away} <= set(appointments)
        assert appointments[by_alice["id"]]["status"] == "cancelled"
        assert appointments[by_alice["id"]]["version"] == cancelled["version"]
        # Live again on instance two: the very next event is the patient's next booking (nothing repeated).
        later = await _book(alice, 14)
        live = await back.next_event(timeout=15)
        assert live["id"] == later["id"] and live["seq"] > missed[-1]
    finally:
        for client in spares:
            await client.close()
        lb.stop()
        one.stop()
        two.stop()
