"""Writers meeting on locks: no deadlock between a cancel and an update, no hang behind an idle outside session."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from server.protocol import RpcError
from tests.faults.clinic import free_starts
from tests.helpers import RpcClient
from tests.server_process import ServerProcess

FEED_LOCK = 724242  # the change feed's advisory lock (migrations 0001 and 0002)


@pytest.fixture
def patient_server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server whose lock waits outlast the test's choreography (a slow machine must not end them early)."""
    proc = ServerProcess(database_url, tmp_path / "data", tmp_path / "server.log",
                         extra_env={"CLINIC_LOCK_TIMEOUT_MS": "60000"})
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


async def _waiting_for_feed_lock(conn: asyncpg.Connection, count: int) -> None:
    """Return once `count` backends of this database wait for the feed lock (no time limit of its own)."""
    while await conn.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = $1 "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())", FEED_LOCK) < count:
        await asyncio.sleep(0.02)


async def _outcome(call) -> str:
    try:
        await call
        return "ok"
    except RpcError as exc:
        return str(exc.reason)


async def test_cancel_and_update_of_one_appointment_never_deadlock(patient_server, database_url):
    """An update queued on the feed lock and a cancel of the same appointment behind it: both answer
    (update applied, then the cancel on the newer row), no internal error, and the feed carries both."""
    server = patient_server
    async with RpcClient(server.ws_url) as desk, RpcClient(server.ws_url) as other, \
            RpcClient(server.ws_url) as watcher:
        for c in (desk, other, watcher):
            await c.login("frontdesk")
        start = (await free_starts(desk, dentist_id=1, patient_id=2))[0]
        appt = await desk.call("appointments.create", dentist_id=1, type_id=1, start=start, patient_id=2)
        await watcher.subscribe()
        outside = await asyncpg.connect(database_url)
        try:
            holder = outside.transaction()
            await holder.start()
            await outside.execute("SELECT pg_advisory_xact_lock($1)", FEED_LOCK)
            looker = await asyncpg.connect(database_url)
            try:
                update = asyncio.ensure_future(_outcome(desk.call(
                    "appointments.update", id=appt["id"], version=appt["version"], notes="bring x-rays")))
                await _waiting_for_feed_lock(looker, 1)
                cancel = asyncio.ensure_future(_outcome(other.call("appointments.cancel", id=appt["id"],
                                                                   reason="patient called")))
                await _waiting_for_feed_lock(looker, 2)
            finally:
                await looker.close()
            await holder.rollback()
            outcomes = (await update, await cancel)
        finally:
            await outside.close()
        assert outcomes == ("ok", "ok"), outcomes

        events = await watcher.events_until(
            lambda e: e["entity"] == "appointment" and e["id"] == appt["id"] and e["data"]["status"] == "cancelled")
        mine = [e["data"] for e in events if e["entity"] == "appointment" and e["id"] == appt["id"]]
        assert [(d["notes"], d["status"]) for d in mine][-2:] == [("bring x-rays", "scheduled"),
                                                                  ("bring x-rays", "cancelled")], mine
        final = next(a for a in await desk.call("appointments.list") if a["id"] == appt["id"])
        assert final["status"] == "cancelled" and final["notes"] == "bring x-rays"
        assert final["version"] == mine[-1]["version"]


async def test_an_idle_outside_session_holding_the_feed_lock_gets_a_clear_retryable_error(server, database_url):
    """An outside session that ran a zero-row DELETE on a synced table and sits idle: a booking answers
    rate_limited with retry_after (no hang, not internal), and succeeds once that session is gone."""
    async with RpcClient(server.ws_url) as alice:
        await alice.login("alice")
        start = (await free_starts(alice, dentist_id=2, patient_id=1))[0]
        outside = await asyncpg.connect(database_url)
        try:
            idle = outside.transaction()
            await idle.start()
            await outside.execute("DELETE FROM appointments WHERE false")
            with pytest.raises(RpcError) as caught:
                await alice.call("appointments.create", dentist_id=2, type_id=1, start=start)
            assert caught.value.reason == "rate_limited", caught.value.message
            assert caught.value.extra.get("retry_after", 0) > 0
            await idle.rollback()
        finally:
            await outside.close()
        booked = await alice.call("appointments.create", dentist_id=2, type_id=1, start=start)
        assert booked["status"] == "scheduled"
