"""Revoked sign-ins end on every server instance at once, not just on the one that revoked them.

A revocation (sign-out, a password change, a reused refresh token) sets `refresh_tokens.revoked_at`; a
trigger (migration 0004) then sends `NOTIFY clinic_sessions, '<family id>'` with the commit. Every
instance LISTENs on that channel on a connection of its own and ends its connections of that sign-in
(no more events, closed with 4002) the moment the revocation commits. Notifications sent while the
LISTEN connection is down are lost, so after every (re)connect the watch checks each signed-in
connection's sign-in against the database instead.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

import asyncpg

__all__ = ["CHANNEL", "SessionWatch"]

log = logging.getLogger(__name__)

CHANNEL = "clinic_sessions"


class SessionWatch:
    """Listens for revoked sign-in families and ends this instance's connections that belong to them."""

    def __init__(self, dsn: str, connections: Callable[[], Any], end_family: Callable[[str, str], None],
                 retry_seconds: float = 1.0) -> None:
        self.dsn = dsn
        self._connections = connections  # the instance's live ClientConnections
        self._end_family = end_family  # ends every connection of one family here, with a reason
        self.retry_seconds = retry_seconds
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task | None = None
        self._lost = asyncio.Event()

    async def start(self) -> None:
        await self._open()
        self._task = asyncio.create_task(self._watch(), name="session-watch")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close(timeout=2)

    async def _open(self) -> None:
        self._lost.clear()
        conn = await asyncpg.connect(self.dsn, server_settings={"application_name": "clinic-server sessions"})
        conn.add_termination_listener(lambda _conn: self._lost.set())
        await conn.add_listener(CHANNEL, self._on_notify)
        self._conn = conn
        await self._recheck(conn)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._end_family(payload, "signed out")

    async def _recheck(self, conn: asyncpg.Connection) -> None:
        """End connections whose sign-in was revoked while no notification could reach us."""
        families = {c.identity.family_id for c in self._connections()
                    if c.identity is not None and c.identity.family_id}
        if not families:
            return
        rows = await conn.fetch(
            "SELECT DISTINCT family_id::text AS family FROM refresh_tokens"
            " WHERE family_id::text = ANY($1::text[]) AND revoked_at IS NULL", sorted(families))
        for family in families - {r["family"] for r in rows}:
            self._end_family(family, "signed out")

    async def _watch(self) -> None:
        """Re-open the LISTEN connection whenever it is lost (then re-check), and health-check it."""
        while True:
            try:
                await asyncio.wait_for(self._lost.wait(), timeout=5 * self.retry_seconds)
            except asyncio.TimeoutError:
                try:
                    assert self._conn is not None
                    await self._conn.fetchval("SELECT 1", timeout=5)
                    continue
                except (Exception, asyncio.TimeoutError):
                    pass
            log.warning("sign-out listener lost; reconnecting")
            while True:
                try:
                    if self._conn is not None and not self._conn.is_closed():
                        self._conn.terminate()
                    await self._open()
                    break
                except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
                    await asyncio.sleep(self.retry_seconds)
