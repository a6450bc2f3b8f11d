"""The peer relay the benchmark compares us with: what a team would build from `broadcaster` and Starlette.

A trigger on `change_log` publishes each change, already shaped as our `sync.event` notification, on
the PostgreSQL channel `clinic_peer`; a Starlette app forwards every message of that channel to every
connected WebSocket with broadcaster's canonical subscribe loop. Deliberately nothing more: no
authorization, no per-role filtering, no replay after a reconnect, no backpressure. That is the
design being compared, so the bench measures it as it would ship.

    await install_peer_feed(dsn)
    proc, port = start_peer(dsn, log_path)   # python -m server.bench.peer --database-url ... --port ...
    ...                                      # clients connect to ws://127.0.0.1:{port}/ws
    stop_peer(proc)
    await remove_peer_feed(dsn)

Known properties of the design, measured rather than fixed here: NOTIFY payloads are limited to
8,000 bytes, so a change whose notification is longer (an appointment with long notes) makes the
writing transaction fail while the feed is installed. And broadcaster 0.3.1 issues LISTEN for the
first subscriber of a channel after an await, on its one asyncpg connection: every client that
subscribes while that LISTEN is in flight fails ("another operation is in progress", then a KeyError
in its cleanup) and its WebSocket is dropped. 50 clients connecting at once to a fresh peer: 49 were
dropped. `hold_subscription=True` (`--hold-subscription`) holds one subscription from startup, as a
team would after its first load test, so clients never reach that path; it is off by default.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from .process import start_until_healthy

__all__ = ["CHANNEL", "build_app", "install_peer_feed", "remove_peer_feed", "start_peer", "stop_peer"]

CHANNEL = "clinic_peer"

# The notification text built in SQL, field for field the shape our server sends (server/relay.py).
_INSTALL = f"""
CREATE OR REPLACE FUNCTION clinic_peer_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', json_build_object(
        'jsonrpc', '2.0',
        'method', 'sync.event',
        'params', json_build_object(
            'seq', NEW.seq, 'entity', NEW.entity, 'op', NEW.op, 'id', NEW.entity_id,
            'data', NEW.data, 'committed_at', to_json(NEW.committed_at)))::text);
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER change_log_peer_notify AFTER INSERT ON change_log
    FOR EACH ROW EXECUTE FUNCTION clinic_peer_notify();
"""

_REMOVE = """
DROP TRIGGER IF EXISTS change_log_peer_notify ON change_log;
DROP FUNCTION IF EXISTS clinic_peer_notify();
"""


async def install_peer_feed(dsn: str) -> None:
    """Create (or replace) the trigger that publishes every change_log row on `clinic_peer`."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute(_INSTALL)
    finally:
        await conn.close()


async def remove_peer_feed(dsn: str) -> None:
    """Drop the trigger and its function; a no-op when they are not there."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute(_REMOVE)
    finally:
        await conn.close()


# ------------------------------------------------------------------------------------------- the app


def build_app(database_url: str, *, hold_subscription: bool = False) -> Any:
    """The Starlette app: `GET /healthz` and the WebSocket `/ws` that forwards `clinic_peer`.

    With `hold_subscription`, the app subscribes once at startup (and drains it) so the channel is
    LISTENed before any client arrives; see the module's notes.

    broadcaster's Postgres backend hands the URL to `asyncpg.connect` unchanged, and asyncpg reads
    libpq URLs including `?host=/socket/dir`, so our unix-socket URLs work as they are.
    """
    import anyio
    from broadcaster import Broadcast
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    broadcast = Broadcast(database_url)

    async def drain(subscriber: Any) -> None:
        async for _event in subscriber:
            pass

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await broadcast.connect()
        try:
            if hold_subscription:
                async with broadcast.subscribe(channel=CHANNEL) as keeper:
                    drainer = asyncio.create_task(drain(keeper))  # or its queue would grow forever
                    try:
                        yield
                    finally:
                        drainer.cancel()
            else:
                yield
        finally:
            await broadcast.disconnect()

    async def healthz(_request: Any) -> JSONResponse:
        return JSONResponse({"status": "ok", "pid": os.getpid()})

    async def receiver(websocket: WebSocket) -> None:
        # Nothing the client sends means anything here; reading only notices that it went away.
        async for _message in websocket.iter_text():
            pass

    async def sender(websocket: WebSocket) -> None:
        async with broadcast.subscribe(channel=CHANNEL) as subscriber:
            # broadcaster 0.3.1 types __aiter__ loosely (Optional, items Event | None); at run time it
            # yields only Events, and the None it queues on unsubscribe ends the iteration.
            async for event in subscriber:  # type: ignore[union-attr]
                await websocket.send_text(event.message)  # type: ignore[union-attr]

    async def feed(websocket: WebSocket) -> None:
        # broadcaster's README pattern: a receiver and a sender, the first to finish ends both.
        await websocket.accept()
        async with anyio.create_task_group() as task_group:

            async def run_receiver() -> None:
                await receiver(websocket)
                task_group.cancel_scope.cancel()

            task_group.start_soon(run_receiver)
            await sender(websocket)

    return Starlette(
        routes=[Route("/healthz", healthz), WebSocketRoute("/ws", feed)],
        lifespan=lifespan,
    )


def serve(database_url: str, host: str, port: int, *, hold_subscription: bool = False) -> None:
    """Run the peer in this process (one uvicorn worker) until it is terminated."""
    import uvicorn

    app = build_app(database_url, hold_subscription=hold_subscription)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on")


# ------------------------------------------------------------------------------------- the process


def start_peer(database_url: str, log_path: Path, *, hold_subscription: bool = False,
               timeout: float = 30.0) -> tuple[subprocess.Popen, int]:
    """Start `python -m server.bench.peer` on a free loopback port; returns (process, port) once /healthz answers.

    Output goes to `log_path`. Raises RuntimeError with the log's tail if it exits or never answers.
    """
    args = ["server.bench.peer", "--database-url", database_url, "--host", "127.0.0.1",
            *(["--hold-subscription"] if hold_subscription else [])]
    return start_until_healthy(args, log_path, "peer", timeout)


def stop_peer(proc: subprocess.Popen, *, timeout: float = 10.0) -> None:
    """Terminate the peer (uvicorn shuts down on SIGTERM), killing it if it does not exit in time."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m server.bench.peer", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--hold-subscription", action="store_true",
                        help="subscribe once at startup, so concurrent first subscribers cannot race")
    args = parser.parse_args(argv)
    serve(args.database_url, args.host, args.port, hold_subscription=args.hold_subscription)


if __name__ == "__main__":
    main()
