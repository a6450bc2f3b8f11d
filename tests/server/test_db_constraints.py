"""Double booking is impossible in the database itself: the EXCLUDE constraints under real concurrency."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest
import sqlalchemy.exc
from sqlalchemy import text

from server.db.database import Database, sqlstate_of
from server.db.embedded import DatabaseLocation

N = 20
BASE = datetime(2031, 1, 7, 10, 0, tzinfo=timezone.utc)  # far from the seeded appointments

INSERT = """
INSERT INTO appointments (patient_id, dentist_id, chair_id, type_id, start_at, end_at, status, source)
VALUES ($1, $2, $3, 1, $4, $5, $6, 'front_desk') RETURNING id
"""


async def _make_people(conn: asyncpg.Connection, n: int) -> tuple[list[int], list[int]]:
    """n extra patients and n extra dentists (no logins)."""
    patients = [await conn.fetchval("INSERT INTO patients (name) VALUES ($1) RETURNING id", f"P{i}") for i in range(n)]
    dentists = [await conn.fetchval("INSERT INTO dentists (name) VALUES ($1) RETURNING id", f"D{i}") for i in range(n)]
    return patients, dentists


async def _race(database_url: str, rows: list[tuple[Any, ...]]) -> list[BaseException | int]:
    """Insert each row in its own connection; all start together once every connection is open."""
    conns = [await asyncpg.connect(database_url) for _ in rows]
    go = asyncio.Event()
    ready = 0

    async def worker(conn: asyncpg.Connection, row: tuple[Any, ...]) -> int:
        nonlocal ready
        ready += 1
        if ready == len(rows):
            go.set()
        await go.wait()
        async with conn.transaction():
            return await conn.fetchval(INSERT, *row)

    try:
        return await asyncio.wait_for(
            asyncio.gather(*(worker(c, r) for c, r in zip(conns, rows)), return_exceptions=True), 60
        )
    finally:
        for c in conns:
            await c.close()


def _assert_one_winner(results: list[BaseException | int]) -> None:
    winners = [r for r in results if isinstance(r, int)]
    losers = [r for r in results if not isinstance(r, int)]
    assert len(winners) == 1, results
    assert len(losers) == N - 1
    for exc in losers:
        assert isinstance(exc, asyncpg.exceptions.ExclusionViolationError), repr(exc)
        assert exc.sqlstate == "23P01"


async def _count_in_window(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(
            "SELECT count(*) FROM appointments WHERE start_at >= $1 AND start_at < $2",
            BASE - timedelta(hours=1), BASE + timedelta(hours=2),
        )
    finally:
        await conn.close()


async def _overlap_through_sqlalchemy(database_url: str, patient: int, dentist: int, chair: int | None) -> str | None:
    """One more overlapping insert through the server's Database; the SQLSTATE it maps to."""
    db = Database(DatabaseLocation(database_url), pool_size=1)
    try:
        with pytest.raises(sqlalchemy.exc.DBAPIError) as info:
            async with db.transaction() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO appointments (patient_id, dentist_id, chair_id, type_id, start_at, end_at, source) "
                        "VALUES (:p, :d, :c, 1, :s, :e, 'front_desk')"
                    ),
                    {"p": patient, "d": dentist, "c": chair, "s": BASE + timedelta(minutes=5),
                     "e": BASE + timedelta(minutes=35)},
                )
        return sqlstate_of(info.value)
    finally:
        await db.close()


def _slot(i: int) -> tuple[datetime, datetime]:
    """Pairwise-overlapping 30-minute ranges: i minutes after BASE (i < 30)."""
    start = BASE + timedelta(minutes=i)
    return start, start + timedelta(minutes=30)


async def test_twenty_concurrent_bookings_of_one_dentist_one_wins(database_url: str) -> None:
    """20 concurrent overlapping bookings of one dentist (different patients, no chair): one commits, 19 get 23P01."""
    conn = await asyncpg.connect(database_url)
    try:
        patients, _ = await _make_people(conn, N)
    finally:
        await conn.close()
    results = await _race(database_url, [(patients[i], 1, None, *_slot(i), "scheduled") for i in range(N)])
    _assert_one_winner(results)
    assert await _count_in_window(database_url) == 1
    assert await _overlap_through_sqlalchemy(database_url, patients[0], 1, None) == "23P01"


async def test_twenty_concurrent_bookings_of_one_patient_one_wins(database_url: str) -> None:
    """20 concurrent overlapping bookings of one patient with 20 different dentists: one commits, 19 get 23P01."""
    conn = await asyncpg.connect(database_url)
    try:
        _, dentists = await _make_people(conn, N)
    finally:
        await conn.close()
    results = await _race(database_url, [(1, dentists[i], None, *_slot(i), "scheduled") for i in range(N)])
    _assert_one_winner(results)
    assert await _count_in_window(database_url) == 1
    assert await _overlap_through_sqlalchemy(database_url, 1, dentists[0], None) == "23P01"


async def test_twenty_concurrent_bookings_of_one_chair_one_wins(database_url: str) -> None:
    """20 concurrent overlapping bookings of one chair (different dentists and patients): one commits, 19 get 23P01."""
    conn = await asyncpg.connect(database_url)
    try:
        patients, dentists = await _make_people(conn, N)
    finally:
        await conn.close()
    results = await _race(database_url, [(patients[i], dentists[i], 1, *_slot(i), "confirmed") for i in range(N)])
    _assert_one_winner(results)
    assert await _count_in_window(database_url) == 1
    assert await _overlap_through_sqlalchemy(database_url, patients[0], dentists[0], 1) == "23P01"


async def test_different_dentists_patients_and_chairs_do_not_conflict(database_url: str) -> None:
    """Overlapping bookings that share no dentist, patient or chair all commit (the constraint is not too wide)."""
    conn = await asyncpg.connect(database_url)
    try:
        patients, dentists = await _make_people(conn, N)
    finally:
        await conn.close()
    rows = [(patients[i], dentists[i], 1 if i == 0 else (2 if i == 1 else None), *_slot(i), "scheduled")
            for i in range(N)]
    results = await _race(database_url, rows)
    assert all(isinstance(r, int) for r in results), results
    assert await _count_in_window(database_url) == N


async def test_cancelled_and_no_show_appointments_do_not_block(database_url: str) -> None:
    """Cancelled and no-show rows free the slot; reviving a cancelled one into a taken slot fails with 23P01."""
    conn = await asyncpg.connect(database_url)
    try:
        start, end = _slot(0)
        cancelled = await conn.fetchval(INSERT, 1, 1, 1, start, end, "cancelled")
        await conn.fetchval(INSERT, 1, 1, 1, start, end, "cancelled")  # two cancelled overlap: fine
        await conn.fetchval(INSERT, 1, 1, 1, start, end, "no_show")
        live = await conn.fetchval(INSERT, 1, 1, 1, start, end, "scheduled")
        assert live is not None
        with pytest.raises(asyncpg.exceptions.ExclusionViolationError):
            await conn.execute("UPDATE appointments SET status = 'scheduled' WHERE id = $1", cancelled)
        await conn.execute("UPDATE appointments SET status = 'cancelled' WHERE id = $1", live)
        await conn.execute("UPDATE appointments SET status = 'scheduled' WHERE id = $1", cancelled)
        # Back-to-back is not an overlap: [10:00, 10:30) and [10:30, 11:00).
        await conn.fetchval(INSERT, 1, 1, 1, end, end + timedelta(minutes=30), "scheduled")
    finally:
        await conn.close()
