"""The appointment book over the real endpoint: overrides (audited), blockouts, chairs, custom lengths,
waiting-room stamps and find-next-opening filters (issue 16)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from server.protocol import RpcError
from tests.helpers import RpcClient

LONDON = ZoneInfo("Europe/London")
CHECKUP, CLEANING, FILLING = 1, 2, 3


async def refused(coro: Any) -> RpcError:
    with pytest.raises(RpcError) as caught:
        await coro
    return caught.value


def quiet_weekday() -> date:
    """A weekday beyond the demo's own appointments (they lie in the next three weekdays)."""
    day = datetime.now(LONDON).date() + timedelta(days=8)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def at(day: date, hh: int, mm: int = 0) -> str:
    return datetime.combine(day, time(hh, mm), LONDON).isoformat()



async def dentist_ids(admin: RpcClient) -> tuple[int, int]:
    found = await admin.call("directory.get")
    names = {d["name"]: d["id"] for d in found["dentists"]}
    return names["Dr Smith"], names["Dr Patel"]


async def test_override_books_outside_hours_and_over_the_break_and_the_audit_trail_records_it(server, database_url):
    """Outside hours without override: refused; with `override: true`: booked, flagged, and audited."""
    day = quiet_weekday()
    async with RpcClient(server.ws_url) as desk, RpcClient(server.ws_url) as alice:
        await desk.login("frontdesk")
        await alice.login("alice")
        smith, _ = await dentist_ids(desk)
        late = await refused(desk.call("appointments.create", dentist_id=smith, type_id=CHECKUP, patient_id=2,
                                       start=at(day, 17, 30)))
        assert late.reason == "outside_working_hours"
        booked = await desk.call("appointments.create", dentist_id=smith, type_id=CHECKUP, patient_id=2,
                                 start=at(day, 17, 30), override=True)
        assert booked["override"] is True and booked["start"].startswith(day.isoformat())
        over_break = await desk.call("appointments.create", dentist_id=smith, type_id=CHECKUP, patient_id=1,
                                     start=at(day, 12, 15), override=True)
        assert over_break["override"] is True
        # An override asked for but not needed is not recorded as used.
        normal = await desk.call("appointments.create", dentist_id=smith, type_id=CHECKUP, patient_id=1,
                                 start=at(day, 9, 0), override=True)
        assert normal["override"] is False
        # A patient may not override; a clash is never overridable.
        patient_try = await refused(alice.call("appointments.create", dentist_id=smith, type_id=CHECKUP,
                                               start=at(day, 18, 0), override=True))
        assert patient_try.reason == "forbidden"
        clash = await refused(desk.call("appointments.create", dentist_id=smith, type_id=CHECKUP, patient_id=2,
                                        start=at(day, 17, 30), override=True))
        assert clash.reason == "slot_unavailable"
        # Moving the override booking back inside the hours clears the flag, in an audited non-override write.
        moved = await desk.call("appointments.update", id=booked["id"], version=booked["version"], start=at(day, 16, 0))
        assert moved["override"] is False
    conn = await asyncpg.connect(database_url)
    try:
        admin_id = await conn.fetchval("SELECT id FROM users WHERE username = 'frontdesk'")
        rows = await conn.fetch("SELECT appointment_id, action, override, changed_by FROM appointment_history "
                                "WHERE appointment_id = ANY($1::bigint[]) ORDER BY id",
                                [booked["id"], over_break["id"], normal["id"]])
        trail = [(r["appointment_id"], r["action"], r["override"], r["changed_by"]) for r in rows]
        assert trail == [(booked["id"], "created", True, admin_id), (over_break["id"], "created", True, admin_id),
                         (normal["id"], "created", False, admin_id), (booked["id"], "updated", False, admin_id)]
    finally:
        await conn.close()


async def test_blockout_closes_time_to_online_booking_and_staff_need_an_override(server):
    """A meeting blockout: gone from the patient's slots, refused to the patient, staff only with override;
    a "new patients only" block (allow_online) stays bookable online."""
    day = quiet_weekday()
    async with RpcClient(server.ws_url) as desk, RpcClient(server.ws_url) as alice:
        await desk.login("frontdesk")
        await alice.login("alice")
        smith, _ = await dentist_ids(desk)
        snapshot = (await desk.subscribe())["snapshot"]
        kinds = {t["name"]: t for t in snapshot["blockout_type"]}
        assert set(kinds) == {"Meeting", "Emergency reserve", "New patients only", "Lunch"}
        assert kinds["New patients only"]["allow_online"] and not kinds["Meeting"]["allow_online"]

        meeting = await desk.call("blockouts.add", dentist_id=smith, type_id=kinds["Meeting"]["id"],
                                  start=at(day, 10), end=at(day, 11), note="Team huddle")
        assert meeting["note"] == "Team huddle" and meeting["dentist_id"] == smith
        newcomers = await desk.call("blockouts.add", dentist_id=smith, type_id=kinds["New patients only"]["id"],
                                    start=at(day, 14), end=at(day, 15))

        slots = await alice.call("slots.find", type_id=CHECKUP, dentist_id=smith,
                                 **{"from": day.isoformat(), "to": day.isoformat()})
        starts = {datetime.fromisoformat(s["start"]).astimezone(LONDON).strftime("%H:%M") for s in slots}
        assert "09:30" in starts and "11:00" in starts and "14:00" in starts
        assert not starts & {"09:45", "10:00", "10:30"}  # a check-up from 09:45 would run into the meeting

        online = await refused(alice.call("appointments.create", dentist_id=smith, type_id=CHECKUP,
                                          start=at(day, 10, 15)))
        assert online.reason == "outside_working_hours" and "Meeting" in online.message
        staff = await refused(desk.call("appointments.create", dentist_id=smith, type_id=CHECKUP, patient_id=2,
                                        start=at(day, 10, 15)))
        assert staff.reason == "outside_working_hours" and "override" in staff.message
        forced = await desk.call("appointments.create", dentist_id=smith, type_id=CHECKUP, patient_id=2,
                                 start=at(day, 10, 15), override=True)
        assert forced["override"] is True
        welcome = await alice.call("appointments.create", dentist_id=smith, type_id=CHECKUP, start=at(day, 14, 0))
        assert welcome["override"] is False

        # The patient's feed carries the blockout without its staff-only note.
        alice_view = (await alice.subscribe())["snapshot"]["blockout"]
        assert {b["id"]: b["note"] for b in alice_view} == {meeting["id"]: "", newcomers["id"]: ""}

        gone = await refused(alice.call("blockouts.add", dentist_id=smith, type_id=kinds["Meeting"]["id"],
                                        start=at(day, 15), end=at(day, 16)))
        assert gone.reason == "forbidden"
        assert await desk.call("blockouts.delete", id=meeting["id"]) == {"ok": True}
        again = await alice.call("slots.find", type_id=CHECKUP, dentist_id=smith,
                                 **{"from": day.isoformat(), "to": day.isoformat()})
        # 09:45 is free again (the overridden 10:15 booking still holds 10:15-10:45).
        assert "09:45" in {datetime.fromisoformat(s["start"]).astimezone(LONDON).strftime("%H:%M") for s in again}
        bad = await refused(desk.call("blockouts.add", dentist_id=smith, type_id=kinds["Lunch"]["id"],
                                      start=at(day, 13), end=at(day, 12)))
        assert bad.reason == "invalid_params" and "end" in bad.extra["fields"]


async def test_a_chair_in_use_is_refused_by_the_server_and_bookings_get_the_default_chair(server):
    """Two dentists cannot share a chair at once (rules and the exclusion constraint); no chair given: the
    dentist's default chair; a busy default chair leaves the booking without one rather than refusing it."""
    day = quiet_weekday()
    async with RpcClient(server.ws_url) as desk:
        await desk.login("frontdesk")
        smith, patel = await dentist_ids(desk)
        snapshot = (await desk.subscribe())["snapshot"]
        chairs = {c["name"]: c["id"] for c in snapshot["chair"]}
        defaults = {d["id"]: d["default_chair_id"] for d in snapshot["dentist"]}
        assert defaults == {smith: chairs["Chair 1"], patel: chairs["Chair 2"]}

        first = await desk.call("appointments.create", dentist_id=smith, type_id=FILLING, patient_id=1,
                                chair_id=chairs["Chair 3"], start=at(day, 9))
        clash = await refused(desk.call("appointments.create", dentist_id=patel, type_id=CHECKUP, patient_id=2,
                                        chair_id=chairs["Chair 3"], start=at(day, 9, 30)))
        assert clash.reason == "slot_unavailable" and "chair" in clash.message
        # Without a chair: Dr Patel's default, Chair 2.
        second = await desk.call("appointments.create", dentist_id=patel, type_id=CHECKUP, patient_id=2,
                                 start=at(day, 9, 30))
        assert second["chair_id"] == chairs["Chair 2"]
        # Moving it into the chair Dr Smith is using: refused, with the reason.
        moved = await refused(desk.call("appointments.update", id=second["id"], version=second["version"],
                                        chair_id=chairs["Chair 3"]))
        assert moved.reason == "slot_unavailable" and "chair" in moved.message
        # Dr Smith's default chair held by Dr Patel: a booking for Dr Smith there goes ahead without a chair.
        patel_in_1 = await desk.call("appointments.create", dentist_id=patel, type_id=CHECKUP, patient_id=2,
                                     chair_id=chairs["Chair 1"], start=at(day, 14))
        chairless = await desk.call("appointments.create", dentist_id=smith, type_id=CHECKUP, patient_id=1,
                                    start=at(day, 14))
        assert patel_in_1["chair_id"] == chairs["Chair 1"] and chairless["chair_id"] is None
        # Find-opening's chair filter: Chair 3's 09:00-10:00 is not free for anyone.
        free = await desk.call("slots.find", type_id=CHECKUP, chair_id=chairs["Chair 3"],
                               **{"from": day.isoformat(), "to": day.isoformat()})
        hours = {datetime.fromisoformat(s["start"]).astimezone(LONDON).strftime("%H:%M") for s in free}
        assert "09:00" not in hours and "09:30" not in hours and "10:00" in hours
        assert first["chair_id"] == chairs["Chair 3"]


async def test_the_database_refuses_a_chair_overlap_even_past_the_rules(database_url):
    """The exclusion constraint is the final word: a direct insert into an occupied chair fails."""
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT * FROM appointments WHERE chair_id IS NOT NULL ORDER BY id LIMIT 1")
        other = await conn.fetchval("SELECT id FROM dentists WHERE id <> $1 LIMIT 1", row["dentist_id"])
        other_patient = await conn.fetchval("SELECT id FROM patients WHERE id <> $1 LIMIT 1", row["patient_id"])
        with pytest.raises(asyncpg.ExclusionViolationError):
            await conn.execute(
                "INSERT INTO appointments (patient_id, dentist_id, chair_id, type_id, start_at, end_at, source) "
                "VALUES ($1, $2, $3, $4, $5, $6, 'front_desk')",
                other_patient, other, row["chair_id"], row["type_id"], row["start_at"], row["end_at"])
    finally:
        await conn.close()


async def test_custom_length_is_staff_only_in_slot_steps_and_survives_a_move(server):
    day = quiet_weekday()
    async with RpcClient(server.ws_url) as desk, RpcClient(server.ws_url) as alice:
        await desk.login("frontdesk")
        await alice.login("alice")
        smith, _ = await dentist_ids(desk)
        long = await desk.call("appointments.create", dentist_id=smith, type_id=CHECKUP, patient_id=2,
                               start=at(day, 9), duration_minutes=45)
        length = lambda a: (datetime.fromisoformat(a["end"]) - datetime.fromisoformat(a["start"])).seconds // 60
        assert long["duration_minutes"] == 45 and length(long) == 45
        resized = await desk.call("appointments.update", id=long["id"], version=long["version"], duration_minutes=60)
        assert length(resized) == 60
        moved = await desk.call("appointments.update", id=resized["id"], version=resized["version"],
                                start=at(day, 13, 0))
        assert length(moved) == 60 and moved["duration_minutes"] == 60
        odd = await refused(desk.call("appointments.update", id=moved["id"], version=moved["version"],
                                      duration_minutes=50))
        assert odd.reason == "invalid_params" and "duration_minutes" in odd.extra["fields"]
        # Resizing into the break is refused (outside hours), like any booking.
        into_break = await refused(desk.call("appointments.create", dentist_id=smith, type_id=CHECKUP, patient_id=1,
                                             start=at(day, 11, 30), duration_minutes=60))
        assert into_break.reason == "outside_working_hours"
        patient = await refused(alice.call("appointments.create", dentist_id=smith, type_id=CHECKUP,
                                           start=at(day, 15), duration_minutes=60))
        assert patient.reason == "forbidden"
        # A 90-minute opening search skips times where only the type's 30 minutes would fit.
        free = await desk.call("slots.find", type_id=CHECKUP, dentist_id=smith, duration_minutes=90,
                               **{"from": day.isoformat(), "to": day.isoformat()})
        for s in free:
            assert (datetime.fromisoformat(s["end"]) - datetime.fromisoformat(s["start"])) == timedelta(minutes=90)
        assert "11:00" not in {datetime.fromisoformat(s["start"]).astimezone(LONDON).strftime("%H:%M") for s in free}


async def test_check_in_seat_and_complete_stamp_their_times(server):
    """Arrival, seating and completion are stamped; an undo of the check-in clears the arrival."""
    now = datetime.now(LONDON)
    start = (now + timedelta(minutes=45)).replace(second=0, microsecond=0)
    start = start.replace(minute=start.minute - start.minute % 15)
    async with RpcClient(server.ws_url) as desk:
        await desk.login("frontdesk")
        smith, _ = await dentist_ids(desk)
        appt = await desk.call("appointments.create", dentist_id=smith, type_id=CHECKUP, patient_id=2,
                               start=start.isoformat(), override=True)
        assert appt["arrived_at"] is None
        arrived = await desk.call("appointments.update", id=appt["id"], version=appt["version"], status="checked_in")
        assert arrived["arrived_at"] is not None and arrived["in_chair_at"] is None
        if datetime.fromisoformat(arrived["arrived_at"]).astimezone(LONDON).date() == start.date():
            undone = await desk.call("appointments.update", id=arrived["id"], version=arrived["version"],
                                     status="scheduled")
            assert undone["arrived_at"] is None
            arrived = await desk.call("appointments.update", id=undone["id"], version=undone["version"],
                                      status="checked_in")
        seated = await desk.call("appointments.update", id=arrived["id"], version=arrived["version"], status="in_chair")
        assert seated["in_chair_at"] is not None and seated["arrived_at"] == arrived["arrived_at"]
        done = await desk.call("appointments.update", id=seated["id"], version=seated["version"], status="completed")
        assert done["completed_at"] is not None and done["in_chair_at"] == seated["in_chair_at"]


async def test_chairs_are_the_admins_to_add_rename_and_retire(server):
    async with RpcClient(server.ws_url) as desk, RpcClient(server.ws_url) as smith:
        await desk.login("frontdesk")
        await smith.login("drsmith")
        chair = await desk.call("chairs.create", name="  Hygiene   room ")
        assert chair["name"] == "Hygiene room" and chair["active"] is True
        renamed = await desk.call("chairs.update", id=chair["id"], version=chair["version"], name="Hygiene 1")
        assert renamed["name"] == "Hygiene 1" and renamed["version"] > chair["version"]
        stale = await refused(desk.call("chairs.update", id=chair["id"], version=chair["version"], active=False))
        assert stale.reason == "version_conflict" and stale.extra["current"]["name"] == "Hygiene 1"
        retired = await desk.call("chairs.update", id=chair["id"], version=renamed["version"], active=False)
        assert retired["active"] is False
        taken = await refused(desk.call("chairs.create", name="Chair 1"))
        assert taken.reason == "invalid_params" and "name" in taken.extra["fields"]
        assert (await refused(smith.call("chairs.create", name="Mine"))).reason == "forbidden"
        patel = {d["name"]: d["id"] for d in (await desk.call("directory.get"))["dentists"]}["Dr Patel"]
        moved = await desk.call("dentists.set_default_chair", dentist_id=patel, chair_id=None)
        assert moved["default_chair_id"] is None
        nope = await refused(desk.call("dentists.set_default_chair", dentist_id=patel, chair_id=chair["id"]))
        assert nope.reason == "not_found"  # a retired chair takes no new work


async def test_the_working_day_demo_is_busy_across_every_status(database_url):
    """`seed_working_day` (clinic-server --demo) at 10:40 on a Wednesday: twenty more patients without
    logins, the fortnight about 60 % booked, and today done, no-show, in the chair, waiting and expected."""
    from server.db.database import Database, DatabaseLocation
    from server.seed import seed_working_day

    now = datetime.now(LONDON)
    wednesday = (now + timedelta(days=(2 - now.weekday()) % 7 + 7)).date()
    at_1040 = datetime.combine(wednesday, time(10, 40), LONDON)
    db = Database(DatabaseLocation(database_url))
    try:
        added = await seed_working_day(db, now=at_1040)
    finally:
        await db.close()
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM patients WHERE user_id IS NULL") == 20
        rows = await conn.fetch("SELECT status, start_at, end_at, arrived_at FROM appointments WHERE start_at >= $1",
                                datetime.combine(wednesday, time(0), LONDON))
        assert len(rows) >= added > 50
        today = [r for r in rows if r["start_at"].astimezone(LONDON).date() == wednesday]
        statuses = {r["status"] for r in today}
        assert {"completed", "no_show", "in_chair", "confirmed"} <= statuses, statuses
        assert all(r["arrived_at"] is not None for r in today if r["status"] in ("checked_in", "in_chair"))
        # About 60 % of the two dentists' working time (7 hours a weekday) over the fortnight is booked.
        booked = sum((r["end_at"] - r["start_at"]).total_seconds() for r in rows if r["status"] != "cancelled")
        weekdays = sum(1 for n in range(15) if (wednesday + timedelta(days=n)).weekday() < 5)
        share = booked / (weekdays * 2 * 7 * 3600)
        assert 0.4 <= share <= 0.8, share
        assert await conn.fetchval("SELECT count(*) FROM blockouts") >= weekdays
    finally:
        await conn.close()
