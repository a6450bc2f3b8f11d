"""The bench's peers (broadcaster + Starlette, and Node.js on ws + pg) relay a change, shaped as our
sync.event, to every connected WebSocket. The Node.js peer's tests skip when node or npm is missing."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest
from websockets.asyncio.client import ClientConnection, connect

from server.bench import node_peer
from server.bench.peer import CHANNEL, install_peer_feed, remove_peer_feed, start_peer, stop_peer


def _start(kind: str, database_url: str, tmp_path: Path, **kwargs):
    """(process, port, stop) of the broadcaster peer or of the Node.js peer (installed into the bench's cache)."""
    if kind == "broadcaster":
        proc, port = start_peer(database_url, tmp_path / "peer.log", **kwargs)
        return proc, port, stop_peer
    if node_peer.missing_tools():
        pytest.skip(f"the Node.js peer needs {', '.join(node_peer.missing_tools())}")
    folder = node_peer.install(node_peer.default_cache())
    proc, port = node_peer.start(folder, database_url, tmp_path / "peer.log")
    return proc, port, node_peer.stop


class Listener:
    """One WebSocket client that keeps every text frame it receives."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[str] = []
        self.arrived = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for frame in self.ws:
            self.frames.append(str(frame))
            self.arrived.set()

    async def wait_for(self, predicate, timeout: float = 10.0) -> str:
        async with asyncio.timeout(timeout):
            while True:
                for frame in self.frames:
                    if predicate(frame):
                        return frame
                self.arrived.clear()
                await self.arrived.wait()

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.gather(self._task, return_exceptions=True)


async def _subscribed(conn: asyncpg.Connection, listener: Listener, token: str) -> None:
    """Publish `token` until the listener gets it: its subscription is then live (there is no ack)."""
    async with asyncio.timeout(15):
        while token not in listener.frames:
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, token)
            try:
                await listener.wait_for(lambda frame: frame == token, timeout=0.2)
            except TimeoutError:
                pass


async def _trigger_count(conn: asyncpg.Connection) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM pg_trigger WHERE tgname = 'change_log_peer_notify' AND NOT tgisinternal")


@pytest.mark.parametrize("kind", ["broadcaster", "node"])
async def test_peer_relays_an_appointment_change_to_every_client(database_url: str, tmp_path: Path, kind: str) -> None:
    """Three clients each receive the update as a sync.event carrying its change_log seq, data and offset time."""
    await install_peer_feed(database_url)
    await install_peer_feed(database_url)  # idempotent: a second install replaces, never duplicates
    conn = await asyncpg.connect(database_url)
    proc, port, stop = await asyncio.to_thread(_start, kind, database_url, tmp_path)
    listeners: list[Listener] = []
    try:
        assert await _trigger_count(conn) == 1
        for n in range(3):
            listener = Listener(await connect(f"ws://127.0.0.1:{port}/ws"))
            listeners.append(listener)
            await _subscribed(conn, listener, f"ready-{n}")

        await conn.execute("UPDATE appointments SET notes = 'x' WHERE id = 1")
        change = await conn.fetchrow(
            "SELECT seq, entity, op, entity_id, data FROM change_log"
            " WHERE entity = 'appointment' AND entity_id = 1 ORDER BY seq DESC LIMIT 1")
        assert json.loads(change["data"])["notes"] == "x"

        for listener in listeners:
            frame = await listener.wait_for(lambda f: f.startswith("{") and json.loads(f)["params"]["seq"] == change["seq"])
            message = json.loads(frame)
            assert message["jsonrpc"] == "2.0" and message["method"] == "sync.event"
            params = message["params"]
            assert set(params) == {"seq", "entity", "op", "id", "data", "committed_at"}
            assert (params["entity"], params["op"], params["id"]) == ("appointment", "upsert", 1)
            assert params["data"] == json.loads(change["data"])
            assert datetime.fromisoformat(params["committed_at"]).utcoffset() is not None
    finally:
        for listener in listeners:
            await listener.close()
        await asyncio.to_thread(stop, proc)
        await remove_peer_feed(database_url)
        try:
            assert await _trigger_count(conn) == 0
        finally:
            await conn.close()
    assert proc.returncode is not None


@pytest.mark.parametrize("kind", ["broadcaster", "node"])
async def test_clients_that_connect_all_at_once_all_get_the_change(database_url: str, tmp_path: Path, kind: str) -> None:
    """20 clients connecting together (to the broadcaster peer with hold_subscription) all stay connected and
    all get the change."""
    await install_peer_feed(database_url)
    conn = await asyncpg.connect(database_url)
    extra = {"hold_subscription": True} if kind == "broadcaster" else {}
    proc, port, stop = await asyncio.to_thread(_start, kind, database_url, tmp_path, **extra)
    listeners: list[Listener] = []
    try:
        sockets = await asyncio.gather(*(connect(f"ws://127.0.0.1:{port}/ws") for _ in range(20)))
        listeners = [Listener(ws) for ws in sockets]
        async with asyncio.timeout(15):  # no ack exists: publish a token until every client has it
            while not all("ready" in listener.frames for listener in listeners):
                await conn.execute("SELECT pg_notify($1, 'ready')", CHANNEL)
                await asyncio.sleep(0.1)
        await conn.execute("UPDATE appointments SET status = 'confirmed' WHERE id = 2")
        seq = await conn.fetchval("SELECT max(seq) FROM change_log WHERE entity = 'appointment' AND entity_id = 2")
        for listener in listeners:
            frame = await listener.wait_for(lambda f: f.startswith("{") and json.loads(f)["params"]["seq"] == seq)
            assert json.loads(frame)["params"]["data"]["status"] == "confirmed"
        log = (tmp_path / "peer.log").read_text()
        assert "Exception in ASGI application" not in log and "Error" not in log, log
    finally:
        for listener in listeners:
            await listener.close()
        await asyncio.to_thread(stop, proc)
        await remove_peer_feed(database_url)
        await conn.close()
