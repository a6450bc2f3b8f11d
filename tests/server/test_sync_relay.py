"""The change feed end to end: fan-out by role, resume without gaps, relay faults, two instances."""

from __future__ import annotations

import asyncio
import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from helpers import RpcClient
from tests.server_process import ServerProcess

LONDON = ZoneInfo("Europe/London")
PRIVATE_KEYS = {"patient_id", "patient_name", "notes", "type_id", "cancel_reason", "source"}


@pytest.fixture
def server(database_url: str, tmp_path):
    """A server whose write rate limit is out of the way: these tests make hundreds of changes."""
    proc = ServerProcess(database_url, tmp_path / "data", tmp_path / "server.log",
                         extra_env={"CLINIC_WRITES_PER_MINUTE": "1000000"})
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def _weekday_ahead(days: int) -> date:
    d = datetime.now(LONDON).date() + timedelta(days=days)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


class Store:
    """The smallest faithful client store: entities by kind and id, newer versions win."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, int], dict] = {}
        self.seq = 0
        self.seen_seqs: list[int] = []

    def load(self, snapshot: dict, seq: int) -> None:
        self.rows = {(kind, row["id"]): row for kind, rows in snapshot.items() for row in rows}
        self.seq = seq

    def apply(self, event: dict) -> None:
        self.seen_seqs.append(event["seq"])
        key = (event["entity"], event["id"])
        if event["op"] == "delete":
            self.rows.pop(key, None)
        else:
            old = self.rows.get(key)
            if old is None or old["version"] <= event["data"]["version"]:
                self.rows[key] = event["data"]
        self.seq = event["seq"]


async def _book_slot(client: RpcClient, type_id: int = 1, days: int = 8) -> dict:
    day = _weekday_ahead(days).isoformat()
    slots = await client.call("slots.find", type_id=type_id, **{"from": day, "to": day})
    slot = slots[0]
    return await client.call("appointments.create", dentist_id=slot["dentist_id"], type_id=type_id, start=slot["start"])


async def test_patient_booking_reaches_front_desk_dentist_and_busy_block(server: ServerProcess) -> None:
    """A patient's booking arrives in full at the front desk and the dentist, and as a bare busy block at another patient."""
    async with RpcClient(server.ws_url) as alice, RpcClient(server.ws_url) as desk, \
            RpcClient(server.ws_url) as smith, RpcClient(server.ws_url) as patel, RpcClient(server.ws_url) as bob:
        for c, name in ((alice, "alice"), (desk, "frontdesk"), (smith, "drsmith"), (patel, "drpatel"), (bob, "bob")):
            await c.login(name)
            await c.subscribe(None)
        day = _weekday_ahead(8).isoformat()
        slots = await alice.call("slots.find", type_id=1, dentist_id=1, **{"from": day, "to": day})
        booked = await alice.call("appointments.create", dentist_id=1, type_id=1, start=slots[0]["start"])
        assert booked["source"] == "patient" and booked["patient_name"] == "Alice Brown"

        async def event_for(c: RpcClient) -> dict:
            events = await c.events_until(lambda e: e["entity"] == "appointment" and e["id"] == booked["id"])
            return events[-1]

        desk_ev, smith_ev, patel_ev, bob_ev = await asyncio.gather(event_for(desk), event_for(smith), event_for(patel), event_for(bob))
        assert desk_ev["data"]["patient_name"] == "Alice Brown"
        assert smith_ev["data"]["patient_name"] == "Alice Brown"  # Dr Smith's own appointment: in full
        for ev in (patel_ev, bob_ev):
            assert ev["data"]["status"] == "busy"
            assert not (PRIVATE_KEYS & set(ev["data"])), ev["data"]
            assert ev["data"]["start"] == booked["start"] and ev["data"]["dentist_id"] == 1
        assert desk_ev["seq"] == bob_ev["seq"]
        # Bob's slot list no longer offers it.
        bob_slots = await bob.call("slots.find", type_id=1, dentist_id=1, **{"from": day, "to": day})
        assert slots[0]["start"] not in {s["start"] for s in bob_slots}
        # Cancelling makes the busy block disappear for others.
        await alice.call("appointments.cancel", id=booked["id"], reason="test")
        bob_cancel = (await bob.events_until(lambda e: e["id"] == booked["id"]))[-1]
        assert bob_cancel["op"] == "delete"


async def test_random_disconnects_resume_without_gap_or_duplicate(server: ServerProcess) -> None:
    """A client dropped at random while 500 changes happen ends equal to a fresh snapshot, each seq once."""
    rng = random.Random(7)
    store = Store()
    stop = asyncio.Event()

    async def writer() -> int:
        changes = 0
        async with RpcClient(server.ws_url) as desk:
            await desk.login("frontdesk")
            day0 = _weekday_ahead(3)
            created: list[dict] = []
            i = 0
            while changes < 500:
                day = day0 + timedelta(days=7 * (i // 40))
                start = datetime.combine(day, datetime.min.time(), LONDON).replace(hour=9) + timedelta(minutes=30 * (i % 6))
                dentist = 1 + (i // 6) % 2
                patient = 1 + (i // 12) % 2
                i += 1
                try:
                    appt = await desk.call("appointments.create", dentist_id=dentist, type_id=1, patient_id=patient,
                                           start=start.isoformat())
                except Exception:
                    continue
                changes += 1
                created.append(appt)
                if created and rng.random() < 0.5:
                    target = created.pop(rng.randrange(len(created)))
                    await desk.call("appointments.update", id=target["id"], version=target["version"], notes=f"n{i}")
                    changes += 1
        stop.set()
        return changes

    async def flaky_reader() -> int:
        reconnects = 0
        while True:
            async with RpcClient(server.ws_url) as c:
                await c.login("drsmith")
                result = await c.subscribe(None if store.seq == 0 else store.seq)
                if "snapshot" in result:
                    store.load(result["snapshot"], result["seq"])
                deadline = asyncio.get_running_loop().time() + rng.uniform(0.05, 0.6)
                while asyncio.get_running_loop().time() < deadline:
                    try:
                        store.apply(await c.next_event(timeout=0.1))
                    except asyncio.TimeoutError:
                        if stop.is_set():
                            break
                if stop.is_set():
                    # Drain everything up to the end of the feed, then stop.
                    final = await _max_seq(server.database_url)
                    while store.seq < final:
                        try:
                            store.apply(await c.next_event(timeout=3))
                        except asyncio.TimeoutError:
                            break
                    if store.seq >= final:
                        return reconnects
                reconnects += 1

    changes, reconnects = await asyncio.gather(writer(), flaky_reader())
    assert changes >= 500
    assert reconnects >= 3
    assert len(store.seen_seqs) == len(set(store.seen_seqs)), "a seq was delivered twice"
    expected = await _relevant_seqs(server.database_url, after=min(store.seen_seqs) - 1)
    assert sorted(store.seen_seqs) == expected, "a seq was skipped"
    async with RpcClient(server.ws_url) as fresh:
        await fresh.login("drsmith")
        snap = (await fresh.subscribe(None))["snapshot"]
    fresh_store = Store()
    fresh_store.load(snap, 0)
    assert store.rows == fresh_store.rows


async def _max_seq(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT coalesce(max(seq), 0) FROM change_log")
    finally:
        await conn.close()


async def _relevant_seqs(url: str, after: int) -> list[int]:
    """Every seq a dentist sees (all but other patients' records) after `after`."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT seq FROM change_log WHERE seq > $1 AND entity <> 'patient' ORDER BY seq", after)
        return [r["seq"] for r in rows]
    finally:
        await conn.close()


async def test_listen_connection_killed_loses_nothing(server: ServerProcess) -> None:
    """Terminating the relay's LISTEN backend mid-stream loses no event, and delivery goes on (re-opened, caught up).

    No timing threshold here (shared, noisy machines): the 1 s backstop poll bounds the delay by design,
    and each event must simply arrive.
    """
    async with RpcClient(server.ws_url) as desk, RpcClient(server.ws_url) as watcher:
        await desk.login("frontdesk")
        await watcher.login("frontdesk")
        await watcher.subscribe(None)
        admin = await asyncpg.connect(server.database_url)
        try:
            received: list[int] = []
            for i in range(30):
                if i in (5, 15, 25):
                    killed = await admin.fetchval(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = 'clinic-relay-listen'")
                    assert killed >= 1
                notes = await desk.call("appointments.update", id=1, version=await _version(admin, 1), notes=f"tick {i}")
                ev = (await watcher.events_until(lambda e: e["id"] == 1 and e["data"].get("notes") == f"tick {i}", timeout=10))[-1]
                received.append(ev["seq"])
                assert notes["version"] == ev["data"]["version"]
            assert received == sorted(received) and len(set(received)) == 30
            reopened = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'clinic-relay-listen'")
            assert reopened == 1
        finally:
            await admin.close()


async def _version(conn: asyncpg.Connection, appt_id: int) -> int:
    return await conn.fetchval("SELECT version FROM appointments WHERE id = $1", appt_id)


async def test_two_instances_share_one_feed_and_resume_across(server: ServerProcess, tmp_path) -> None:
    """A write through one instance reaches a client of another; a client resumes on the other with no gap."""
    other = ServerProcess(server.database_url, tmp_path / "data2", tmp_path / "server2.log",
                          extra_env={"CLINIC_SECRET": "shared-secret", "CLINIC_WRITES_PER_MINUTE": "1000000"})
    # Restart the first with the same secret so tokens work on both.
    server.stop()
    server.extra_env["CLINIC_SECRET"] = "shared-secret"
    server.start()
    other.start()
    try:
        async with RpcClient(server.ws_url) as writer_a, RpcClient(other.ws_url) as reader_b:
            await writer_a.login("frontdesk")
            await reader_b.login("frontdesk")
            first = await reader_b.subscribe(None)
            store = Store()
            store.load(first["snapshot"], first["seq"])
            await writer_a.call("appointments.update", id=1, version=1, notes="via A")
            ev = (await reader_b.events_until(lambda e: e["id"] == 1))[-1]
            store.apply(ev)
            assert ev["data"]["notes"] == "via A"
            token = reader_b.access_token
        # Offline while changes happen, then resume on instance A with the token from B.
        async with RpcClient(server.ws_url) as writer_a:
            await writer_a.login("frontdesk")
            for i in range(5):
                cur = await writer_a.call("appointments.list")
                v = next(a for a in cur if a["id"] == 2)["version"]
                await writer_a.call("appointments.update", id=2, version=v, notes=f"offline {i}")
        async with RpcClient(server.ws_url) as resumed:
            await resumed.call("auth.resume", access_token=token)
            result = await resumed.subscribe(store.seq)
            assert result["replayed"] == 5
            for _ in range(5):
                store.apply(await resumed.next_event())
            assert store.rows[("appointment", 2)]["notes"] == "offline 4"
            assert len(store.seen_seqs) == len(set(store.seen_seqs)) == 6
    finally:
        other.stop()


async def test_client_that_never_reads_is_cut_off_and_others_keep_flowing(database_url: str, tmp_path) -> None:
    """A client that never reads is dropped once its bounded send buffer fills; a reading client still gets every event."""
    import json
    import urllib.request

    srv = ServerProcess(database_url, tmp_path / "d", tmp_path / "s.log",
                        extra_env={"CLINIC_SEND_BUFFER_KIB": "64", "CLINIC_WRITES_PER_MINUTE": "1000000"})
    srv.start()

    def clients() -> int:
        return json.loads(urllib.request.urlopen(srv.http_url + "/healthz").read())["clients"]

    import socket

    from websockets.asyncio.client import connect

    # A tiny receive buffer set before connecting, so the kernel cannot soak up the backlog.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", srv.port))
    sock.setblocking(False)
    stuck = RpcClient(srv.ws_url)
    stuck.ws = await connect(srv.ws_url, sock=sock, max_size=None)
    stuck._reader = asyncio.create_task(stuck._read_loop())
    try:
        async with RpcClient(srv.ws_url) as good, RpcClient(srv.ws_url) as desk:
            await stuck.login("frontdesk")
            await stuck.subscribe(None)
            # Never read again: the kernel buffers, then the server's bounded send buffer, fill up.
            reader, stuck._reader = stuck._reader, None
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            stuck.ws.transport.pause_reading()
            await good.login("frontdesk")
            await good.subscribe(None)
            await desk.login("frontdesk")
            assert clients() == 3
            N = 1500  # about 6 MB of events: more than loopback socket buffers hold
            big_note = "x" * 3900  # large events fill socket buffers quickly
            for i in range(N):
                cur = await desk.call("appointments.update", id=3, version=i + 1, notes=f"{big_note}{i % 10}{i}")
                assert cur["version"] == i + 2
            got = 0
            while got < N:
                ev = await good.next_event(timeout=10)
                if ev["id"] == 3:
                    got += 1
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while clients() != 2 and loop.time() < deadline:
                await asyncio.sleep(0.25)
            assert clients() == 2, "the stuck client was not cut off"
            assert (await good.call("directory.get"))["settings"]["timezone"] == "Europe/London"
        assert "Traceback" not in srv.log_text()
    finally:
        stuck.ws.transport.abort()
        srv.stop()


async def test_changes_committed_together_reach_each_viewer_in_their_own_shape(server: ServerProcess) -> None:
    """Several changes in one commit leave the relay as one batch: each viewer still gets every change,
    in seq order, shaped for them (their own appointments in full, others' as busy blocks)."""
    async with RpcClient(server.ws_url) as desk, RpcClient(server.ws_url) as alice, \
            RpcClient(server.ws_url) as smith:
        for client, user in ((desk, "frontdesk"), (alice, "alice"), (smith, "drsmith")):
            await client.login(user)
            await client.subscribe(None)
        conn = await asyncpg.connect(server.database_url)
        try:
            async with conn.transaction():  # one commit, several change_log rows
                await conn.execute("UPDATE appointments SET notes = 'batched ' || id WHERE status = 'scheduled'")
            rows = {r["id"]: dict(r) for r in await conn.fetch(
                "SELECT id, patient_id, dentist_id FROM appointments WHERE status = 'scheduled'")}
            seqs = [r["seq"] for r in await conn.fetch(
                "SELECT seq FROM change_log WHERE entity = 'appointment' ORDER BY seq DESC LIMIT $1", len(rows))]
        finally:
            await conn.close()
        assert len(rows) >= 3
        for client in (desk, alice, smith):
            events = [await client.next_event() for _ in rows]
            assert [e["seq"] for e in events] == sorted(seqs)
            for e in events:
                row = rows[e["id"]]
                own = (client is desk or (client is alice and row["patient_id"] == alice.user["patient_id"])
                       or (client is smith and row["dentist_id"] == smith.user["dentist_id"]))
                if own:
                    assert e["data"]["notes"] == f"batched {e['id']}"
                else:
                    assert e["data"]["busy"] is True and PRIVATE_KEYS.isdisjoint(e["data"])
        assert any(r["patient_id"] != alice.user["patient_id"] for r in rows.values())  # alice saw a busy block
