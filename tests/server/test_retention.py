"""Retention: the change feed is pruned after the retention period, and older positions get a snapshot."""

from __future__ import annotations

import asyncpg

from helpers import RpcClient
from server.app import ClinicServer
from server.config import Config


async def test_pruned_feed_answers_old_positions_with_a_snapshot(database_url: str, tmp_path) -> None:
    """Rows older than retention are deleted; a client resuming from before them gets a snapshot, a recent one a replay."""
    server = ClinicServer(Config(database_url=database_url, port=0, data_dir=tmp_path, retention_days=7))
    await server.start()
    conn = await asyncpg.connect(database_url)
    try:
        total = await conn.fetchval("SELECT max(seq) FROM change_log")
        await conn.execute("UPDATE change_log SET committed_at = now() - interval '8 days' WHERE seq <= 10")
        deleted = await server.prune()
        assert deleted == 10
        assert await conn.fetchval("SELECT min(seq) FROM change_log") == 11
        assert await conn.fetchval("SELECT pruned_through FROM change_log_state") == 10
        url = f"ws://127.0.0.1:{server.port}/ws"
        async with RpcClient(url) as client:
            await client.login("frontdesk")
            old = await client.subscribe(5)
            assert "snapshot" in old and old["seq"] == total
        async with RpcClient(url) as client:
            await client.login("frontdesk")
            recent = await client.subscribe(total - 3)
            assert (recent["seq"], recent["replayed"]) == (total - 3, 3) and recent["epoch"] == old["epoch"]
            seqs = [(await client.next_event())["seq"] for _ in range(3)]
            assert seqs == [total - 2, total - 1, total]
    finally:
        await conn.close()
        await server.close()
