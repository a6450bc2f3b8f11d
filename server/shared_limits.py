"""Rate limits shared by every server instance on one database: token buckets kept in `rate_buckets`.

A bucket holds up to `burst` tokens and refills at `rate_per_minute`; each action takes one. The refill,
the check and the take happen in `clinic_take_token` (migration 0004) under the bucket's row lock, so
two requests can never both take the last token, and two instances never double a limit.
"""

from __future__ import annotations

import asyncpg

__all__ = ["SharedTokenBucket"]


class SharedTokenBucket:
    """`take(pool, key)` answers 0 when the action may go ahead, else the seconds to wait first."""

    def __init__(self, name: str, rate_per_minute: float, burst: int) -> None:
        self.name = name
        self.per_second = max(rate_per_minute, 0.001) / 60.0
        self.burst = float(max(1, burst))

    async def take(self, pool: asyncpg.Pool, key: object) -> float:
        wait = await pool.fetchval("SELECT clinic_take_token($1, $2, $3)", f"{self.name}:{key}",
                                   self.burst, self.per_second)
        return float(wait)
