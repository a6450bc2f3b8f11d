"""Users and the demo clinic of DESIGN.md ("Demo data", fixed: the tests rely on it)."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, update

from .auth import hash_password
from .db import tables as t
from .db.database import Database

__all__ = ["BLOCKOUT_TYPES", "DEMO_PASSWORD", "create_user", "is_empty", "seed_demo", "seed_working_day"]

# The kinds of blocked time a clinic uses; `allow_online`: whether online and assistant bookings may use it.
BLOCKOUT_TYPES = [
    {"name": "Meeting", "colour": "#95a5a6", "allow_online": False},
    {"name": "Emergency reserve", "colour": "#e74c3c", "allow_online": False},
    {"name": "New patients only", "colour": "#1abc9c", "allow_online": True},
    {"name": "Lunch", "colour": "#f0e68c", "allow_online": False},
]

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
        await conn.execute(insert(t.chairs), [{"name": "Chair 1"}, {"name": "Chair 2"}, {"name": "Chair 3"}])
        await conn.execute(insert(t.blockout_types), BLOCKOUT_TYPES)
        types = [
            {"name": "Check-up", "duration_minutes": 30, "colour": "#5dade2", "patient_bookable": True},
            {"name": "Cleaning", "duration_minutes": 45, "colour": "#58d68d", "patient_bookable": True},
            {"name": "Filling", "duration_minutes": 60, "colour": "#f5b041", "patient_bookable": True},
            {"name": "Root canal", "duration_minutes": 90, "colour": "#ec7063", "patient_bookable": False},
        ]
        await conn.execute(insert(t.appointment_types), types)
        # Check-ups and cleanings bring the patient back: the recall list's default interval (0006).
        await conn.execute(update(t.appointment_types).where(t.appointment_types.c.name.in_(("Check-up", "Cleaning")))
                           .values(recall_months=6))
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
        chair_ids = {r.name: r.id for r in (await conn.execute(select(t.chairs.c.id, t.chairs.c.name))).all()}
        for dentist, chair in (("Dr Smith", "Chair 1"), ("Dr Patel", "Chair 2")):
            await conn.execute(update(t.dentists).where(t.dentists.c.name == dentist)
                               .values(default_chair_id=chair_ids[chair]))
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


# About twenty patients without logins, for the working day (DESIGN.md "Demo data"); 07700 900xxx numbers
# are reserved for drama, so no real phone rings.
DEMO_PATIENTS = [
    "Amelia Clarke", "Oliver Hughes", "Isla Morgan", "George Patel", "Ava Thompson", "Noah Wright",
    "Mia Robinson", "Leo Walker", "Grace Turner", "Harry Wood", "Freya Edwards", "Jack Harris",
    "Emily Cooper", "Oscar King", "Sophie Baker", "Charlie Hall", "Poppy Allen", "Alfie Young",
    "Lily Mitchell", "Thomas Scott",
]


def _working_day_plan(rng: random.Random, day: date, periods: list[tuple[time, time]],
                      skip: list[tuple[time, time]], durations: dict[str, int]) -> list[tuple[str, time]]:
    """(type name, start) for one dentist's day, about 60 % of the time booked, none in `skip`."""
    plan = []
    for lo, hi in periods:
        at = datetime.combine(day, lo)
        end = datetime.combine(day, hi)
        while at < end:
            if rng.random() < 0.4:
                at += timedelta(minutes=rng.choice((15, 30, 45)))
                continue
            name = rng.choices(list(durations), weights=(5, 4, 3, 1))[0]
            finish = at + timedelta(minutes=durations[name])
            blocked = any(datetime.combine(day, a) < finish and at < datetime.combine(day, b) for a, b in skip)
            if finish <= end and not blocked:
                plan.append((name, at.time()))
                at = finish
            else:
                at += timedelta(minutes=15)
    return plan


async def seed_working_day(db: Database, now: datetime | None = None) -> int:
    """Make the demo look like a clinic at work (run by `clinic-server --demo` after `seed_demo`): twenty
    more patients, a few blockouts, and today and the next two weeks about 60 % booked, today across
    every status relative to `now` (done, no-show, in the chair, waiting, expected, cancelled).
    Returns how many appointments it added."""
    zone = ZoneInfo(DEMO_ZONE)
    now = (now or datetime.now(zone)).astimezone(zone)
    today = now.date()
    rng = random.Random(today.toordinal())
    async with db.transaction() as conn:
        admin_id = (await conn.execute(select(t.users.c.id).where(t.users.c.username == "frontdesk"))).scalar_one()
        await conn.execute(insert(t.patients), [
            {"name": name, "phone": f"07700 900{100 + i:03d}",
             "email": f"{name.split()[0].lower()}.{name.split()[1].lower()}@example.org" if i % 3 else None}
            for i, name in enumerate(DEMO_PATIENTS)])
        patients = list((await conn.execute(select(t.patients.c.id).where(t.patients.c.user_id.is_(None))
                                            .order_by(t.patients.c.id))).scalars())
        dentists = {r.name: (r.id, r.default_chair_id) for r in (await conn.execute(
            select(t.dentists.c.id, t.dentists.c.name, t.dentists.c.default_chair_id))).all()}
        types = {r.name: (r.id, r.duration_minutes) for r in (await conn.execute(
            select(t.appointment_types.c.id, t.appointment_types.c.name, t.appointment_types.c.duration_minutes)
            .order_by(t.appointment_types.c.id))).all()}
        blockout_types = {r.name: r.id for r in (await conn.execute(
            select(t.blockout_types.c.id, t.blockout_types.c.name))).all()}
        taken = {(r.patient_id, r.start_at.astimezone(zone).date()) for r in (await conn.execute(
            select(t.appointments.c.patient_id, t.appointments.c.start_at))).all()}
        existing = [(r.dentist_id, r.start_at, r.end_at) for r in (await conn.execute(
            select(t.appointments.c.dentist_id, t.appointments.c.start_at, t.appointments.c.end_at))).all()]

        days = [today + timedelta(days=n) for n in range(15) if (today + timedelta(days=n)).weekday() < 5]
        blockouts = []
        reserve = (time(16), time(17))  # Dr Patel keeps the last hour free for emergencies
        meeting_day = next((d for d in days if d.weekday() == 4 and d > today), days[-1] if days else None)
        for day in days:
            blockouts.append({"dentist_id": dentists["Dr Patel"][0], "type_id": blockout_types["Emergency reserve"],
                              "start_at": datetime.combine(day, reserve[0], zone),
                              "end_at": datetime.combine(day, reserve[1], zone), "note": "Keep free for emergencies",
                              "created_by": admin_id})
        if meeting_day is not None:
            blockouts.append({"dentist_id": None, "type_id": blockout_types["Meeting"],
                              "start_at": datetime.combine(meeting_day, time(13), zone),
                              "end_at": datetime.combine(meeting_day, time(14), zone), "note": "Practice meeting",
                              "created_by": admin_id})
        newcomers = next((d for d in days if d.weekday() == 3), None)
        if newcomers is not None:
            blockouts.append({"dentist_id": dentists["Dr Smith"][0], "type_id": blockout_types["New patients only"],
                              "start_at": datetime.combine(newcomers, time(9), zone),
                              "end_at": datetime.combine(newcomers, time(10), zone), "note": "",
                              "created_by": admin_id})
        if blockouts:
            await conn.execute(insert(t.blockouts), blockouts)

        durations = {name: minutes for name, (_, minutes) in types.items()}
        rows = []
        for day in days:
            for dentist, (dentist_id, chair_id) in sorted(dentists.items()):
                skip = [reserve] if dentist == "Dr Patel" else []
                if day == meeting_day:
                    skip.append((time(13), time(14)))
                if day == newcomers and dentist == "Dr Smith":
                    skip.append((time(9), time(10)))
                for type_name, at in _working_day_plan(rng, day, [(time(9), time(12)), (time(13), time(17))], skip,
                                                       durations):
                    type_id, minutes = types[type_name]
                    start = datetime.combine(day, at, zone)
                    end = start + timedelta(minutes=minutes)
                    if any(d == dentist_id and s < end and start < e for d, s, e in existing):
                        continue
                    free = [p for p in patients if (p, day) not in taken]
                    if not free:
                        continue
                    patient_id = rng.choice(free)
                    taken.add((patient_id, day))
                    existing.append((dentist_id, start, end))
                    rows.append({"patient_id": patient_id, "dentist_id": dentist_id, "chair_id": chair_id,
                                 "type_id": type_id, "start_at": start, "end_at": end,
                                 "source": rng.choice(("front_desk", "front_desk", "patient")),
                                 "notes": rng.choice(("", "", "", "Nervous patient", "Prefers mornings",
                                                      "Allergic to latex", "Bring X-rays")),
                                 "created_by": admin_id, "updated_by": admin_id, "arrived_at": None,
                                 "in_chair_at": None, "completed_at": None, "cancel_reason": None,
                                 **_demo_status(rng, start, end, now)})
        # Every status shows on the day it runs: when the morning has passed without a no-show, its
        # first completed appointment becomes one.
        done = [r for r in rows if r["status"] == "completed" and r["start_at"].date() == today]
        if done and not any(r["status"] == "no_show" for r in rows):
            done[0].update(status="no_show", arrived_at=None, in_chair_at=None, completed_at=None)
        # And someone is in the chair while the clinic is open: when nobody's appointment is running, the
        # next patient in the waiting room has just been seated early.
        if not any(r["status"] == "in_chair" for r in rows):
            waiting = sorted((r for r in rows if r["status"] == "checked_in"), key=lambda r: r["start_at"])
            if waiting:
                waiting[0].update(status="in_chair", in_chair_at=now - timedelta(minutes=2))
        if rows:
            await conn.execute(insert(t.appointments), rows)
    return len(rows)


def _demo_status(rng: random.Random, start: datetime, end: datetime, now: datetime) -> dict:
    """Where an appointment of the working day stands at `now`, with the waiting-room times to match."""
    if end <= now:  # over: done, now and then a no-show
        if rng.random() < 0.12:
            return {"status": "no_show"}
        return {"status": "completed", "arrived_at": start - timedelta(minutes=rng.randint(2, 12)),
                "in_chair_at": start + timedelta(minutes=rng.randint(0, 5)), "completed_at": end}
    if start <= now:  # running now
        return {"status": "in_chair", "arrived_at": start - timedelta(minutes=rng.randint(3, 10)),
                "in_chair_at": start + timedelta(minutes=rng.randint(0, 4))}
    if start - now <= timedelta(minutes=40):  # due soon: most are already in the waiting room
        if rng.random() < 0.75:
            return {"status": "checked_in",
                    "arrived_at": now - timedelta(minutes=rng.randint(1, 14))}
        return {"status": "confirmed"}
    roll = rng.random()
    if roll < 0.06:
        return {"status": "cancelled", "cancel_reason": rng.choice(("Unwell", "Work", "Childcare"))}
    if roll < 0.6:
        return {"status": "confirmed"}
    return {"status": "scheduled"}
