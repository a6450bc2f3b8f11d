"""One WebSocket to the sync server, kept alive, feeding an entity store. Pure asyncio: no Qt.

Life of a connection: open → `auth.resume` (access token) or `auth.refresh` (refresh token) →
`sync.subscribe` with `since` = the store's last applied seq and the feed `epoch` it belongs to (a
different epoch on the server, e.g. after a restore, answers with a snapshot that replaces the store)
→ read frames until the link dies.
A heartbeat watchdog drops a link that has been silent for too long (the server sends
`sync.heartbeat` every few seconds), and the loop reconnects with jittered exponential backoff,
reset after every successful subscribe. Close code 4001 (fell behind) just resubscribes with
`since`; 4002 (access token expired or revoked) re-authenticates with the refresh token.
While connected, the access token is refreshed on the same connection ahead of its expiry, so a
long day at the desk never sees the server close the link for an expired token; and each heartbeat's
`seq` (how far the server has brought this connection, including changes it may not see) advances
the store's position, so a resume replays from there rather than from the last visible change.
Writes are never queued: a call while not connected raises OfflineError at once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from server.protocol import WS_CLOSE_AUTH_EXPIRED, WS_CLOSE_RESYNC, ErrorCode, Reason, RpcError, encode_request

from ..store import EntityStore
from .backoff import Backoff
from .connection_state import ConnectionState
from .errors import OfflineError, SessionEndedError, is_retryable
from .tls import check_pin, client_ssl_context

__all__ = ["SyncClient"]

log = logging.getLogger(__name__)

ResultHook = Callable[[Any], None]

REFRESH_AT = 0.75  # refresh the access token after this fraction of its lifetime


class SyncClient:
    """The client side of the sync protocol for one signed-in user."""

    def __init__(
        self,
        url: str,
        store: EntityStore,
        *,
        heartbeat_timeout: float = 15.0,
        request_timeout: float = 30.0,
        open_timeout: float = 5.0,
        backoff: Backoff | None = None,
        ca_file: str | None = None,
        pin_sha256: str | None = None,
    ) -> None:
        self.url = url
        self.store = store
        # No frame (heartbeat, event or reply) for this long means the link is dead, even if TCP
        # has not noticed; the server's heartbeat interval is a few seconds, so ~3x that.
        self.heartbeat_timeout = heartbeat_timeout
        self.request_timeout = request_timeout
        self.open_timeout = open_timeout
        self.backoff = backoff or Backoff()
        # wss:// trust: a CA file or a pinned certificate fingerprint (see tls.py); env defaults.
        self._ssl = client_ssl_context(url, ca_file, pin_sha256)
        self._pin = pin_sha256
        self.state = ConnectionState.OFFLINE
        self.user: dict[str, Any] | None = None
        self.access_token: str | None = None
        self.refresh_token: str | None = None
        # When (loop time) the access token expires, from the `expires_in` it came with; the token
        # is refreshed at REFRESH_AT of its life, well before the server closes the link (4002).
        self._access_expires_at: float | None = None
        self._access_lifetime = 0.0  # seconds, as `expires_in` said
        # Milliseconds from the server's commit to this client applying the event (the last one).
        self.last_latency_ms: float | None = None
        self.connects = 0  # successful subscribes, for tests and diagnostics
        self._ws: ClientConnection | None = None
        self._pending: dict[int, tuple[asyncio.Future[Any], ResultHook | None]] = {}
        self._ids = itertools.count(1)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._state_listeners: list[Callable[[ConnectionState], None]] = []
        self._latency_listeners: list[Callable[[float], None]] = []
        self._token_listeners: list[Callable[[str | None], None]] = []
        self._ended_listeners: list[Callable[[str], None]] = []

    # -- observation -------------------------------------------------------------------------

    def on_state(self, listener: Callable[[ConnectionState], None]) -> None:
        self._state_listeners.append(listener)

    def on_latency(self, listener: Callable[[float], None]) -> None:
        self._latency_listeners.append(listener)

    def on_refresh_token(self, listener: Callable[[str | None], None]) -> None:
        """Called with each new refresh token (they rotate), so a "remember me" keychain stays current."""
        self._token_listeners.append(listener)

    def on_session_ended(self, listener: Callable[[str], None]) -> None:
        """Called when the server refuses this session for good (the user must sign in again)."""
        self._ended_listeners.append(listener)

    def _set_state(self, state: ConnectionState) -> None:
        if state != self.state:
            self.state = state
            for listener in list(self._state_listeners):
                listener(state)

    @property
    def connected(self) -> bool:
        return self.state == ConnectionState.CONNECTED

    # -- public API --------------------------------------------------------------------------

    async def sign_in(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        refresh_token: str | None = None,
    ) -> dict[str, Any]:
        """Open the first connection, authenticate, subscribe, then keep the link alive in the background.

        Raises (and stays offline) if the server cannot be reached or refuses the credentials, so
        the login window can say so; once this returns, drops are handled by reconnecting.
        """
        if self._task is not None:
            raise RuntimeError("already signed in")
        self._stopping.clear()
        ws = await self._open()
        try:
            reader = asyncio.ensure_future(self._read(ws))
            try:
                if username is not None:
                    result = await self._request(
                        "auth.login", {"username": username, "password": password or ""}
                    )
                    self._take_tokens(result)
                else:
                    self.refresh_token = refresh_token
                    await self._authenticate()
                await self._subscribe()
            except BaseException:
                reader.cancel()
                raise
        except BaseException:
            await ws.close()
            self._ws = None
            self._fail_pending(OfflineError("connection closed"))
            raise
        self.backoff.reset()
        self._set_state(ConnectionState.CONNECTED)
        self._task = asyncio.create_task(self._run(ws, reader), name="sync-client")
        assert self.user is not None
        return self.user

    async def call(self, method: str, **params: Any) -> Any:
        """Send one request and await its result; raises RpcError for an error response.

        Raises OfflineError when not connected: nothing is sent and nothing is queued.
        """
        if not self.connected or self._ws is None:
            raise OfflineError("not connected to the clinic server")
        return await self._request(method, params)

    async def close(self) -> None:
        """Stop reconnecting, close the link and wait for the background task to finish."""
        self._stopping.set()
        ws = self._ws
        if ws is not None:
            await ws.close()
        task, self._task = self._task, None
        if task is not None:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._fail_pending(OfflineError("the client was closed"))
        self._set_state(ConnectionState.OFFLINE)

    async def sign_out(self) -> None:
        """Revoke this session's refresh tokens on the server (best effort), then close."""
        if self.connected:
            try:
                await asyncio.wait_for(self.call("auth.logout"), 5)
            except (RpcError, OSError, asyncio.TimeoutError, ConnectionClosed):
                pass
        self.refresh_token = None
        self.access_token = None
        await self.close()

    # -- connection loop ---------------------------------------------------------------------

    async def _run(self, ws: ClientConnection, reader: asyncio.Future[None]) -> None:
        """Read the first connection, then reconnect for as long as the client is not closed."""
        try:
            await self._finish(ws, reader)
            async for ws, reader in self._connections():
                await self._finish(ws, reader)
        except SessionEndedError as exc:
            log.info("session ended: %s", exc)
            self._end_session(str(exc))
        except Exception as exc:  # never leave the UI saying "connected" over a dead loop
            log.exception("the sync loop failed")
            self._end_session(f"the connection failed: {exc}")
        finally:
            self._ws = None
            if self._stopping.is_set():
                self._set_state(ConnectionState.OFFLINE)

    def _end_session(self, reason: str) -> None:
        self._set_state(ConnectionState.OFFLINE)
        for listener in list(self._ended_listeners):
            listener(reason)

    async def _finish(self, ws: ClientConnection, reader: asyncio.Future[None]) -> None:
        """Wait until a connection dies (refreshing its token meanwhile), then note what its close code asks."""
        refresher = asyncio.create_task(self._keep_token_fresh(), name="sync-token-refresh")
        try:
            await reader
        except asyncio.CancelledError:
            if self._stopping.is_set():
                return
            raise
        finally:
            refresher.cancel()
            await asyncio.gather(refresher, return_exceptions=True)
            self._ws = None
            self._fail_pending(ConnectionError("the connection to the server was lost"))
        code = ws.close_code
        if code == WS_CLOSE_AUTH_EXPIRED:
            self.access_token = None  # resume would fail; go straight to the refresh token
        elif code == WS_CLOSE_RESYNC:
            log.info("server asked to resubscribe from seq %s", self.store.seq)
        if not self._stopping.is_set():
            self._set_state(ConnectionState.RECONNECTING)

    async def _connections(self) -> AsyncIterator[tuple[ClientConnection, asyncio.Future[None]]]:
        """Yield a fresh, authenticated, subscribed connection each time the previous one died."""
        while not self._stopping.is_set():
            delay = self.backoff.next_delay()
            try:
                await asyncio.wait_for(self._stopping.wait(), delay)
                return
            except asyncio.TimeoutError:
                pass
            try:
                ws = await self._open()
            except Exception as exc:
                if not is_retryable(exc):
                    raise SessionEndedError(f"cannot reach the server: {exc}") from exc
                log.debug("reconnect failed: %r", exc)
                continue
            reader = asyncio.ensure_future(self._read(ws))
            try:
                await self._authenticate()
                await self._subscribe()
            except Exception as exc:
                reader.cancel()
                await ws.close()
                self._ws = None
                self._fail_pending(ConnectionError("connection lost during the handshake"))
                if isinstance(exc, RpcError) and not is_retryable(exc):
                    raise SessionEndedError("the server no longer accepts this session") from exc
                log.debug("handshake failed: %r", exc)
                continue
            self.backoff.reset()
            self._set_state(ConnectionState.CONNECTED)
            yield ws, reader

    async def _keep_token_fresh(self) -> None:
        """Call `auth.refresh` on the live connection before the access token runs out.

        The server closes a connection whose token expired (4002); refreshing first keeps the link,
        the subscription and the user's screen untouched. A refusal is left to that close: the
        reconnect loop then tries the refresh token once more and ends the session if it is revoked.
        """
        loop = asyncio.get_running_loop()
        while self.refresh_token is not None:
            expires_at = self._access_expires_at
            if expires_at is None:  # resumed with a token of unknown age: refresh now to learn it
                wait = 0.0
            else:
                lifetime = max(1.0, self._access_lifetime)
                wait = max(0.0, expires_at - lifetime * (1 - REFRESH_AT) - loop.time())
            await asyncio.sleep(wait)
            try:
                result = await self._request("auth.refresh", {"refresh_token": self.refresh_token})
            except (RpcError, OfflineError, ConnectionError, asyncio.TimeoutError) as exc:
                log.info("refreshing the access token failed: %r", exc)
                return
            self._take_tokens(result)

    async def _open(self) -> ClientConnection:
        ws = await connect(
            self.url,
            open_timeout=self.open_timeout,
            close_timeout=1.0,
            max_size=256 * 1024 * 1024,  # a first snapshot of a busy clinic is several MiB
            ping_interval=None,  # the server's heartbeats and our watchdog do this job
            ssl=self._ssl,
        )
        if self._ssl is not None:
            try:
                check_pin(ws, self._pin)  # before a password or token is sent
            except Exception:
                ws.transport.abort()
                raise
        self._ws = ws
        return ws

    async def _authenticate(self) -> None:
        """Resume with the access token, or refresh with the refresh token if that is refused."""
        if self.access_token is not None:
            try:
                result = await self._request("auth.resume", {"access_token": self.access_token})
                self.user = result.get("user", result)
                return
            except RpcError as exc:
                if exc.reason not in (Reason.UNAUTHENTICATED, None):
                    raise
                self.access_token = None
        if self.refresh_token is None:
            raise RpcError.app(Reason.UNAUTHENTICATED, "no refresh token")
        result = await self._request("auth.refresh", {"refresh_token": self.refresh_token})
        self._take_tokens(result)

    def _take_tokens(self, result: dict[str, Any]) -> None:
        if result.get("user") is not None:
            self.user = result["user"]
        self.access_token = result.get("access_token", self.access_token)
        if result.get("access_token") is not None and result.get("expires_in"):
            self._access_lifetime = float(result["expires_in"])
            self._access_expires_at = asyncio.get_running_loop().time() + self._access_lifetime
        new_refresh = result.get("refresh_token")
        if new_refresh is not None and new_refresh != self.refresh_token:
            self.refresh_token = new_refresh
            for listener in list(self._token_listeners):
                listener(new_refresh)

    async def _subscribe(self) -> None:
        """Subscribe from the store's (seq, epoch); the result is applied by the reader before any later frame."""

        def apply(result: dict[str, Any]) -> None:
            if result.get("snapshot") is not None:
                self.store.load_snapshot(result["snapshot"], result.get("seq"), result.get("epoch"))
            elif result.get("epoch") is not None:
                self.store.epoch = result["epoch"]  # a replay: the server vouched for our seq in this epoch
            # A replay is followed by its events (seq <= result seq), which advance the store.

        await self._request("sync.subscribe", {"since": self.store.seq, "epoch": self.store.epoch}, hook=apply)
        self.connects += 1

    # -- frames ------------------------------------------------------------------------------

    async def _request(self, method: str, params: dict[str, Any], hook: ResultHook | None = None) -> Any:
        ws = self._ws
        if ws is None:
            raise OfflineError("not connected to the clinic server")
        rid = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = (future, hook)
        try:
            await ws.send(encode_request(rid, method, params))
            return await asyncio.wait_for(asyncio.shield(future), self.request_timeout)
        except ConnectionClosed as exc:
            raise ConnectionError("the connection to the server was lost") from exc
        finally:
            self._pending.pop(rid, None)

    async def _read(self, ws: ClientConnection) -> None:
        """Dispatch frames until the link closes or stays silent past the heartbeat timeout."""
        while True:
            try:
                async with asyncio.timeout(self.heartbeat_timeout):
                    frame = await ws.recv()
            except TimeoutError:
                log.info("no heartbeat for %.0f s; dropping the link", self.heartbeat_timeout)
                ws.transport.abort()
                await ws.wait_closed()
                return
            except ConnectionClosed:
                return
            try:
                message = json.loads(frame)
            except ValueError:
                log.warning("ignoring a frame that is not JSON")
                continue
            try:
                self._dispatch(message)
            except Exception:  # a failing listener must not take the link (and every later event) down
                log.exception("applying a frame failed")

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "method" in message:
            params = message.get("params") or {}
            if message["method"] == "sync.event":
                self._apply_event(params)
            elif message["method"] == "sync.heartbeat":
                self.store.note_watermark(params.get("seq"))
            return
        rid = message.get("id")
        entry = self._pending.get(rid) if isinstance(rid, int) else None
        if entry is None:
            return
        future, hook = entry
        if future.done():
            return
        error = message.get("error")
        if error is not None:
            data = dict(error.get("data") or {})
            reason = data.pop("reason", None)
            try:
                exc = RpcError(error.get("code", ErrorCode.APPLICATION), error.get("message", ""), reason, **data)
            except ValueError:  # a reason this client does not know yet
                exc = RpcError(error.get("code", ErrorCode.APPLICATION), error.get("message", ""), None, **data)
            future.set_exception(exc)
            return
        result = message.get("result")
        if hook is not None:
            try:
                hook(result)
            except Exception as exc:  # a broken snapshot must not kill the reader silently
                future.set_exception(exc)
                return
        future.set_result(result)

    def _apply_event(self, event: dict[str, Any]) -> None:
        change = self.store.apply_event(event)
        committed_at = event.get("committed_at")
        if change is None or not committed_at:
            return
        try:
            committed = datetime.fromisoformat(committed_at.replace("Z", "+00:00"))
        except ValueError:
            return
        latency = (time.time() - committed.astimezone(timezone.utc).timestamp()) * 1000.0
        self.last_latency_ms = max(0.0, latency)
        for listener in list(self._latency_listeners):
            listener(self.last_latency_ms)

    def _fail_pending(self, error: BaseException) -> None:
        pending, self._pending = self._pending, {}
        for future, _hook in pending.values():
            if not future.done():
                future.set_exception(error)
                future.exception()  # mark retrieved: the caller may already be gone
