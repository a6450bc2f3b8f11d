"""The sync server: WebSocket JSON-RPC endpoint, /healthz and /metrics, subscriptions and heartbeats."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from typing import Any

from pydantic import ValidationError
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as HttpRequest, Response

from . import handlers
from .assistant import AssistantService, LlmConfig
from .auth import SlidingWindow, TokenBucket, TokenService, hash_password, load_or_create_secret
from .config import Config
from .connection import ClientConnection, text_frame
from .db import migrate
from .db.database import Database
from .db.embedded import EmbeddedPostgres, open_database
from .metrics import Metrics
from .protocol import (
    WS_CLOSE_AUTH_EXPIRED,
    ErrorCode,
    Reason,
    RpcError,
    decode_request,
    encode_error,
    view_for,
    encode_notification,
    encode_result,
    parse_frame,
)
from .relay import ChangeRow, Relay, fetch_changes
from .seed import is_empty, seed_demo

__all__ = ["ClinicServer"]

log = logging.getLogger("clinic.server")

HARD_FRAME_LIMIT = 4 * 1024 * 1024  # beyond this websockets closes the link (1009); below, we answer
MAX_REPLAY = 20000  # more missed changes than this: a snapshot is cheaper
SNAPSHOT_HISTORY_DAYS = 90
_SENT = object()

_SNAPSHOT_QUERIES = {
    "settings": "SELECT clinic_wire_settings(x)::text FROM clinic_settings x",
    "chair": "SELECT clinic_wire_chair(x)::text FROM chairs x ORDER BY id",
    "appointment_type": "SELECT clinic_wire_appointment_type(x)::text FROM appointment_types x ORDER BY id",
    "dentist": "SELECT clinic_wire_dentist(x)::text FROM dentists x ORDER BY id",
    "patient": "SELECT clinic_wire_patient(x)::text FROM patients x ORDER BY id",
    "working_hours": "SELECT clinic_wire_working_hours(x)::text FROM working_hours x ORDER BY id",
    "schedule_exception": "SELECT clinic_wire_schedule_exception(x)::text FROM schedule_exceptions x "
                          "WHERE end_at > now() - interval '90 days' ORDER BY id",
    "appointment": "SELECT clinic_wire_appointment(x)::text FROM appointments x "
                   "WHERE end_at > now() - interval '90 days' ORDER BY start_at",
}


class ClinicServer:
    """Owns the database, the relay and the listening socket of one server process."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.log = log
        self.metrics = Metrics()
        self.embedded: EmbeddedPostgres | None = None
        self.db: Database | None = None  # type: ignore[assignment]
        self.relay: Relay | None = None  # type: ignore[assignment]
        self.connections: set[ClientConnection] = set()
        self.login_failures = SlidingWindow(limit=5, window_seconds=300)
        self.login_failures_addr = SlidingWindow(limit=config.login_attempts_per_minute * 5, window_seconds=300)
        self.write_limiter = TokenBucket(config.writes_per_minute, burst=max(10, config.writes_per_minute // 4))
        self.dummy_hash = hash_password("dummy-password-for-timing")
        llm = LlmConfig(config.llm_url, config.llm_model, config.llm_api_key) if config.llm_url and config.llm_model else None
        self.assistant = AssistantService(llm=llm)
        self._server = None
        self._tasks: list[asyncio.Task] = []
        self.pruned_through = 0

    async def start(self) -> None:
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        location, self.embedded = await asyncio.to_thread(open_database, cfg.database_url, cfg.data_dir)
        await migrate.upgrade_async(location)
        self.db = Database(location)
        if cfg.demo and await is_empty(self.db):
            await seed_demo(self.db)
            log.info("seeded the demo clinic")
        secret = cfg.secret or load_or_create_secret(cfg.data_dir)
        self.tokens = TokenService(secret, cfg.access_token_minutes, cfg.refresh_token_days)
        self.relay = Relay(location.asyncpg_dsn, cfg.poll_seconds, self.metrics, cfg.fanout_interval_ms / 1000)
        await self.relay.start()
        ssl_ctx = None
        if cfg.tls:
            ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_ctx.load_cert_chain(str(cfg.tls_cert), str(cfg.tls_key))
        self._server = await serve(
            self._handle, cfg.host, cfg.port, process_request=self._http, max_size=HARD_FRAME_LIMIT,
            ssl=ssl_ctx, ping_interval=cfg.ping_seconds or None, ping_timeout=cfg.ping_seconds or None, max_queue=16,
            # Each event is encoded once and sent to many clients; per-connection deflate would
            # compress it again for every one of them (and make a slow reader look fast).
            compression=None,
        )
        self._tasks = [asyncio.create_task(self._heartbeats(), name="heartbeats"),
                       asyncio.create_task(self._prune_loop(), name="prune")]
        scheme = "wss" if ssl_ctx else "ws"
        log.info("serving on %s://%s:%s/ws", scheme, cfg.host, self.port)

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self.relay is not None:
            await self.relay.close()
        if self.db is not None:
            await self.db.close()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)

    # ------------------------------------------------------------------ HTTP

    async def _http(self, connection: ServerConnection, request: HttpRequest) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/ws":
            return None
        if path == "/healthz":
            db_ok = await self.db.ping() if self.db else False
            body = json.dumps({
                "status": "ok" if db_ok else "degraded",
                "database": "ok" if db_ok else "unreachable",
                "relay_position": self.relay.position if self.relay else None,
                "clients": len(self.connections),
            })
            return Response(HTTPStatus.OK if db_ok else HTTPStatus.SERVICE_UNAVAILABLE, "OK",
                            Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))]),
                            body.encode())
        if path == "/metrics":
            body_b = self.metrics.render()
            return Response(HTTPStatus.OK, "OK", Headers([("Content-Type", "text/plain; version=0.0.4"),
                                                          ("Content-Length", str(len(body_b)))]), body_b)
        return connection.respond(HTTPStatus.NOT_FOUND, "Not found: use /ws, /healthz or /metrics\n")

    # ------------------------------------------------------------------ WebSocket

    async def _handle(self, ws: ServerConnection) -> None:
        conn = ClientConnection(ws, self.config.send_buffer_kib * 1024)
        self.connections.add(conn)
        self.metrics.connections.inc()
        try:
            async for message in ws:
                await self._on_frame(conn, message)
        except ConnectionClosed:
            pass
        finally:
            self.connections.discard(conn)
            if self.relay is not None:
                self.relay.subscribers.discard(conn)
            self.metrics.connections.dec()

    async def _on_frame(self, conn: ClientConnection, message: str | bytes) -> None:
        if len(message) > self.config.max_frame_bytes:
            conn.send_now(encode_error(None, RpcError(ErrorCode.INVALID_REQUEST,
                                                      f"Frame too large (limit {self.config.max_frame_bytes} bytes)")))
            return
        if isinstance(message, bytes):
            try:
                message = message.decode("utf-8")
            except UnicodeDecodeError:
                conn.send_now(encode_error(None, RpcError(ErrorCode.PARSE_ERROR, "Parse error: frames must be UTF-8 text")))
                return
        try:
            obj = parse_frame(message)
        except RpcError as exc:
            conn.send_now(encode_error(None, exc))
            return
        if isinstance(obj, list):
            if not obj:
                conn.send_now(encode_error(None, RpcError(ErrorCode.INVALID_REQUEST, "Invalid Request: empty batch")))
                return
            if len(obj) > 50:
                conn.send_now(encode_error(None, RpcError(ErrorCode.INVALID_REQUEST, "Invalid Request: batch too large (max 50)")))
                return
            replies = []
            for item in obj:
                reply = await self._one(conn, item, in_batch=True)
                if reply is not None:
                    replies.append(reply)
            if replies:
                conn.send_now("[" + ",".join(replies) + "]")
            return
        reply = await self._one(conn, obj, in_batch=False)
        if reply is not None:
            conn.send_now(reply)

    async def _one(self, conn: ClientConnection, obj: Any, in_batch: bool) -> str | None:
        rid = obj.get("id") if isinstance(obj, dict) and isinstance(obj.get("id"), (int, str)) else None
        try:
            req = decode_request(obj)
        except RpcError as exc:
            return encode_error(rid, exc)
        started = time.perf_counter()
        label = req.method if req.method in handlers.METHODS or req.method == "sync.subscribe" else "unknown"
        try:
            if req.method == "sync.subscribe":
                if in_batch:
                    raise RpcError.app(Reason.INVALID_PARAMS, "sync.subscribe cannot be batched")
                params = self._validate(handlers.SubscribeParams, req.params)
                await self._subscribe(conn, req.id, params.since)
                return None
            result = await self.dispatch_internal(conn, req.method, req.params)
            if req.is_notification:
                return None
            return encode_result(req.id, result)
        except RpcError as exc:
            self.metrics.rpc_errors.labels(label, str(exc.reason or exc.code)).inc()
            return None if req.is_notification else encode_error(req.id, exc)
        except Exception as exc:  # never let one request take the connection or the server down
            self.metrics.rpc_errors.labels(label, "internal").inc()
            log.error("internal error in %s: %s", label, type(exc).__name__, exc_info=log.isEnabledFor(logging.DEBUG))
            message = "Something went wrong on the server; nothing was changed. Please try again."
            if _is_db_unavailable(exc):
                message = "The clinic database is not reachable right now; nothing was changed. Please try again shortly."
            return None if req.is_notification else encode_error(req.id, RpcError.app(Reason.INTERNAL, message))
        finally:
            self.metrics.rpc_latency.labels(label).observe(time.perf_counter() - started)

    @staticmethod
    def _validate(model, params: dict[str, Any]):
        try:
            return model.model_validate(params)
        except ValidationError as exc:
            fields = {}
            for err in exc.errors():
                name = ".".join(str(p) for p in err["loc"]) or "params"
                if name == "from_":
                    name = "from"
                fields[name] = err["msg"]
            raise RpcError(ErrorCode.INVALID_PARAMS, "Invalid params", Reason.INVALID_PARAMS, fields=fields) from None

    async def dispatch_internal(self, conn, method: str, params: dict[str, Any], via_assistant: bool = False) -> Any:
        """Run one method as the connection's user (the assistant re-enters here with its `call`)."""
        entry = handlers.METHODS.get(method)
        if entry is None or (via_assistant and method.startswith(("auth.", "assistant."))):
            raise RpcError(ErrorCode.METHOD_NOT_FOUND, f"Method not found: {method[:100]}")
        handler, model = entry
        if method not in handlers.PUBLIC_METHODS and conn.identity is None:
            raise RpcError.app(Reason.UNAUTHENTICATED, "Please sign in first.")
        params_obj = self._validate(model, params)
        if method == "appointments.create":
            return await handler(self, conn, params_obj, via_assistant=via_assistant)
        return await handler(self, conn, params_obj)

    # ------------------------------------------------------------------ subscriptions

    async def _subscribe(self, conn: ClientConnection, rid: Any, since: int | None) -> None:
        handlers._require(conn)
        relay = self.relay
        assert relay is not None
        relay.subscribers.discard(conn)
        conn.live = False
        snapshot = None
        if since is not None:
            pruned = await relay.pool.fetchval("SELECT pruned_through FROM change_log_state")
            if since < pruned or since - relay.position > 10_000_000:
                since = None
            elif relay.position - since > MAX_REPLAY:
                since = None
        if since is None:
            pos, snapshot = await self._snapshot(conn)
        else:
            pos = since
        # Wait until this instance's relay has read at least up to our starting point, so fan-out
        # never repeats what the snapshot already holds.
        while relay.position < pos:
            waiter = relay.advanced
            relay._wake.set()
            try:
                await asyncio.wait_for(waiter.wait(), timeout=2)
            except asyncio.TimeoutError:
                pass
        frames: list[bytes] = []
        cursor = pos
        while True:
            if cursor >= relay.position:
                break  # no await between this check and going live below
            async with relay.pool.acquire() as c:
                rows = await fetch_changes(c, cursor, relay.position, limit=5000)
            for row in rows:
                frame = row.frame_for(conn.role, conn.dentist_id, conn.patient_id)
                if frame is not None:
                    frames.append(frame)
                cursor = row.seq
            if not rows:
                cursor = relay.position
        result: dict[str, Any] = {"seq": pos}
        if snapshot is not None:
            result["snapshot"] = snapshot
        else:
            result["replayed"] = len(frames)
        conn.send_now(encode_result(rid, result))
        for frame in frames:
            conn.send_frame(frame)
        conn.seq = relay.position
        conn.live = True
        relay.subscribers.add(conn)

    async def _snapshot(self, conn: ClientConnection) -> tuple[int, dict[str, list[dict[str, Any]]]]:
        relay = self.relay
        assert relay is not None
        out: dict[str, list[dict[str, Any]]] = {}
        async with relay.pool.acquire() as c:
            async with c.transaction(isolation="repeatable_read", readonly=True):
                watermark = await c.fetchval("SELECT coalesce(max(seq), 0) FROM change_log")
                for kind, sql in _SNAPSHOT_QUERIES.items():
                    rows = [json.loads(r[0]) for r in await c.fetch(sql)]
                    shaped_rows = []
                    for row in rows:
                        view, shaped = view_for(kind, row, conn.role, conn.dentist_id, conn.patient_id)
                        if view in ("full", "busy"):
                            shaped_rows.append(shaped)
                    out[kind] = shaped_rows
        return watermark, out

    # ------------------------------------------------------------------ background

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_seconds)
            now = time.time()
            frames: dict[int, bytes] = {}
            server_time = datetime.now(timezone.utc).isoformat()
            for conn in tuple(self.connections):
                ident = conn.identity
                if ident is not None and ident.expires_at + 60 < now:
                    conn.identity = None
                    self.relay.subscribers.discard(conn)
                    asyncio.ensure_future(conn.ws.close(WS_CLOSE_AUTH_EXPIRED, "session expired; sign in again"))
                    continue
                if not conn.live:
                    continue
                frame = frames.get(conn.seq)
                if frame is None:
                    frame = frames[conn.seq] = text_frame(
                        encode_notification("sync.heartbeat", {"seq": conn.seq, "server_time": server_time}))
                conn.send_frame(frame)

    async def _prune_loop(self) -> None:
        while True:
            await asyncio.sleep(600)  # first pass a while after start, then hourly
            try:
                await self.prune()
            except Exception as exc:
                log.warning("pruning the change feed failed: %s", type(exc).__name__)
            await asyncio.sleep(3000)

    async def prune(self, older_than: timedelta | None = None) -> int:
        """Delete change_log rows past retention and remember how far the feed is pruned."""
        keep = older_than or timedelta(days=self.config.retention_days)
        async with self.relay.pool.acquire() as c:
            async with c.transaction():
                cutoff = datetime.now(timezone.utc) - keep
                upto = await c.fetchval("SELECT max(seq) FROM change_log WHERE committed_at < $1", cutoff)
                if upto is None:
                    return 0
                status = await c.execute("DELETE FROM change_log WHERE seq <= $1", upto)
                await c.execute("UPDATE change_log_state SET pruned_through = greatest(pruned_through, $1)", upto)
        return int(status.split()[-1])


def _is_db_unavailable(exc: BaseException) -> bool:
    """True when the error means the database cannot be reached (down, restarting, socket gone)."""
    for e in _chain(exc):
        if isinstance(e, OSError) or getattr(e, "connection_invalidated", False):
            return True
        if type(e).__name__ in {"InterfaceError", "ConnectionDoesNotExistError", "CannotConnectNowError",
                                "AdminShutdownError", "CrashShutdownError", "TooManyConnectionsError"}:
            return True
        state = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
        if isinstance(state, str) and (state.startswith("08") or state in {"57P01", "57P02", "57P03"}):
            return True
    return False


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__ or getattr(exc, "orig", None)
