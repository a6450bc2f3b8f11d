"""The broadcaster peer relays a change, shaped as our sync.event, to every connected WebSocket."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path

import asyncpg
from websockets.asyncio.client import ClientConnection, connect

from server.bench.peer import CHANNEL, install_peer_feed, remove_peer_feed, start_peer, stop_peer


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


async def test_peer_relays_an_appointment_change_to_every_client(database_url: str, tmp_path: Path) -> None:
    """Three clients each receive the update as a sync.event carrying its change_log seq, data and offset time."""
    await install_peer_feed(database_url)
    await install_peer_feed(database_url)  # idempotent: a second install replaces, never duplicates
    conn = await asyncpg.connect(database_url)
    proc, port = await asyncio.to_thread(start_peer, database_url, tmp_path / "peer.log")
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
        await asyncio.to_thread(stop_peer, proc)
        await remove_peer_feed(database_url)
        try:
            assert await _trigger_count(conn) == 0
        finally:
            await conn.close()
    assert proc.returncode is not None


async def test_held_subscription_serves_clients_that_connect_all_at_once(database_url: str, tmp_path: Path) -> None:
    """With hold_subscription, 20 clients connecting together all stay connected and all get the change."""
    await install_peer_feed(database_url)
    conn = await asyncpg.connect(database_url)
    proc, port = await asyncio.to_thread(start_peer, database_url, tmp_path / "peer.log", hold_subscription=True)
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
        assert "Exception in ASGI application" not in (tmp_path / "peer.log").read_text()
    finally:
        for listener in listeners:
            await listener.close()
        await asyncio.to_thread(stop_peer, proc)
        await remove_peer_feed(database_url)
        await conn.close()
