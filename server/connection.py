"""One client's connection: who it is, where it is in the feed, and how frames reach it.

Frames are written straight to the connection's transport, in order, with no task per client: an
event is serialised into a WebSocket frame once (`text_frame`) and the same bytes go to every client
that sees it. The transport's own buffer is the send queue, bounded by `buffer_limit` bytes, a fixed
bound that no reply raises: a client that lets more pile up there cannot keep up and is closed with
the resync code (it resumes from its seq); one frame larger than the whole bound closes it with
`WS_CLOSE_TOO_LARGE`. So one slow reader never holds up the others or the server's memory.

The one exception is a snapshot, the whole clinic a client needs to start, which may be larger than the
bound: it is sent with a one-off credit of its own size (at most `snapshot_limit` bytes), which lapses
as soon as what waits is back within `buffer_limit`. A second subscribe is refused while anything is
unsent (server/subscription.py), so a connection holds at most `buffer_limit + snapshot_limit` bytes.

A connection that has not signed in within the sign-in deadline is closed with
`WS_CLOSE_SIGN_IN_DEADLINE`; `ConnectionCaps` counts connections in all and per client address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from .auth import Identity
from .protocol import WS_CLOSE_RESYNC

__all__ = ["AcceptErrorLog", "ClientConnection", "ConnectionCaps", "CountedServerConnection",
           "WS_CLOSE_SIGN_IN_DEADLINE", "WS_CLOSE_TOO_LARGE", "client_address", "open_file_headroom",
           "text_frame"]

log = logging.getLogger(__name__)

WS_CLOSE_SIGN_IN_DEADLINE = 4003  # not signed in within the sign-in deadline; connect again to sign in
WS_CLOSE_TOO_LARGE = 4004  # one message was larger than the whole per-connection send bound

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def text_frame(message: str) -> bytes:
    """A complete, unmasked server-to-client text frame (no extensions: the server disables compression)."""
    return Frame(Opcode.TEXT, message.encode("utf-8")).serialize(mask=False, extensions=[])


def client_address(peer: str, forwarded_for: list[str], trusted: tuple[Network, ...]) -> str:
    """The address a connection comes from, for per-address caps and throttles.

    The TCP peer, unless it is a trusted proxy: then the right-most `X-Forwarded-For` hop that is not
    itself a trusted proxy (hops to its left were written by the client and may be forged).
    """
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    address = peer
    while hops and _is_trusted(address, trusted):
        try:
            address = str(ipaddress.ip_address(hops.pop()))
        except ValueError:
            break  # a malformed hop: the last proxy that wrote a sane one is all we know
    return address


def _is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def open_file_headroom(reserve: int = 100) -> int | None:
    """Raise this process's open-file limit to its hard limit and return how many connections fit
    below it with `reserve` descriptors left over (database, logs, /healthz); None where unlimited."""
    try:
        import resource
    except ImportError:  # Windows: no such limit
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return None
    return max(1, soft - reserve)


class ConnectionCaps:
    """Counts WebSocket connections in all and per client address; refuses a new one past either cap."""

    def __init__(self, total: int, per_address: int) -> None:
        self.total = total
        self.per_address = per_address
        self.count = 0
        self.by_address: dict[str, int] = {}

    def admit(self, address: str) -> HTTPStatus | None:
        """Count a new connection from `address`; or the HTTP status refusing it (nothing counted)."""
        if self.count >= self.total:
            return HTTPStatus.SERVICE_UNAVAILABLE
        if self.by_address.get(address, 0) >= self.per_address:
            return HTTPStatus.TOO_MANY_REQUESTS
        self.count += 1
        self.by_address[address] = self.by_address.get(address, 0) + 1
        return None

    def release(self, address: str) -> None:
        self.count -= 1
        left = self.by_address.get(address, 1) - 1
        if left > 0:
            self.by_address[address] = left
        else:
            self.by_address.pop(address, None)


class CountedServerConnection(ServerConnection):
    """A websockets connection that knows its client's address and gives back its place in the
    caps when its TCP connection ends, whether or not the handshake got as far as the handler."""

    client_address: str | None = None
    caps: ConnectionCaps | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        caps, self.caps = self.caps, None
        if caps is not None and self.client_address is not None:
            caps.release(self.client_address)


class AcceptErrorLog:
    """Event-loop exception handler: asyncio logs a traceback for each accept() that fails for want
    of file descriptors; this logs one line per burst instead and passes everything else on."""

    ACCEPT_FAILED = "socket.accept() out of system resource"

    def __init__(self, loop: asyncio.AbstractEventLoop, quiet_seconds: float = 30.0) -> None:
        self._previous = loop.get_exception_handler()
        self.quiet_seconds = quiet_seconds
        self._last = float("-inf")
        self.suppressed = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != self.ACCEPT_FAILED:
            if self._previous is not None:
                self._previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        now = time.monotonic()
        if now - self._last >= self.quiet_seconds:
            exc = context.get("exception")
            earlier = f"; {self.suppressed} more in the burst before" if self.suppressed else ""
            log.warning("cannot accept new connections: %s (the open-file limit is reached; new clients "
                        "wait until others close%s)", getattr(exc, "strerror", None) or type(exc).__name__, earlier)
            self.suppressed = 0
        else:
            self.suppressed += 1
        self._last = now


class ClientConnection:
    """State of one WebSocket client; `send_frame` is synchronous and preserves order."""

    __slots__ = ("ws", "buffer_limit", "sign_in_deadline", "_identity", "role", "dentist_id", "patient_id", "seq",
                 "live", "overflowed", "_drop_task", "_deadline", "address", "renewing_sign_in", "snapshot_limit",
                 "_credit")

    def __init__(self, ws: ServerConnection, buffer_limit: int, sign_in_deadline: float = 0.0,
                 snapshot_limit: int = 0) -> None:
        self.ws = ws
        self.buffer_limit = buffer_limit  # bytes allowed to wait unsent in user space: a fixed bound
        self.snapshot_limit = snapshot_limit  # the largest snapshot sent (with a credit of its own size)
        self._credit = 0  # bytes allowed beyond buffer_limit while a snapshot drains
        self.sign_in_deadline = sign_in_deadline  # seconds a connection may stay signed out (0: forever)
        self._deadline: asyncio.TimerHandle | None = None  # closes the connection if still signed out
        self._identity: Identity | None = None
        self.overflowed = False  # being closed: nothing more is sent
        self.identity = None
        self.seq = 0  # last change_log seq delivered (or skipped as invisible) to this client
        self.live = False  # subscribed and receiving relay fan-out
        self.renewing_sign_in = False  # changing its password: the old sign-in's revocation must not close it
        self._drop_task: asyncio.Future[None] | None = None  # keeps the closing task referenced
        addr = getattr(ws, "client_address", None) or (ws.remote_address[0] if ws.remote_address else None)
        self.address = str(addr) if addr else "unknown"

    @property
    def identity(self) -> Identity | None:
        return self._identity

    @identity.setter
    def identity(self, identity: Identity | None) -> None:
        """Signing in or out also sets the viewer fields the relay reads for every change, and stops
        (signed in) or starts (signed out) the sign-in deadline."""
        self._identity = identity
        self.role = identity.role if identity else "patient"
        self.dentist_id = identity.dentist_id if identity else None
        self.patient_id = identity.patient_id if identity else None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if identity is None and self.sign_in_deadline > 0 and not self.overflowed:
            loop = asyncio.get_running_loop()
            self._deadline = loop.call_later(self.sign_in_deadline, self._deadline_passed)

    def on_closed(self) -> None:
        """The connection ended: nothing more is scheduled for it."""
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def send_frame(self, frame: bytes, snapshot: bool = False) -> bool:
        """Write one serialised frame now; False when it was not written (the client is closing, or
        it would take the bytes waiting past the bound, which drops the client).

        `snapshot`: the frame is a snapshot, allowed past `buffer_limit` up to `snapshot_limit`.
        """
        ws = self.ws
        if self.overflowed or ws.protocol.state is not State.OPEN or ws.send_in_progress is not None:
            return False
        waiting = ws.transport.get_write_buffer_size()
        if waiting <= self.buffer_limit:
            self._credit = 0  # an earlier snapshot has drained: the plain bound again
        if snapshot and len(frame) <= self.snapshot_limit:
            self._credit = len(frame)
        limit = self.buffer_limit + self._credit
        if waiting + len(frame) > limit:
            if len(frame) > limit:
                self._close(WS_CLOSE_TOO_LARGE, "a message was larger than the send buffer",
                            "a %d-byte message to the client at %s exceeds the %d-byte send bound",
                            len(frame), self.address, limit)
            else:
                self._close(WS_CLOSE_RESYNC, "fell behind; resubscribe with since",
                            "a client at %s fell behind (%d bytes waiting); closing it",
                            self.address, waiting)
            return False
        ws.transport.write(frame)
        return True

    def send_now(self, message: str, snapshot: bool = False) -> bool:
        """Send a reply or notification made for this client alone (under the same bound)."""
        return self.send_frame(text_frame(message), snapshot)

    def _deadline_passed(self) -> None:
        self._deadline = None
        if self._identity is None and not self.overflowed:
            self._close(WS_CLOSE_SIGN_IN_DEADLINE, "not signed in in time",
                        "closing a connection from %s that did not sign in within %g s",
                        self.address, self.sign_in_deadline, level=logging.INFO)

    def _close(self, code: int, reason: str, message: str, *args: Any, level: int = logging.WARNING) -> None:
        """Stop sending to this client and close it with `code` (logged once, by address, never content)."""
        self.overflowed = True
        log.log(level, message + " (close code %d)", *args, code)
        self._drop_task = asyncio.ensure_future(self._drop(code, reason))

    async def _drop(self, code: int, reason: str) -> None:
        """Close with `code`; a peer too stuck to answer the close handshake is cut off."""
        try:
            await asyncio.wait_for(self.ws.close(code, reason), 5)
        except Exception:
            pass
        finally:
            self.ws.transport.abort()
