"""Broken links: the relay's LISTEN connection killed again and again, and a network stall that freezes traffic."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import asyncpg

from clinic_desktop.sync.connection_state import ConnectionState
from tests.faults.clinic import (
    Writer,
    booking_plan,
    db_feed,
    snapshot_of,
    start_clients,
    stop_clients,
    store_appointments,
    wait_for,
)
from tests.faults.counters import FAULTS
from tests.helpers import RpcClient


def _clients(http_url: str) -> int:
    with urllib.request.urlopen(http_url + "/healthz", timeout=5) as resp:
        return json.loads(resp.read())["clients"]


async def _listen_pids(database_url: str) -> set[int]:
    """The pids of the relay's LISTEN backends."""
    conn = await asyncpg.connect(database_url)
    try:
        return {r[0] for r in await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'clinic-relay-listen'")}
    finally:
        await conn.close()


async def _kill(database_url: str, pid: int) -> bool:
    conn = await asyncpg.connect(database_url)
    try:
        return bool(await conn.fetchval("SELECT pg_terminate_backend($1)", pid))
    finally:
        await conn.close()


async def test_listen_connection_killed_repeatedly_loses_nothing(make_server, database_url):
    """Terminating the relay's LISTEN backend six times under bookings (no backstop poll to hide it): every change arrives once."""
    srv = make_server({"CLINIC_POLL_SECONDS": "3600"})  # only LISTEN (and its health check) can wake the relay
    plan = await booking_plan(srv.ws_url, 36)
    async with RpcClient(srv.ws_url) as desk:
        await desk.login("frontdesk")
        first = (await desk.subscribe(None))["seq"]
        writer = Writer(srv.ws_url, plan, pause=0.05)
        task = asyncio.create_task(writer.run())
        killed: set[int] = set()

        async def fresh_listen() -> set[int]:
            return await _listen_pids(database_url) - killed

        for round_ in range(6):
            await wait_for(lambda: len(writer.acked) >= 6 * round_ + 3, 60, "bookings between kills")
            await wait_for(fresh_listen, 60, "the relay to re-open LISTEN")
            pid = min(await fresh_listen())
            assert await _kill(database_url, pid)
            killed.add(pid)
        killed = len(killed)
        FAULTS.add(faults_injected=killed)
        assert killed == 6, "the relay's LISTEN connection was not found to kill"
        await wait_for(lambda: len(writer.acked) == len(plan), 120, "all bookings")
        await task
        seqs, _ = await db_feed(database_url)
        expected = [s for s in seqs if s > first]
        got: list[int] = []
        while len(got) < len(expected):
            got.append((await desk.next_event(timeout=30))["seq"])
    lost = len(set(expected) - set(got))
    duplicated = len(got) - len(set(got))
    FAULTS.add(events_checked=len(got), lost=lost, duplicated=duplicated)
    assert got == expected
    await wait_for(lambda: _listen_pids(database_url), 60, "the relay to re-open LISTEN")
    assert srv.log_text().count("relay LISTEN connection lost; re-opening") >= 6


async def test_network_stall_is_detected_on_both_sides_and_recovered(make_server, database_url):
    """A proxy freezes one desktop's traffic: its watchdog drops the link, the server's pings drop it too, and it catches up after."""
    srv = make_server({"CLINIC_PING_SECONDS": "2"})
    plan = await booking_plan(srv.ws_url, 20)
    clinics = await start_clients(srv, ["frontdesk", "drsmith"], heartbeat_timeout=4)
    stalled, steady = clinics
    states: list[ConnectionState] = []
    stalled.client.on_state(states.append)
    try:
        async with RpcClient(srv.ws_url) as watcher:
            await watcher.login("frontdesk")
            await watcher.subscribe(None)
            baseline = await asyncio.to_thread(_clients, srv.http_url)
            stalled.proxy.stall()
            FAULTS.add(faults_injected=1)
            writer = Writer(srv.ws_url, plan)
            task = asyncio.create_task(writer.run())
            # The desktop notices the silence (no heartbeat) and shows "reconnecting".
            await wait_for(lambda: ConnectionState.RECONNECTING in states, 60, "the client watchdog to drop the link")
            # The server notices too (pings unanswered) and lets the connection go, though TCP never closed.

            async def server_dropped() -> bool:
                return await asyncio.to_thread(_clients, srv.http_url) < baseline

            await wait_for(server_dropped, 60, "the server to drop the stalled connection")
            # Meanwhile everybody else keeps getting changes live.
            await wait_for(lambda: len(writer.acked) >= 5, 60, "bookings during the stall")
            assert steady.client.connected
            await watcher.next_event(timeout=30)
            assert not stalled.client.connected
            stalled.proxy.resume()
            await wait_for(lambda: len(writer.acked) == len(plan), 120, "all bookings")
            await task

            async def converged() -> bool:
                if not all(c.client.connected for c in clinics):
                    return False
                truth = {n: await snapshot_of(srv.ws_url, n) for n in ("frontdesk", "drsmith")}
                return all(store_appointments(c.store) == truth[c.username] for c in clinics)

            await wait_for(converged, 120, "both desktops to match the database")
        seqs, db_rows = await db_feed(database_url)
        delivered = stalled.store.delivered
        lost = len([s for s in seqs if s > stalled.first_seq and s not in set(delivered)])
        duplicated = len(delivered) - len(set(delivered))
        FAULTS.add(events_checked=len(delivered) + len(steady.store.delivered), lost=lost, duplicated=duplicated)
        assert lost == 0 and duplicated == 0
        assert store_appointments(stalled.store) == db_rows
    finally:
        await stop_clients(clinics)
