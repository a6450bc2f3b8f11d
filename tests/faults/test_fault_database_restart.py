"""PostgreSQL stopped and restarted under load: clear errors while it is down, nothing half-written, the feed catches up."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import asyncpg

from server.db.embedded import EmbeddedPostgres
from tests.faults.clinic import (
    Writer,
    booking_plan,
    db_feed,
    snapshot_of,
    start_clients,
    stop_clients,
    store_appointments,
    tally_deliveries,
    wait_for,
)
from tests.faults.counters import FAULTS
from tests.helpers import RpcClient, make_world_reachable


def _health(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def test_database_stop_and_restart_under_load(make_server):
    """While PostgreSQL is down writes fail with `internal` (database unreachable), /healthz says 503; afterwards all is consistent."""
    pg_dir = Path(tempfile.mkdtemp(prefix="clinic-fault-pg-"))
    make_world_reachable(pg_dir)
    embedded = EmbeddedPostgres(pg_dir)
    location = await asyncio.to_thread(embedded.start)
    clinics = []
    task = None
    try:
        srv = make_server({"CLINIC_DEMO": "1"}, url=location.url)
        plan = await booking_plan(srv.ws_url, 40)
        clinics = await start_clients(srv, ["frontdesk", "frontdesk", "drsmith", "alice"])
        writer = Writer(srv.ws_url, plan)
        task = asyncio.create_task(writer.run())
        await wait_for(lambda: len(writer.acked) >= 10, 120, "bookings before the database stops")

        await asyncio.to_thread(embedded.stop)
        FAULTS.add(faults_injected=1)
        await wait_for(lambda: writer.errors["internal"] >= 3, 60, "writes to fail while the database is down")
        status, body = await asyncio.to_thread(_health, srv.http_url)
        assert status == 503 and body["database"] == "unreachable"
        # A person trying to book is told, in words, that the database is unreachable and nothing changed.
        async with RpcClient(srv.ws_url) as probe:
            try:
                await probe.login("frontdesk")
                raise AssertionError("signed in while the database was down")
            except Exception as exc:
                assert getattr(exc, "reason", None) == "internal", exc
                assert "not reachable" in str(exc) and "nothing was changed" in str(exc)
        acked_while_down = len(writer.acked)
        await asyncio.sleep(2)
        assert len(writer.acked) == acked_while_down, "a booking was confirmed while the database was down"
        assert all(c.client.connected for c in clinics), "heartbeats stopped while only the database was down"

        location2 = await asyncio.to_thread(embedded.start)
        assert location2.url == location.url
        await wait_for(lambda: len(writer.acked) == len(plan), 180, "the writer to finish after the restart")
        writer.stop.set()
        await task

        async def converged() -> bool:
            truth = {n: await snapshot_of(srv.ws_url, n) for n in {c.username for c in clinics}}
            return all(store_appointments(c.store) == truth[c.username] for c in clinics)

        await wait_for(converged, 120, "every client to match the database")
        seqs, db_rows = await db_feed(location.url)
        conn = await asyncpg.connect(location.url)
        try:
            # Nothing half-written: every appointment's current version is in the change feed, and vice versa.
            unlogged = await conn.fetchval(
                "SELECT count(*) FROM appointments a WHERE NOT EXISTS (SELECT 1 FROM change_log c WHERE c.entity = 'appointment'"
                " AND c.entity_id = a.id AND (c.data->>'version')::int = a.version)")
            orphans = await conn.fetchval(
                "SELECT count(*) FROM change_log c WHERE c.entity = 'appointment' AND NOT EXISTS"
                " (SELECT 1 FROM appointments a WHERE a.id = c.entity_id)")
            keyed = await conn.fetchval("SELECT count(*) FROM appointments WHERE idempotency_key LIKE '%:fault-%'")
        finally:
            await conn.close()
        assert unlogged == 0 and orphans == 0
        assert keyed == len(plan), "a retried booking landed twice or not at all"
        acked_ids = {a["id"] for a in writer.acked.values()}
        checked, lost, duplicated = tally_deliveries(clinics, seqs, acked_ids, db_rows)
        FAULTS.add(events_checked=checked, lost=lost, duplicated=duplicated)
        assert lost == 0 and duplicated == 0
        assert "Traceback" not in srv.log_text()
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await stop_clients(clinics)
        for proc in ():
            pass
        await asyncio.to_thread(embedded.stop)
        shutil.rmtree(pg_dir, ignore_errors=True)
