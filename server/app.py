"""The sync server: WebSocket JSON-RPC endpoint, /healthz and /metrics; subscriptions live in subscription.py."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http import HTTPStatus
from typing import Any

from pydantic import ValidationError
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as HttpRequest, Response

from . import handlers
from .assistant import AssistantService, LlmConfig
from .assistant.conversation import DatabaseConversationStore
from .sessions import SessionWatch
from .shared_limits import SharedTokenBucket
from .auth import (
    SignInCap,
    SlidingWindow,
    TokenService,
    hash_password,
    load_or_create_secret,
    verify_password,
)
from .config import Config
from .connection import (
    AcceptErrorLog,
    ClientConnection,
    ConnectionCaps,
    CountedServerConnection,
    client_address,
    open_file_headroom,
    text_frame,
)
from .db import migrate
from .db.database import Database
from .db.embedded import EmbeddedPostgres, open_database
from .metrics import Metrics
from .protocol import (
    ErrorCode,
    Reason,
    RpcError,
    decode_request,
    encode_error,
    encode_result,
    parse_frame,
)
from .relay import Relay
from . import waitlist
from .mailer import Mailer
from .seed import is_empty, seed_demo, seed_working_day
from .subscription import Subscriptions, prune

__all__ = ["ClinicServer"]

log = logging.getLogger("clinic.server")

HARD_FRAME_LIMIT = 4 * 1024 * 1024  # beyond this websockets closes the link (1009); below, we answer
_SENT = object()


class ClinicServer:
    """Owns the database, the relay and the listening socket of one server process."""

    reuse_port = False  # True for `serve --workers N`'s workers (server/workers.py), which share one port

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
        self.write_limiter = SharedTokenBucket("writes", config.writes_per_minute,
                                               burst=max(10, config.writes_per_minute // 4))
        self.dummy_hash = hash_password("dummy-password-for-timing")
        # argon2 is slow on purpose: it runs in this small pool, never on the event loop, and only
        # `max_concurrent_sign_ins` sign-ins may wait for it at once.
        self.hash_pool = ThreadPoolExecutor(max_workers=max(1, config.hash_workers), thread_name_prefix="argon2")
        self.sign_ins = SignInCap(config.max_concurrent_sign_ins)
        self.trusted_proxies = tuple(ipaddress.ip_network(p, strict=False) for p in config.trusted_proxies)
        self.caps = ConnectionCaps(config.max_connections, config.max_connections_per_address)
        llm = LlmConfig(config.llm_url, config.llm_model, config.llm_api_key) if config.llm_url and config.llm_model else None
        self.session_watch: SessionWatch | None = None
        self.assistant = AssistantService(llm=llm, store=DatabaseConversationStore(
            lambda: self.db.pool(), max_idle_seconds=config.assistant_idle_minutes * 60, per_user=config.assistant_conversations_per_user),
            waitlist_offers=self._open_offers)
        self.assistant_limiter = SharedTokenBucket("assistant", config.assistant_messages_per_minute,
                                                   burst=max(5, config.assistant_messages_per_minute // 2))
        self._server = None
        self.mailer: Mailer | None = None  # set by start() when smtp_host is configured
        self._tasks: list[asyncio.Task] = []
        self.subscriptions: Subscriptions = None  # type: ignore[assignment]  # set by start()

    async def start(self) -> None:
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        location, self.embedded = await asyncio.to_thread(open_database, cfg.database_url, cfg.data_dir)
        await migrate.upgrade_async(location)
        self.db = Database(location, lock_timeout_ms=cfg.lock_timeout_ms,
                           idle_in_transaction_timeout_ms=cfg.idle_in_transaction_timeout_ms)
        if cfg.demo and await is_empty(self.db):
            await seed_demo(self.db)
            added = await seed_working_day(self.db)  # the demo opens on a clinic at work (DESIGN.md "Demo data")
            log.info("seeded the demo clinic (%d appointments of a working fortnight)", added)
        secret = cfg.secret or load_or_create_secret(cfg.data_dir)
        self.tokens = TokenService(secret, cfg.access_token_minutes, cfg.refresh_token_days)
        self.relay = Relay(location.asyncpg_dsn, cfg.poll_seconds, self.metrics, cfg.fanout_interval_ms / 1000,
                           cfg.fanout_pause_ratio, cfg.fanout_pause_max_ms / 1000)
        await self.relay.start()
        self.session_watch = SessionWatch(location.asyncpg_dsn, lambda: self.connections, self.end_family)
        await self.session_watch.start()
        self.subscriptions = Subscriptions(self.relay, cfg)
        ssl_ctx = None
        if cfg.tls:
            ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_ctx.load_cert_chain(str(cfg.tls_cert), str(cfg.tls_key))
        headroom = open_file_headroom()
        if headroom is not None and headroom < self.caps.total:
            log.info("at most %d connections: the open-file limit leaves room for no more", headroom)
            self.caps.total = headroom
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(AcceptErrorLog(loop))
        self._server = await serve(
            self._handle, cfg.host, cfg.port, process_request=self._http, max_size=HARD_FRAME_LIMIT,
            create_connection=CountedServerConnection, reuse_port=self.reuse_port,
            ssl=ssl_ctx, ping_interval=cfg.ping_seconds or None, ping_timeout=cfg.ping_seconds or None,
            max_queue=4,  # incoming frames held per connection (each up to HARD_FRAME_LIMIT) before reading pauses
            # Each event is encoded once and sent to many clients; per-connection deflate would
            # compress it again for every one of them (and make a slow reader look fast).
            compression=None,
        )
        self._tasks = [asyncio.create_task(self.subscriptions.heartbeats(self.connections), name="heartbeats"),
                       asyncio.create_task(self.subscriptions.pruning(), name="prune")]
        # The waitlist's offer lifetime lives where the database's offer trigger reads it; lapsed offers expire.
        await waitlist.set_offer_minutes(await self.db.pool(), cfg.waitlist_offer_minutes)
        self._tasks.append(asyncio.create_task(waitlist.expiry_loop(self.db.pool, cfg.waitlist_expiry_seconds),
                                               name="waitlist-expiry"))
        if cfg.smtp_host:
            self.mailer = Mailer(location.asyncpg_dsn, cfg)
            await self.mailer.start()
            self._tasks.append(asyncio.create_task(self.mailer.run(), name="mailer"))
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
        if self.mailer is not None:
            await self.mailer.close()
        if self.relay is not None:
            await self.relay.close()
        if self.session_watch is not None:
            await self.session_watch.close()
        if self.db is not None:
            await self.db.close()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)
        self.hash_pool.shutdown(wait=False, cancel_futures=True)

    async def _open_offers(self, patient_id: int) -> list[dict[str, Any]]:
        """A patient's open waitlist offers, for the assistant to mention."""
        return await waitlist.open_offers_for_patient(await self.db.pool(), patient_id)

    def end_family(self, family_id: str, why: str) -> None:
        """End this instance's connections of a revoked sign-in (any instance may have revoked it)."""
        from .handlers.auth import _end_sessions

        _end_sessions(self, None, lambda other: other.family_id == family_id, why,
                      skip=lambda conn: conn.renewing_sign_in)

    async def hash_password(self, password: str) -> str:
        """The argon2 hash of `password`, computed in the hashing pool so the event loop keeps serving."""
        return await asyncio.get_running_loop().run_in_executor(self.hash_pool, hash_password, password)

    async def verify_password(self, password_hash: str, password: str) -> bool:
        """Whether `password` matches `password_hash`, checked in the hashing pool."""
        return await asyncio.get_running_loop().run_in_executor(self.hash_pool, verify_password, password_hash,
                                                                password)

    # ------------------------------------------------------------------ HTTP

    async def _http(self, connection: ServerConnection, request: HttpRequest) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/ws":
            return self._admit(connection, request)
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
            if not self._may_read_metrics(connection, request):
                response = connection.respond(HTTPStatus.FORBIDDEN, "Forbidden: /metrics answers loopback, or "
                                                                    "a request with the metrics token\n")
                return response
            body_b = self.metrics.render()
            return Response(HTTPStatus.OK, "OK", Headers([("Content-Type", "text/plain; version=0.0.4"),
                                                          ("Content-Length", str(len(body_b)))]), body_b)
        return connection.respond(HTTPStatus.NOT_FOUND, "Not found: use /ws, /healthz or /metrics\n")

    def _may_read_metrics(self, connection: ServerConnection, request: HttpRequest) -> bool:
        """Loopback peers may read /metrics; others only with `Authorization: Bearer <metrics_token>`."""
        token = self.config.metrics_token
        if token and hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}"):
            return True
        peer = connection.remote_address[0] if connection.remote_address else ""
        try:
            return ipaddress.ip_address(peer).is_loopback and not request.headers.get_all("X-Forwarded-For")
        except ValueError:
            return False

    def _admit(self, connection: ServerConnection, request: HttpRequest) -> Response | None:
        """Count a WebSocket upgrade against the connection caps, by the client's address (the peer,
        or what a trusted proxy forwarded); refuse it with 503 (server full) or 429 (that address).

        A browser always sends `Origin`, and a page on any site could otherwise open a socket to the
        clinic's server from a clinic PC; the desktop app sends none. So an upgrade with an Origin not
        listed in `allowed_origins` is refused with 403.
        """
        origin = request.headers.get("Origin")
        if origin is not None and origin not in self.config.allowed_origins:
            log.info("refused a WebSocket upgrade from the browser origin %r", origin[:200])
            return connection.respond(HTTPStatus.FORBIDDEN, "Forbidden: browser origins are not allowed\n")
        peer = connection.remote_address[0] if connection.remote_address else "unknown"
        address = client_address(str(peer), request.headers.get_all("X-Forwarded-For"), self.trusted_proxies)
        refused = self.caps.admit(address)
        if refused is not None:
            log.info("refused a connection from %s: %s", address, "too many from that address"
                     if refused == HTTPStatus.TOO_MANY_REQUESTS else "the server is at its connection limit")
            response = connection.respond(refused, "Too many connections; try again shortly.\n")
            response.headers["Retry-After"] = "5"
            return response
        if isinstance(connection, CountedServerConnection):
            connection.client_address, connection.caps = address, self.caps
        else:  # not counted, so nothing to give back
            self.caps.release(address)
        return None

    # ------------------------------------------------------------------ WebSocket

    async def _handle(self, ws: ServerConnection) -> None:
        conn = ClientConnection(ws, self.config.send_buffer_kib * 1024, self.config.sign_in_deadline_seconds,
                                self.config.max_snapshot_kib * 1024)
        self.connections.add(conn)
        self.metrics.connections.inc()
        try:
            async for message in ws:
                await self._on_frame(conn, message)
        except ConnectionClosed:
            pass
        finally:
            conn.on_closed()
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
                batch = "[" + ",".join(replies) + "]"
                if _too_large(batch, conn.buffer_limit):
                    batch = encode_error(None, RpcError(ErrorCode.INVALID_REQUEST, "Invalid Request: the answers to "
                                                        "this batch are too large together; send fewer at once"))
                conn.send_now(batch)
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
                await self._subscribe(conn, req.id, params)
                return None
            result = await self.dispatch_internal(conn, req.method, req.params)
            if req.is_notification:
                return None
            reply = encode_result(req.id, result)
            if _too_large(reply, conn.buffer_limit):
                # Decided before queuing: the answer could never fit this connection's send bound.
                raise RpcError(ErrorCode.INVALID_PARAMS, "Invalid params", Reason.INVALID_PARAMS, fields={
                    "params": f"the answer would exceed {conn.buffer_limit} bytes; ask for less (a shorter range)"})
            return reply
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

    async def _subscribe(self, conn: ClientConnection, rid: Any, params: handlers.SubscribeParams) -> None:
        await self.subscriptions.subscribe(conn, rid, params.since, params.epoch)

    async def prune(self, older_than: timedelta | None = None) -> int:
        """Delete change_log rows past retention (see subscription.prune)."""
        return await prune(self.relay.pool, older_than or timedelta(days=self.config.retention_days))


def _too_large(reply: str, limit: int) -> bool:
    """Whether `reply`, as one frame, would not fit a send bound of `limit` bytes."""
    return len(reply) > limit // 4 and len(text_frame(reply)) > limit


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
