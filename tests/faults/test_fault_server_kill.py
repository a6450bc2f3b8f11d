"""The server is killed (SIGKILL) under a steady stream of bookings and restarted: clients recover it all."""

from __future__ import annotations

import asyncio
import time

from tests.faults.clinic import (
    Writer,
    booking_plan,
    db_feed,
    max_attempts,
    snapshot_of,
    start_clients,
    stop_clients,
    store_appointments,
    tally_deliveries,
    wait_for,
)
from tests.faults.counters import FAULTS

CLIENTS = ["frontdesk", "frontdesk", "frontdesk", "drsmith", "drsmith", "drpatel", "drpatel",
           "alice", "alice", "bob", "bob"]


async def _converged(clinics, url: str) -> bool:
    """Every client is connected and shows exactly what a fresh sign-in of its user is given."""
    if not all(c.client.connected for c in clinics):
        return False
    truth = {}
    for name in sorted({c.username for c in clinics}):
        truth[name] = await snapshot_of(url, name)
    return all(store_appointments(c.store) == truth[c.username] for c in clinics)


async def test_sigkill_under_bookings_every_client_recovers_exactly(make_server, database_url):
    """SIGKILL mid-stream, restart: clients reconnect within the backoff schedule, resume by seq, lose and repeat nothing."""
    srv = make_server()
    plan = await booking_plan(srv.ws_url, 70)
    clinics = await start_clients(srv, CLIENTS)
    writer = Writer(srv.ws_url, plan)
    task = asyncio.create_task(writer.run())
    try:
        kills = []
        for round_ in range(2):
            await wait_for(lambda: len(writer.acked) >= 15 * (round_ + 1), 120, "bookings before the kill")
            killed_at = time.monotonic()
            srv.kill()
            FAULTS.add(faults_injected=1)
            await asyncio.sleep(5)  # the clinic's server is gone for a while
            await asyncio.to_thread(srv.start)
            back_at = time.monotonic()
            kills.append((killed_at, back_at))
            await wait_for(lambda: all(c.client.connected for c in clinics), 120, "every client to reconnect")
        await wait_for(lambda: len(writer.acked) == len(plan), 180, "the writer to finish its bookings")
        writer.stop.set()
        await task

        # No reconnect storm: no client tried more often than its jittered backoff allows.
        for killed_at, back_at in kills:
            allowed = max_attempts(back_at - killed_at)
            for c in clinics:
                tried = c.proxy.attempts_between(killed_at, back_at)
                assert 1 <= tried <= allowed, f"{c.username}: {tried} attempts in {back_at - killed_at:.1f} s (allowed {allowed})"

        await wait_for(lambda: _converged(clinics, srv.ws_url), 120, "every client to match the database")

        seqs, db_rows = await db_feed(database_url)
        # Every booking the front desk was told about is in the database, once, and on every admin screen.
        acked_ids = [a["id"] for a in writer.acked.values()]
        assert len(set(acked_ids)) == len(plan)
        assert set(acked_ids) <= set(db_rows)
        # The front desk may see everything: every change after its first snapshot must have arrived.
        checked, lost, duplicated = tally_deliveries(clinics, seqs, set(acked_ids), db_rows)
        for c in clinics:
            assert c.client.connects >= 3, f"{c.username} did not reconnect after each kill"
        FAULTS.add(events_checked=checked, lost=lost, duplicated=duplicated)
        assert lost == 0 and duplicated == 0
        assert "Traceback" not in srv.log_text()
    finally:
        writer.stop.set()
        await asyncio.gather(task, return_exceptions=True)
        await stop_clients(clinics)
