"""One client's connection: who it is, where it is in the feed, and how frames reach it.

Frames are written straight to the connection's transport, in order, with no task per client: an
event is serialised into a WebSocket frame once (`text_frame`) and the same bytes go to every client
that sees it. The transport's own buffer is the send queue; a client that lets more than
`buffer_limit` bytes pile up there cannot keep up and is closed with the resync code (it resumes
from its seq), so one slow reader never holds up the others or the server's memory.
"""

from __future__ import annotations

import asyncio
import logging

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from .auth import Identity
from .protocol import WS_CLOSE_RESYNC

__all__ = ["ClientConnection", "text_frame"]

log = logging.getLogger(__name__)


def text_frame(message: str) -> bytes:
    """A complete, unmasked server-to-client text frame (no extensions: the server disables compression)."""
    return Frame(Opcode.TEXT, message.encode("utf-8")).serialize(mask=False, extensions=[])


class ClientConnection:
    """State of one WebSocket client; `send_frame` is synchronous and preserves order."""

    __slots__ = ("ws", "buffer_limit", "slack", "_identity", "role", "dentist_id", "patient_id", "seq", "live",
                 "overflowed", "_drop_task", "address")

    def __init__(self, ws: ServerConnection, buffer_limit: int) -> None:
        self.ws = ws
        self.buffer_limit = buffer_limit  # bytes allowed to wait unsent in user space
        self.slack = 0  # extra room while one large reply (a snapshot) drains
        self.identity = None
        self.seq = 0  # last change_log seq delivered (or skipped as invisible) to this client
        self.live = False  # subscribed and receiving relay fan-out
        self.overflowed = False
        self._drop_task: asyncio.Future[None] | None = None  # keeps the closing task referenced
        addr = ws.remote_address
        self.address = str(addr[0]) if addr else "unknown"

    @property
    def identity(self) -> Identity | None:
        return self._identity

    @identity.setter
    def identity(self, identity: Identity | None) -> None:
        """Signing in or out also sets the viewer fields the relay reads for every change."""
        self._identity = identity
        self.role = identity.role if identity else "patient"
        self.dentist_id = identity.dentist_id if identity else None
        self.patient_id = identity.patient_id if identity else None

    def send_frame(self, frame: bytes) -> None:
        """Write one serialised frame now (or drop a client that has fallen too far behind)."""
        ws = self.ws
        if self.overflowed or ws.protocol.state is not State.OPEN or ws.send_in_progress is not None:
            return
        transport = ws.transport
        waiting = transport.get_write_buffer_size()
        if waiting > self.buffer_limit:
            if waiting > self.buffer_limit + self.slack:
                self._fell_behind(waiting)
                return
        elif self.slack:
            self.slack = 0
        transport.write(frame)

    def send_now(self, message: str) -> None:
        """Send a reply or notification made for this client alone; a large one (a snapshot) does
        not count against the bound while it drains."""
        frame = text_frame(message)
        self.send_frame(frame)
        if len(frame) > self.buffer_limit // 4:
            self.slack += len(frame)

    def _fell_behind(self, waiting: int) -> None:
        self.overflowed = True
        log.warning("a client at %s fell behind (%d bytes waiting); closing it with code %d",
                    self.address, waiting, WS_CLOSE_RESYNC)
        self._drop_task = asyncio.ensure_future(self._drop())

    async def _drop(self) -> None:
        """Close with the resync code; a peer too stuck to answer the close handshake is cut off."""
        try:
            await asyncio.wait_for(self.ws.close(WS_CLOSE_RESYNC, "fell behind; resubscribe with since"), 5)
        except Exception:
            pass
        finally:
            self.ws.transport.abort()
