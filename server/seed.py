"""Users and the demo clinic of DESIGN.md ("Demo data", fixed: the tests rely on it)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, update

from .auth import hash_password
from .db import tables as t
from .db.database import Database

__all__ = ["create_user", "seed_demo", "is_empty", "DEMO_PASSWORD"]

DEMO_PASSWORD = "demo"
DEMO_ZONE = "Europe/London"


async def create_user(
    db: Database,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str,
    phone: str | None = None,
    email: str | None = None,
) -> int:
    """Create a login; a dentist or patient user also gets its dentist or patient record."""
    if role not in {"admin", "dentist", "patient"}:
        raise ValueError("role must be admin, dentist or patient")
    if not username.strip() or len(password) < 4:
        raise ValueError("a username and a password of at least 4 characters are required")
    async with db.transaction() as conn:
        existing = (
            await conn.execute(select(t.users.c.id).where(func.lower(t.users.c.username) == username.lower()))
        ).first()
        if existing is not None:
            raise ValueError(f"user {username!r} already exists")
        user_id = (
            await conn.execute(
                insert(t.users)
                .values(username=username, password_hash=hash_password(password), role=role, display_name=display_name)
                .returning(t.users.c.id)
            )
        ).scalar_one()
        if role == "dentist":
            await conn.execute(insert(t.dentists).values(user_id=user_id, name=display_name))
        elif role == "patient":
            await conn.execute(
                insert(t.patients).values(user_id=user_id, name=display_name, phone=phone, email=email)
            )
    return user_id


async def is_empty(db: Database) -> bool:
    """True when no user exists yet (a fresh install)."""
    return (await db.scalar("SELECT count(*) FROM users")) == 0


def _next_weekdays(today: date, count: int) -> list[date]:
    days: list[date] = []
    d = today
    while len(days) < count:
        d += timedelta(days=1)
        if d.weekday() < 5:
            days.append(d)
    return days


async def seed_demo(db: Database, today: date | None = None) -> None:
    """Insert the demo clinic into an empty database."""
    if not await is_empty(db):
        raise RuntimeError("the database already has users; demo data goes only into an empty one")
    zone = ZoneInfo(DEMO_ZONE)
    today = today or datetime.now(zone).date()
    async with db.transaction() as conn:
        await conn.execute(
            update(t.clinic_settings).values(
                clinic_name="DentalCare Connect Demo", timezone=DEMO_ZONE, slot_minutes=15,
                min_notice_minutes=120, max_advance_days=90, late_cancel_hours=24,
            )
        )
        await conn.execute(insert(t.chairs), [{"name": "Chair 1"}, {"name": "Chair 2"}])
        types = [
            {"name": "Check-up", "duration_minutes": 30, "colour": "#5dade2", "patient_bookable": True},
            {"name": "Cleaning", "duration_minutes": 45, "colour": "#58d68d", "patient_bookable": True},
            {"name": "Filling", "duration_minutes": 60, "colour": "#f5b041", "patient_bookable": True},
            {"name": "Root canal", "duration_minutes": 90, "colour": "#ec7063", "patient_bookable": False},
        ]
        await conn.execute(insert(t.appointment_types), types)
    people = [
        ("frontdesk", "admin", "Front Desk"),
        ("drsmith", "dentist", "Dr Smith"),
        ("drpatel", "dentist", "Dr Patel"),
        ("alice", "patient", "Alice Brown"),
        ("bob", "patient", "Bob Green"),
    ]
    for username, role, name in people:
        await create_user(db, username=username, password=DEMO_PASSWORD, role=role, display_name=name)
    async with db.transaction() as conn:
        dentist_ids = {
            r.name: r.id for r in (await conn.execute(select(t.dentists.c.id, t.dentists.c.name))).all()
        }
        await conn.execute(update(t.dentists).where(t.dentists.c.name == "Dr Patel").values(colour="#8e44ad"))
        await conn.execute(update(t.dentists).where(t.dentists.c.name == "Dr Smith").values(colour="#2e86c1"))
        rows = []
        for dentist_id in dentist_ids.values():
            for weekday in range(5):
                rows.append({"dentist_id": dentist_id, "weekday": weekday, "start_time": time(9), "end_time": time(12)})
                rows.append({"dentist_id": dentist_id, "weekday": weekday, "start_time": time(13), "end_time": time(17)})
        await conn.execute(insert(t.working_hours), rows)
        patient_ids = {r.name: r.id for r in (await conn.execute(select(t.patients.c.id, t.patients.c.name))).all()}
        type_ids = {r.name: (r.id, r.duration_minutes) for r in (await conn.execute(
            select(t.appointment_types.c.id, t.appointment_types.c.name, t.appointment_types.c.duration_minutes)
        )).all()}
        admin_id = (await conn.execute(select(t.users.c.id).where(t.users.c.username == "frontdesk"))).scalar_one()
        d1, d2, d3 = _next_weekdays(today, 3)
        plan = [
            ("Alice Brown", "Dr Smith", "Check-up", d1, time(10, 0), 1),
            ("Bob Green", "Dr Patel", "Cleaning", d1, time(14, 0), 2),
            ("Bob Green", "Dr Smith", "Filling", d2, time(9, 30), 1),
            ("Alice Brown", "Dr Patel", "Cleaning", d3, time(11, 0), 2),
        ]
        appts = []
        for patient, dentist, type_name, day, at, chair in plan:
            type_id, minutes = type_ids[type_name]
            start = datetime.combine(day, at, zone)
            appts.append({
                "patient_id": patient_ids[patient], "dentist_id": dentist_ids[dentist], "chair_id": chair,
                "type_id": type_id, "start_at": start, "end_at": start + timedelta(minutes=minutes),
                "status": "scheduled", "source": "front_desk", "notes": "", "created_by": admin_id,
                "updated_by": admin_id,
            })
        await conn.execute(insert(t.appointments), appts)
