"""The server's connections to PostgreSQL: a SQLAlchemy engine (asyncpg driver) for requests."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import asyncio

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .embedded import DatabaseLocation

__all__ = ["Database", "sqlstate_of"]


def sqlstate_of(exc: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE behind a (possibly wrapped) driver error, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        state = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(state, str):
            return state
        current = getattr(current, "orig", None) or current.__cause__
    return None


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset round trip on release: the hot path leaves no session state behind
    (settings are transaction-local, no LISTEN, cursors or session advisory locks)."""


class Database:
    """Owns the engine. `transaction(user_id)` tags writes with the acting user for the audit trail."""

    def __init__(self, location: DatabaseLocation, pool_size: int = 10, *, lock_timeout_ms: int = 0,
                 idle_in_transaction_timeout_ms: int = 0) -> None:
        self.location = location
        # Every session of the server waits at most `lock_timeout_ms` for a lock (an outside session
        # holding the feed lock then costs a clear, retryable error instead of a hang), and a transaction
        # of ours left idle is cut by PostgreSQL rather than holding its locks. 0 leaves PostgreSQL's default.
        self.server_settings = {"application_name": "clinic-server", "TimeZone": "UTC"}
        if lock_timeout_ms > 0:
            self.server_settings["lock_timeout"] = str(lock_timeout_ms)
        if idle_in_transaction_timeout_ms > 0:
            self.server_settings["idle_in_transaction_session_timeout"] = str(idle_in_transaction_timeout_ms)
        self.engine: AsyncEngine = create_async_engine(
            location.sqlalchemy_url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            pool_recycle=1800,
            connect_args={"server_settings": dict(self.server_settings)},
        )
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool:
        """A plain asyncpg pool for the hot path (see `booking_queries`); closed connections reconnect."""
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    # min_size=0: with a floor, asyncpg logs a traceback every second while the database is down.
                    self._pool = await asyncpg.create_pool(
                        self.location.asyncpg_dsn, min_size=0, max_size=self.pool_size, reset=_keep_session,
                        server_settings=dict(self.server_settings))
        return self._pool

    @asynccontextmanager
    async def transaction(self, user_id: int | None = None) -> AsyncIterator[AsyncConnection]:
        async with self.engine.begin() as conn:
            if user_id is not None:
                await conn.execute(text("SELECT set_config('clinic.user_id', :uid, true)"), {"uid": str(user_id)})
            yield conn

    @asynccontextmanager
    async def read(self, repeatable: bool = False) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            if repeatable:
                conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                yield conn

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        await self.engine.dispose()

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()
