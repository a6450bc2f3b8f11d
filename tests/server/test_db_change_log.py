"""The change feed in the database: commit-ordered seqs, audiences, versions, history and NOTIFY."""

from __future__ import annotations

import asyncio
import json
import random

import asyncpg
import pytest
from sqlalchemy import text

from server.db.database import Database
from server.db.embedded import DatabaseLocation


async def _seqs_after(conn: asyncpg.Connection, pos: int) -> list[int]:
    return [r["seq"] for r in await conn.fetch("SELECT seq FROM change_log WHERE seq > $1 ORDER BY seq", pos)]


async def _wait_for_lock_wait(observer: asyncpg.Connection, pid: int, timeout: float = 5.0) -> None:
    """Until backend `pid` is waiting on a heavyweight lock (our advisory lock)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        row = await observer.fetchrow("SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", pid)
        if row is not None and row["wait_event_type"] == "Lock":
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"backend {pid} never waited on a lock")


async def test_bigserial_without_the_lock_would_skip_a_commit(database_url: str) -> None:
    """Control experiment: a plain sequence lets a smaller seq commit after a larger one was read (and be lost)."""
    a, b, reader = [await asyncpg.connect(database_url) for _ in range(3)]
    try:
        await reader.execute("CREATE TABLE naive_log (seq bigserial PRIMARY KEY)")
        ta, tb = a.transaction(), b.transaction()
        await ta.start()
        await tb.start()
        seq_a = await a.fetchval("INSERT INTO naive_log DEFAULT VALUES RETURNING seq")
        seq_b = await b.fetchval("INSERT INTO naive_log DEFAULT VALUES RETURNING seq")
        assert seq_a < seq_b
        await tb.commit()
        observed = [r["seq"] for r in await reader.fetch("SELECT seq FROM naive_log WHERE seq > 0 ORDER BY seq")]
        pos = observed[-1]
        await ta.commit()
        observed += [r["seq"] for r in await reader.fetch("SELECT seq FROM naive_log WHERE seq > $1", pos)]
        final = [r["seq"] for r in await reader.fetch("SELECT seq FROM naive_log ORDER BY seq")]
        assert final == [seq_a, seq_b]
        assert seq_a not in observed  # the hazard the advisory lock removes
    finally:
        for c in (a, b, reader):
            await c.close()


async def test_change_log_seqs_become_visible_in_commit_order(database_url: str) -> None:
    """While A holds a change_log seq uncommitted, B's write blocks on the advisory lock, so B can never commit
    a larger seq first; a reader polling `seq > pos` therefore sees every committed seq, strictly increasing.

    Without the lock (see the control experiment above) B would take seq N+1, commit, the reader would advance
    to N+1, and A's seq N would commit afterwards below the reader's position: silently lost.
    """
    a, b, reader = [await asyncpg.connect(database_url) for _ in range(3)]
    try:
        pos = await reader.fetchval("SELECT coalesce(max(seq), 0) FROM change_log")
        start_pos = pos
        observed: list[int] = []

        async def poll() -> None:
            nonlocal pos
            for seq in await _seqs_after(reader, pos):
                observed.append(seq)
                pos = seq

        ids = [r["id"] for r in await a.fetch("SELECT id FROM appointments ORDER BY id LIMIT 2")]
        ta = a.transaction()
        await ta.start()
        await a.execute("UPDATE appointments SET notes = 'from A' WHERE id = $1", ids[0])
        seq_a = await a.fetchval("SELECT max(seq) FROM change_log")  # A sees its own uncommitted row
        assert seq_a > start_pos

        tb = b.transaction()
        await tb.start()
        b_pid = b.get_server_pid()
        b_update = asyncio.create_task(b.execute("UPDATE appointments SET notes = 'from B' WHERE id = $1", ids[1]))
        await _wait_for_lock_wait(reader, b_pid)
        advisory_waiters = await reader.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = $1 AND NOT granted", b_pid
        )
        assert advisory_waiters == 1
        await asyncio.sleep(0.5)
        assert not b_update.done(), "B's write must wait for A's transaction"
        await poll()
        assert observed == []  # nothing committed yet

        await ta.commit()
        await asyncio.wait_for(b_update, 5)  # A's commit released the lock
        await poll()
        assert observed == [seq_a]
        seq_b = await b.fetchval("SELECT max(seq) FROM change_log")
        assert seq_b > seq_a
        await poll()
        assert observed == [seq_a]  # B is not committed yet
        await tb.commit()
        await poll()

        final = await _seqs_after(reader, start_pos)
        assert final == [seq_a, seq_b]
        assert observed == final
    finally:
        for c in (a, b, reader):
            await c.close()


async def test_concurrent_writers_never_make_a_polling_reader_skip_a_seq(database_url: str) -> None:
    """8 writers with random delays inside their transactions; a reader polling `seq > pos` sees every seq in order."""
    writers = [await asyncpg.connect(database_url) for _ in range(8)]
    reader = await asyncpg.connect(database_url)
    ids = [r["id"] for r in await reader.fetch("SELECT id FROM appointments ORDER BY id")]
    start_pos = await reader.fetchval("SELECT coalesce(max(seq), 0) FROM change_log")
    rng = random.Random(42)
    done = asyncio.Event()
    observed: list[int] = []

    async def write(conn: asyncpg.Connection, w: int) -> None:
        for i in range(10):
            async with conn.transaction():
                await asyncio.sleep(rng.random() * 0.005)
                await conn.execute("UPDATE appointments SET notes = $1 WHERE id = $2", f"w{w} i{i}", ids[w % len(ids)])
                await asyncio.sleep(rng.random() * 0.01)

    async def read() -> None:
        pos = start_pos
        while True:
            finished = done.is_set()
            for seq in await _seqs_after(reader, pos):
                observed.append(seq)
                pos = seq
            if finished:
                return
            await asyncio.sleep(0.001)

    try:
        reading = asyncio.create_task(read())
        await asyncio.wait_for(asyncio.gather(*(write(c, w) for w, c in enumerate(writers))), 60)
        done.set()
        await asyncio.wait_for(reading, 10)
        final = await _seqs_after(reader, start_pos)
        assert len(final) == 80
        assert observed == final
        assert all(x < y for x, y in zip(observed, observed[1:]))
    finally:
        for c in (*writers, reader):
            await c.close()


async def _appointment_of(conn: asyncpg.Connection, patient: str, dentist: str) -> asyncpg.Record:
    return await conn.fetchrow(
        "SELECT a.* FROM appointments a JOIN patients p ON p.id = a.patient_id JOIN dentists d ON d.id = a.dentist_id "
        "WHERE p.name = $1 AND d.name = $2 ORDER BY a.start_at LIMIT 1", patient, dentist,
    )


async def test_move_to_another_dentist_reaches_both_dentists(database_url: str) -> None:
    """Moving an appointment between dentists writes one change_log row whose audience has both dentists."""
    conn = await asyncpg.connect(database_url)
    try:
        smith = await conn.fetchval("SELECT id FROM dentists WHERE name = 'Dr Smith'")
        patel = await conn.fetchval("SELECT id FROM dentists WHERE name = 'Dr Patel'")
        appt = await _appointment_of(conn, "Alice Brown", "Dr Smith")
        pos = await conn.fetchval("SELECT max(seq) FROM change_log")
        await conn.execute("UPDATE appointments SET dentist_id = $1 WHERE id = $2", patel, appt["id"])
        rows = await conn.fetch("SELECT * FROM change_log WHERE seq > $1", pos)
        assert len(rows) == 1
        row = rows[0]
        assert (row["entity"], row["op"], row["entity_id"]) == ("appointment", "upsert", appt["id"])
        assert sorted(row["dentist_ids"]) == sorted([smith, patel])
        assert list(row["patient_ids"]) == [appt["patient_id"]]
        assert '"dentist_id": %d' % patel in row["data"]
    finally:
        await conn.close()


async def test_delete_keeps_the_audience_of_the_deleted_row(database_url: str) -> None:
    """Deleting an appointment logs op 'delete' addressed to its dentist and patient."""
    conn = await asyncpg.connect(database_url)
    try:
        appt = await _appointment_of(conn, "Bob Green", "Dr Patel")
        pos = await conn.fetchval("SELECT max(seq) FROM change_log")
        await conn.execute("DELETE FROM appointments WHERE id = $1", appt["id"])
        rows = await conn.fetch("SELECT * FROM change_log WHERE seq > $1", pos)
        assert len(rows) == 1
        assert (rows[0]["entity"], rows[0]["op"], rows[0]["entity_id"]) == ("appointment", "delete", appt["id"])
        assert list(rows[0]["dentist_ids"]) == [appt["dentist_id"]]
        assert list(rows[0]["patient_ids"]) == [appt["patient_id"]]
        history = await conn.fetch(
            "SELECT action FROM appointment_history WHERE appointment_id = $1 ORDER BY id", appt["id"]
        )
        assert [h["action"] for h in history] == ["created", "deleted"]
    finally:
        await conn.close()


async def test_version_increments_on_a_real_update_only(database_url: str) -> None:
    """An update bumps version by one and logs a change; a no-op update bumps nothing and logs nothing."""
    conn = await asyncpg.connect(database_url)
    try:
        appt = await _appointment_of(conn, "Alice Brown", "Dr Smith")
        assert appt["version"] == 1
        pos = await conn.fetchval("SELECT max(seq) FROM change_log")
        await conn.execute("UPDATE appointments SET notes = notes WHERE id = $1", appt["id"])
        assert await conn.fetchval("SELECT version FROM appointments WHERE id = $1", appt["id"]) == 1
        assert await conn.fetchval("SELECT count(*) FROM change_log WHERE seq > $1", pos) == 0
        await conn.execute("UPDATE appointments SET notes = 'x' WHERE id = $1", appt["id"])
        await conn.execute("UPDATE appointments SET notes = 'y' WHERE id = $1", appt["id"])
        assert await conn.fetchval("SELECT version FROM appointments WHERE id = $1", appt["id"]) == 3
        logged = await conn.fetch("SELECT data FROM change_log WHERE seq > $1 ORDER BY seq", pos)
        assert [json.loads(r["data"])["version"] for r in logged] == [2, 3]
    finally:
        await conn.close()


async def test_appointment_history_records_who_created_and_updated(database_url: str) -> None:
    """appointment_history has a 'created' row per appointment and an 'updated' row naming the acting user."""
    db = Database(DatabaseLocation(database_url), pool_size=1)
    conn = await asyncpg.connect(database_url)
    try:
        appt = await _appointment_of(conn, "Alice Brown", "Dr Smith")
        created = await conn.fetchval("SELECT count(*) FROM appointment_history WHERE action = 'created'")
        assert created == await conn.fetchval("SELECT count(*) FROM appointments") == 4
        admin = await conn.fetchval("SELECT id FROM users WHERE username = 'frontdesk'")
        async with db.transaction(user_id=admin) as sa:
            await sa.execute(text("UPDATE appointments SET notes = 'bring x-rays' WHERE id = :id"), {"id": appt["id"]})
        rows = await conn.fetch(
            "SELECT action, changed_by, old_row->>'notes' AS old, new_row->>'notes' AS new "
            "FROM appointment_history WHERE appointment_id = $1 ORDER BY id", appt["id"],
        )
        assert [(r["action"], r["changed_by"], r["old"], r["new"]) for r in rows][-1] == (
            "updated", admin, "", "bring x-rays",
        )
        assert rows[0]["action"] == "created"
    finally:
        await conn.close()
        await db.close()


async def test_notify_arrives_on_commit_not_before(database_url: str) -> None:
    """A LISTEN connection gets 'clinic_changes' when a writing transaction commits, not while it is open."""
    listener = await asyncpg.connect(database_url)
    writer = await asyncpg.connect(database_url)
    got: asyncio.Queue[str] = asyncio.Queue()
    try:
        await listener.add_listener("clinic_changes", lambda _c, _pid, channel, _payload: got.put_nowait(channel))
        tx = writer.transaction()
        await tx.start()
        await writer.execute("UPDATE chairs SET name = 'Chair One' WHERE id = 1")
        await asyncio.sleep(0.3)
        assert got.empty()
        await tx.commit()
        assert await asyncio.wait_for(got.get(), 5) == "clinic_changes"
    finally:
        await listener.close()
        await writer.close()


@pytest.mark.parametrize("table", ["dentists", "patients", "chairs", "appointment_types", "working_hours"])
async def test_every_synced_table_feeds_the_change_log(database_url: str, table: str) -> None:
    """An update of each synced table appends one upsert with that entity's wire kind and the new version."""
    kinds = {"dentists": "dentist", "patients": "patient", "chairs": "chair",
             "appointment_types": "appointment_type", "working_hours": "working_hours"}
    conn = await asyncpg.connect(database_url)
    try:
        rid = await conn.fetchval(f"SELECT min(id) FROM {table}")
        before = await conn.fetchval(f"SELECT version FROM {table} WHERE id = $1", rid)
        pos = await conn.fetchval("SELECT max(seq) FROM change_log")
        await conn.execute(f"UPDATE {table} SET version = version WHERE id = $1", rid)  # no-op: nothing logged
        await conn.execute(f"UPDATE {table} SET updated_at = now() - interval '1 day' WHERE id = $1", rid)
        rows = await conn.fetch("SELECT entity, op, entity_id, data FROM change_log WHERE seq > $1", pos)
        assert [(r["entity"], r["op"], r["entity_id"]) for r in rows] == [(kinds[table], "upsert", rid)]
        assert json.loads(rows[0]["data"])["version"] == before + 1
    finally:
        await conn.close()
