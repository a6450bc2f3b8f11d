"""Alembic migrations up and down, and the embedded PostgreSQL keeping its data across a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from server.db import migrate
from server.db.embedded import DatabaseLocation, EmbeddedPostgres
from tests.helpers import make_world_reachable

OUR_TABLES = {
    "clinic_settings", "users", "dentists", "patients", "chairs", "appointment_types", "working_hours",
    "schedule_exceptions", "appointments", "appointment_history", "refresh_tokens", "change_log",
    "change_log_state", "rate_buckets", "assistant_conversations", "blockout_types", "blockouts",
    "waitlist_requests", "waitlist_offers", "mail_outbox", "mail_state",
}


async def _objects(url: str) -> tuple[set[str], set[str], set[str]]:
    conn = await asyncpg.connect(url)
    try:
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        functions = {r["proname"] for r in await conn.fetch(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'public' AND p.proname LIKE 'clinic%'"
        )}
        sequences = {r["relname"] for r in await conn.fetch(
            "SELECT relname FROM pg_class WHERE relkind = 'S' AND relnamespace = 'public'::regnamespace"
        )}
        return tables, functions, sequences
    finally:
        await conn.close()


async def test_upgrade_downgrade_upgrade_on_an_empty_database(empty_database_url: str) -> None:
    """upgrade creates every table; downgrade to base leaves none of ours (alembic_version may stay); upgrade again works."""
    location = DatabaseLocation(empty_database_url)
    await asyncio.to_thread(migrate.upgrade, location)
    tables, functions, _ = await _objects(empty_database_url)
    assert OUR_TABLES | {"alembic_version"} <= tables
    assert "clinic_log_change" in functions

    await asyncio.to_thread(migrate.downgrade, location, "base")
    tables, functions, sequences = await _objects(empty_database_url)
    assert tables <= {"alembic_version"}
    assert functions == set()
    assert sequences == set()

    await asyncio.to_thread(migrate.upgrade, location)
    tables, _, _ = await _objects(empty_database_url)
    assert OUR_TABLES <= tables
    conn = await asyncpg.connect(empty_database_url)
    try:
        assert await conn.fetchval("SELECT version_num FROM alembic_version") == "0008"  # the head revision
        await conn.execute("INSERT INTO chairs (name) VALUES ('Chair 9')")
        assert await conn.fetchval("SELECT count(*) FROM change_log WHERE entity = 'chair'") == 1
    finally:
        await conn.close()


def test_embedded_postgres_keeps_its_data_across_a_restart(tmp_path: Path) -> None:
    """A separate embedded cluster: a row written before stop() is still there after start() again."""
    data_dir = tmp_path / "clinic-data"
    make_world_reachable(data_dir)
    embedded = EmbeddedPostgres(data_dir)

    async def write(url: str) -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("CREATE TABLE survivor (id int PRIMARY KEY, note text)")
            await conn.execute("INSERT INTO survivor VALUES (1, 'still here')")
        finally:
            await conn.close()

    async def read(url: str) -> str | None:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval("SELECT note FROM survivor WHERE id = 1")
        finally:
            await conn.close()

    location = embedded.start()
    try:
        assert location.database == "clinic"
        asyncio.run(write(location.url))
    finally:
        embedded.stop()
    assert (data_dir / "pgdata" / "PG_VERSION").exists()

    again = EmbeddedPostgres(data_dir)
    location = again.start()
    try:
        assert asyncio.run(read(location.url)) == "still here"
    finally:
        again.stop()
