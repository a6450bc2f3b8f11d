"""A small JSON-RPC 2.0 client over WebSocket for tests (no Qt).

    async with RpcClient(server.ws_url) as c:
        await c.login("frontdesk")
        await c.subscribe()
        appt = await c.call("appointments.create", dentist_id=1, ...)
        event = await c.next_event()
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import stat
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from server.protocol import RpcError

__all__ = ["RpcClient", "rpc_error_from", "ConnectionLost", "make_world_reachable"]


def make_world_reachable(path: Path) -> None:
    """Let the unprivileged `embedded_postgres` user (used when we run as root) reach `path`."""
    path.mkdir(parents=True, exist_ok=True)
    if os.name == "nt" or os.geteuid() != 0:
        return
    for p in [path, *path.parents]:
        if p == p.parent:
            break
        mode = p.stat().st_mode
        if not (mode & stat.S_IXOTH and mode & stat.S_IROTH):
            p.chmod(stat.S_IMODE(mode) | 0o055)


class ConnectionLost(ConnectionError):
    """The WebSocket closed while a call was waiting for its answer."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"connection closed (code {code}) {reason}".strip())
        self.code = code
        self.reason = reason


def rpc_error_from(error: Any) -> RpcError:
    """An RpcError built from a JSON-RPC error object (code, message, data.reason, the rest of data)."""
    if not isinstance(error, dict):
        return RpcError(-32603, f"malformed error object: {error!r}")
    data = error.get("data")
    extra: dict[str, Any] = dict(data) if isinstance(data, dict) else ({} if data is None else {"data": data})
    reason = extra.pop("reason", None)
    code = error.get("code")
    message = str(error.get("message", ""))
    try:
        exc = RpcError(code, message, reason, **extra)
    except ValueError:  # a reason the enum does not know: keep it verbatim
        exc = RpcError(code, message, None, **extra)
        exc.reason = reason  # type: ignore[assignment]
    exc.error = error  # type: ignore[attr-defined]
    return exc


class RpcClient:
    """Async context manager: one WebSocket, calls routed by id, notifications queued."""

    def __init__(self, url: str, *, open_timeout: float = 10.0, call_timeout: float = 15.0) -> None:
        self.url = url
        self.open_timeout = open_timeout
        self.call_timeout = call_timeout
        self.ws: ClientConnection | None = None
        self.notifications: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.raw: asyncio.Queue[str] = asyncio.Queue()  # frames that are neither a known answer nor a notification
        self.user: dict[str, Any] | None = None
        self.access_token: str | None = None
        self.refresh_token: str | None = None
        self.login_result: dict[str, Any] | None = None
        self.closed_code: int | None = None
        self.closed_reason: str | None = None
        self._ids = itertools.count(1)
        self._pending: dict[Any, asyncio.Future[Any]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> "RpcClient":
        self.ws = await connect(self.url, max_size=None, open_timeout=self.open_timeout)
        self._reader = asyncio.create_task(self._read_loop(), name="rpc-client-reader")
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    async def close(self) -> None:
        if self.ws is not None:
            try:
                await asyncio.wait_for(self.ws.close(), 5)
            except Exception:
                pass
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 5)
            except Exception:
                self._reader.cancel()
            self._reader = None

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def wait_closed(self, timeout: float = 10.0) -> int | None:
        """Wait until the server closes the connection; returns the close code."""
        await asyncio.wait_for(self._closed.wait(), timeout)
        return self.closed_code

    async def _read_loop(self) -> None:
        assert self.ws is not None
        try:
            async for frame in self.ws:
                text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
                self._dispatch(text)
        except ConnectionClosed:
            pass
        finally:
            self.closed_code = self.ws.close_code
            self.closed_reason = self.ws.close_reason
            self._closed.set()
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionLost(self.closed_code, self.closed_reason or ""))
            self._pending.clear()

    def _dispatch(self, text: str) -> None:
        try:
            msg = json.loads(text)
        except ValueError:
            self.raw.put_nowait(text)
            return
        if isinstance(msg, dict) and "method" in msg and "id" not in msg:
            self.notifications.put_nowait(msg)
            return
        if isinstance(msg, dict) and ("result" in msg or "error" in msg):
            fut = self._pending.pop(msg.get("id"), None)
            if fut is not None and not fut.done():
                fut.set_result(msg)
                return
        self.raw.put_nowait(text)

    # ------------------------------------------------------------------ calls

    async def call(self, method: str, /, **params: Any) -> Any:
        """Send a request; return its result or raise RpcError built from the error object."""
        if self.ws is None:
            raise RuntimeError("not connected; use `async with RpcClient(url) as c`")
        rid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await self.ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}))
        except ConnectionClosed as exc:
            self._pending.pop(rid, None)
            raise ConnectionLost(self.ws.close_code, self.ws.close_reason or "") from exc
        try:
            msg = await asyncio.wait_for(fut, self.call_timeout)
        finally:
            self._pending.pop(rid, None)
        if "error" in msg:
            raise rpc_error_from(msg["error"])
        return msg["result"]

    async def notify(self, method: str, /, **params: Any) -> None:
        """Send a JSON-RPC notification (no id, no answer)."""
        assert self.ws is not None
        await self.ws.send(json.dumps({"jsonrpc": "2.0", "method": method, "params": params}))

    async def login(self, username: str, password: str = "demo") -> dict[str, Any]:
        """auth.login; keeps the user and tokens. Returns the whole result."""
        result = await self.call("auth.login", username=username, password=password)
        self.login_result = result
        self.user = result.get("user")
        self.access_token = result.get("access_token")
        self.refresh_token = result.get("refresh_token")
        return result

    async def subscribe(self, since: int | None = None) -> dict[str, Any]:
        """sync.subscribe from `since` (None: a snapshot)."""
        return await self.call("sync.subscribe", since=since)

    # ------------------------------------------------------------------ notifications

    async def next_notification(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next server notification of any kind ({"method", "params"})."""
        return await asyncio.wait_for(self.notifications.get(), timeout)

    async def next_event(self, timeout: float = 5.0) -> dict[str, Any]:
        """The params of the next `sync.event`, skipping heartbeats (and other notifications)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise asyncio.TimeoutError(f"no sync.event within {timeout} s")
            msg = await asyncio.wait_for(self.notifications.get(), remaining)
            if msg.get("method") == "sync.event":
                return msg.get("params", {})

    async def events_until(self, predicate: Any, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Collect sync.event params until one satisfies `predicate` (it is included)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen: list[dict[str, Any]] = []
        while True:
            event = await self.next_event(max(0.01, deadline - loop.time()))
            seen.append(event)
            if predicate(event):
                return seen

    def drain_notifications(self) -> list[dict[str, Any]]:
        """Everything queued right now, without waiting."""
        out = []
        while not self.notifications.empty():
            out.append(self.notifications.get_nowait())
        return out

    # ------------------------------------------------------------------ raw frames

    async def send_raw(self, text: str | bytes) -> None:
        """Send a frame as is (for malformed-input tests)."""
        assert self.ws is not None
        await self.ws.send(text)

    async def recv_raw(self, timeout: float = 5.0) -> dict[str, Any] | str:
        """The next frame that was not an answer to a `call` nor a notification (parsed if JSON)."""
        text = await asyncio.wait_for(self.raw.get(), timeout)
        try:
            return json.loads(text)
        except ValueError:
            return text
