"""The change feed at its edges: another history (epoch), a fully pruned feed, pruning during a replay,
TRUNCATE, and subscribes that would grow the send buffer. A real server in this process, a real database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket

import asyncpg
import pytest
from websockets.asyncio.client import connect

from helpers import RpcClient
from server.app import ClinicServer
from server.config import Config
from server.db.backup import backup, restore
from server.db.embedded import DatabaseLocation
from server.protocol import WS_CLOSE_RESYNC, Reason, RpcError


@contextlib.asynccontextmanager
async def running(database_url: str, tmp_path, **settings):
    server = ClinicServer(Config(database_url=database_url, port=0, data_dir=tmp_path / "data", **settings))
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def ws_url(server: ClinicServer) -> str:
    return f"ws://127.0.0.1:{server.port}/ws"


async def subscribe(client: RpcClient, since: int | None, epoch: str | None) -> dict:
    return await client.call("sync.subscribe", since=since, epoch=epoch)


async def test_since_beyond_the_feed_is_answered_with_a_snapshot_at_once(database_url: str, tmp_path) -> None:
    """A client holding a seq the feed never reached (another database behind the URL) gets a snapshot, not a hang."""
    async with running(database_url, tmp_path) as server, RpcClient(ws_url(server), call_timeout=30) as desk:
        await desk.login("frontdesk")
        first = await subscribe(desk, None, None)
        ahead = await subscribe(desk, first["seq"] + 1000, first["epoch"])
        assert "snapshot" in ahead and ahead["seq"] == first["seq"] and ahead["epoch"] == first["epoch"]


async def test_another_epoch_is_answered_with_a_snapshot(database_url: str, tmp_path) -> None:
    """A seq from another history (a different epoch) is never replayed, even when it lies within this feed."""
    async with running(database_url, tmp_path) as server, RpcClient(ws_url(server)) as desk:
        await desk.login("frontdesk")
        first = await subscribe(desk, None, None)
        other = await subscribe(desk, first["seq"] - 2, "a-feed-from-another-database")
        assert "snapshot" in other and other["epoch"] == first["epoch"]
        same = await subscribe(desk, first["seq"] - 2, first["epoch"])
        assert same["replayed"] == 2


async def test_a_restored_backup_has_a_new_epoch(database_url: str, empty_database_url: str, tmp_path) -> None:
    """`restore` gives the feed a new epoch, so a desktop that stayed open resyncs by snapshot instead of resuming."""
    dump = tmp_path / "clinic.dump"
    await asyncio.to_thread(backup, DatabaseLocation(database_url), dump)
    await asyncio.to_thread(restore, dump, DatabaseLocation(empty_database_url))
    async with running(database_url, tmp_path / "a") as before, RpcClient(ws_url(before)) as desk:
        await desk.login("frontdesk")
        held = await subscribe(desk, None, None)
    async with running(empty_database_url, tmp_path / "b") as after, RpcClient(ws_url(after)) as desk:
        await desk.login("frontdesk")
        resumed = await subscribe(desk, held["seq"], held["epoch"])
        assert "snapshot" in resumed and resumed["epoch"] != held["epoch"] and resumed["seq"] == held["seq"]


async def test_a_fully_pruned_feed_keeps_its_end_and_resumes_after_a_restart(database_url: str, tmp_path) -> None:
    """A clinic quiet past retention: the snapshot's seq is the feed's end (not 0), a resume is a replay of
    nothing, also after a restart, and the next change arrives."""
    db = await asyncpg.connect(database_url)
    try:
        total = await db.fetchval("SELECT max(seq) FROM change_log")
        await db.execute("UPDATE change_log SET committed_at = now() - interval '30 days'")
        async with running(database_url, tmp_path / "a") as server, RpcClient(ws_url(server)) as desk:
            assert await server.prune() > 0 and await db.fetchval("SELECT count(*) FROM change_log") == 0
            await desk.login("frontdesk")
            held = await subscribe(desk, None, None)
            assert held["seq"] == total
            assert (await subscribe(desk, total, held["epoch"]))["replayed"] == 0
        async with running(database_url, tmp_path / "b") as server, RpcClient(ws_url(server)) as desk:
            await desk.login("frontdesk")
            resumed = await subscribe(desk, total, held["epoch"])
            assert resumed == {"seq": total, "epoch": held["epoch"], "replayed": 0}
            await db.execute("UPDATE chairs SET name = name || ' (moved)' WHERE id = 1")
            assert (await desk.next_event())["seq"] > total
    finally:
        await db.close()


async def test_pruning_between_the_retention_check_and_the_replay_read_loses_nothing(database_url: str, tmp_path) -> None:
    """change_log is locked so the subscribe stops after its retention check; a prune then commits. The
    client gets every missed change, or a snapshot; never a replay with a hole."""
    db = await asyncpg.connect(database_url)
    pruner = await asyncpg.connect(database_url)
    try:
        seqs = [r["seq"] for r in await db.fetch("SELECT seq FROM change_log ORDER BY seq")]
        since, cut = seqs[-6], seqs[-3]
        async with running(database_url, tmp_path, poll_seconds=3600) as server, RpcClient(ws_url(server)) as desk:
            await desk.login("frontdesk")
            epoch = (await subscribe(desk, None, None))["epoch"]
            prune_tx = pruner.transaction()
            await prune_tx.start()
            await pruner.execute("LOCK TABLE change_log IN ACCESS EXCLUSIVE MODE")
            pending = asyncio.create_task(subscribe(desk, since, epoch))
            while not await db.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE relation = 'change_log'::regclass AND NOT granted"):
                await asyncio.sleep(0.01)
            await pruner.execute("DELETE FROM change_log WHERE seq <= $1", cut)
            await pruner.execute("UPDATE change_log_state SET pruned_through = $1", cut)
            await prune_tx.commit()
            result = await pending
            if "snapshot" not in result:
                events = [(await desk.next_event())["seq"] for _ in range(result["replayed"])]
                assert events == seqs[-5:]
    finally:
        await pruner.close()
        await db.close()


async def test_truncate_of_a_synced_table_sends_every_client_to_a_snapshot(database_url: str, tmp_path) -> None:
    """TRUNCATE fires no row triggers; it cuts the feed instead: live clients are told to resync, and their
    resume (old epoch) gets a snapshot without the truncated rows."""
    db = await asyncpg.connect(database_url)
    try:
        async with running(database_url, tmp_path) as server, RpcClient(ws_url(server)) as desk:
            await desk.login("frontdesk")
            held = await subscribe(desk, None, None)
            assert held["snapshot"]["working_hours"]
            await db.execute("TRUNCATE working_hours")
            assert await desk.wait_closed() == WS_CLOSE_RESYNC
            async with RpcClient(ws_url(server)) as again:
                await again.login("frontdesk")
                resumed = await subscribe(again, held["seq"], held["epoch"])
                assert "snapshot" in resumed and resumed["epoch"] != held["epoch"]
                assert resumed["snapshot"]["working_hours"] == []
    finally:
        await db.close()


async def test_a_replay_beyond_the_send_bound_becomes_a_snapshot(database_url: str, tmp_path) -> None:
    """Thousands of missed changes weigh more than the connection may buffer: the answer is the (smaller) snapshot."""
    db = await asyncpg.connect(database_url)
    try:
        async with running(database_url, tmp_path, send_buffer_kib=256) as server, RpcClient(ws_url(server)) as alice:
            await alice.login("alice")
            held = await subscribe(alice, None, None)
            for _ in range(1500):
                await db.execute("UPDATE clinic_settings SET late_cancel_hours = 49 - late_cancel_hours")
            resumed = await subscribe(alice, held["seq"], held["epoch"])
            assert "snapshot" in resumed and len(json.dumps(resumed)) < 256 * 1024
    finally:
        await db.close()


async def test_subscribes_are_rate_limited_per_connection(database_url: str, tmp_path) -> None:
    """Past the burst, sync.subscribe answers rate_limited with retry_after; the connection lives on."""
    async with running(database_url, tmp_path, subscribes_per_minute=6) as server, RpcClient(ws_url(server)) as desk:
        await desk.login("frontdesk")
        first = await subscribe(desk, None, None)
        await subscribe(desk, first["seq"], first["epoch"])
        with pytest.raises(RpcError) as caught:
            await subscribe(desk, first["seq"], first["epoch"])
        assert caught.value.reason == Reason.RATE_LIMITED and caught.value.extra["retry_after"] > 0
        assert "dentists" in await desk.call("directory.get")


async def test_a_subscribe_while_the_last_snapshot_is_unsent_is_refused(database_url: str, tmp_path) -> None:
    """A client that never reads and repeats sync.subscribe gets one snapshot and refusals, not a snapshot each."""
    db = await asyncpg.connect(database_url)  # a clinic whose snapshot is megabytes, far beyond the socket buffers
    await db.execute("INSERT INTO patients (name) SELECT 'Patient ' || g || repeat('x', 100) FROM generate_series(1, 20000) g")
    await db.close()
    async with running(database_url, tmp_path, send_buffer_kib=64 * 1024) as server:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        async with connect(ws_url(server), sock=sock, max_queue=1, max_size=None) as ws:
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "auth.login",
                                      "params": {"username": "frontdesk", "password": "demo"}}))
            assert "result" in json.loads(await ws.recv())
            for rid in range(2, 6):  # without reading a byte of the answers
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": "sync.subscribe",
                                          "params": {"since": None}}))
            answers = [json.loads(await ws.recv()) for _ in range(4)]
        assert ["snapshot" in a.get("result", {}) for a in answers] == [True, False, False, False]
        assert {a["error"]["data"]["reason"] for a in answers[1:]} == {"rate_limited"}
