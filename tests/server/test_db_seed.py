"""The demo clinic that `seed_demo` writes (DESIGN.md "Demo data"): the other tests rely on it."""

from __future__ import annotations

from datetime import time

import asyncpg

from server.auth import verify_password


async def test_demo_users_have_their_roles_and_the_demo_password(database_url: str) -> None:
    """frontdesk/drsmith/drpatel/alice/bob exist with their roles, and the password "demo" verifies."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT username, role, password_hash, active FROM users ORDER BY id")
        roles = {r["username"]: r["role"] for r in rows}
        assert roles == {
            "frontdesk": "admin", "drsmith": "dentist", "drpatel": "dentist", "alice": "patient", "bob": "patient",
        }
        for r in rows:
            assert r["active"]
            assert verify_password(r["password_hash"], "demo"), r["username"]
            assert not verify_password(r["password_hash"], "wrong"), r["username"]
        dentists = await conn.fetch(
            "SELECT u.username FROM dentists d JOIN users u ON u.id = d.user_id ORDER BY u.username"
        )
        assert [r["username"] for r in dentists] == ["drpatel", "drsmith"]
        patients = await conn.fetch(
            "SELECT u.username FROM patients p JOIN users u ON u.id = p.user_id ORDER BY u.username"
        )
        assert [r["username"] for r in patients] == ["alice", "bob"]
    finally:
        await conn.close()


async def test_demo_appointment_types_and_durations(database_url: str) -> None:
    """Four types of 30/45/60/90 minutes; only Root canal is not patient-bookable."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT name, duration_minutes, patient_bookable FROM appointment_types ORDER BY id")
        assert [(r["name"], r["duration_minutes"], r["patient_bookable"]) for r in rows] == [
            ("Check-up", 30, True), ("Cleaning", 45, True), ("Filling", 60, True), ("Root canal", 90, False),
        ]
    finally:
        await conn.close()


async def test_demo_working_hours_are_weekdays_with_a_lunch_break(database_url: str) -> None:
    """Both dentists work Mon-Fri 09:00-12:00 and 13:00-17:00, and never at the weekend."""
    conn = await asyncpg.connect(database_url)
    try:
        dentists = await conn.fetch("SELECT id FROM dentists")
        assert len(dentists) == 2
        for d in dentists:
            rows = await conn.fetch(
                "SELECT weekday, start_time, end_time FROM working_hours WHERE dentist_id = $1 "
                "ORDER BY weekday, start_time", d["id"],
            )
            expected = [
                (wd, start, end) for wd in range(5) for start, end in ((time(9), time(12)), (time(13), time(17)))
            ]
            assert [(r["weekday"], r["start_time"], r["end_time"]) for r in rows] == expected
        tz = await conn.fetchval("SELECT timezone FROM clinic_settings")
        assert tz == "Europe/London"
    finally:
        await conn.close()
