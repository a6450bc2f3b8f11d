"""The shared write limit's token take commits without waiting for the disk, and only itself does."""

from __future__ import annotations

import asyncpg

from server.shared_limits import SharedTokenBucket


async def test_a_token_take_commits_asynchronously_and_the_next_write_on_its_connection_durably(
        database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SHOW synchronous_commit") == "on"
        async with conn.transaction():
            assert await conn.fetchval("SELECT clinic_take_token('test:1', 3, 1)") == 0
            # the take's own transaction does not wait for its WAL flush…
            assert await conn.fetchval("SHOW synchronous_commit") == "off"
        # …and a booking that reuses the pooled connection afterwards still does
        assert await conn.fetchval("SHOW synchronous_commit") == "on"
    finally:
        await conn.close()


async def test_the_bucket_still_refuses_past_its_burst(database_url: str) -> None:
    bucket = SharedTokenBucket("test", rate_per_minute=1, burst=2)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        waits = [await bucket.take(pool, "desk") for _ in range(3)]
    finally:
        await pool.close()
    assert waits[:2] == [0.0, 0.0]
    assert 0 < waits[2] <= 60.0  # one token a minute: the third waits for it
