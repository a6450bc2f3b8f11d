"""One client's connection: who it is, where it is in the feed, and its bounded send queue."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from websockets.asyncio.server import ServerConnection

from .auth import Identity
from .protocol import WS_CLOSE_RESYNC

__all__ = ["ClientConnection"]

log = logging.getLogger(__name__)


class ClientConnection:
    """State of one WebSocket client. The writer task drains `queue`; the relay only appends."""

    def __init__(self, ws: ServerConnection, limit: int) -> None:
        self.ws = ws
        self.limit = limit  # frames allowed to wait; more means the client cannot keep up
        self.queue: deque[str] = deque()
        self._ready = asyncio.Event()
        self.identity: Identity | None = None
        self.seq = 0  # last change_log seq delivered (or skipped as invisible) to this client
        self.live = False  # subscribed and receiving relay fan-out
        self.overflowed = False
        self._drop_task: asyncio.Future[None] | None = None  # keeps the closing task referenced
        addr = ws.remote_address
        self.address = str(addr[0]) if addr else "unknown"

    @property
    def role(self) -> str:
        return self.identity.role if self.identity else "patient"

    @property
    def dentist_id(self) -> int | None:
        return self.identity.dentist_id if self.identity else None

    @property
    def patient_id(self) -> int | None:
        return self.identity.patient_id if self.identity else None

    def enqueue(self, frame: str) -> None:
        if self.overflowed:
            return
        if len(self.queue) >= self.limit:
            # A slow consumer: drop it (it resumes from its seq) rather than hold memory or others.
            self.overflowed = True
            log.warning("a client at %s fell behind (%d frames waiting); closing it with code %d",
                        self.address, len(self.queue), WS_CLOSE_RESYNC)
            self.queue.clear()
            self._drop_task = asyncio.ensure_future(self._drop())
            return
        self.queue.append(frame)
        self._ready.set()

    async def _drop(self) -> None:
        """Close with the resync code; a peer too stuck to answer the close handshake is cut off."""
        try:
            await asyncio.wait_for(self.ws.close(WS_CLOSE_RESYNC, "fell behind; resubscribe with since"), 5)
        except Exception:
            pass
        finally:
            self.ws.transport.abort()

    async def writer(self) -> None:
        """Send queued frames in order until the connection closes."""
        while True:
            await self._ready.wait()
            while self.queue:
                frame = self.queue.popleft()
                await self.ws.send(frame)
            self._ready.clear()

    def send_now(self, frame: str) -> None:
        """Queue a reply (replies count against the same bound as events)."""
        self.enqueue(frame)
