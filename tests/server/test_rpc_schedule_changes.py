"""Changes to the schedule over the real RPC endpoint: stranded appointments, private day-off reasons, status undo."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from server.protocol import RpcError
from tests.helpers import RpcClient

LONDON = ZoneInfo("Europe/London")
WEEKLY = [{"weekday": d, "start": s, "end": e} for d in range(5) for s, e in (("09:00", "12:00"), ("13:00", "17:00"))]


async def refused(coro: Any) -> RpcError:
    """The RpcError a call raises (the test fails if the call succeeds)."""
    with pytest.raises(RpcError) as caught:
        await coro
    return caught.value


def a_weekday_ahead(days: int = 9) -> date:
    day = date.today() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def whole_day(day: date) -> dict[str, str]:
    start = datetime.combine(day, time(0), LONDON)
    return {"start": start.isoformat(), "end": (start + timedelta(days=1)).isoformat()}


async def book(admin: RpcClient, day: date, dentist_id: int = 1, patient_id: int = 1) -> dict[str, Any]:
    slots = await admin.call("slots.find", type_id=1, dentist_id=dentist_id, patient_id=patient_id,
                             **{"from": day.isoformat(), "to": day.isoformat()})
    assert slots, f"no free slot on {day}"
    return await admin.call("appointments.create", dentist_id=dentist_id, type_id=1, start=slots[0]["start"],
                            patient_id=patient_id)


async def exception_count(server) -> int:
    conn = await asyncpg.connect(server.database_url)
    try:
        return await conn.fetchval("SELECT count(*) FROM schedule_exceptions")
    finally:
        await conn.close()


async def test_a_day_off_over_a_booking_reports_it_and_a_dry_run_saves_nothing(server):
    """exceptions.add with dry_run lists the booked appointment and saves nothing; the real add lists it too."""
    async with RpcClient(server.ws_url) as admin:
        await admin.login("frontdesk")
        day = a_weekday_ahead()
        booked = await book(admin, day)
        before = await exception_count(server)

        preview = await admin.call("exceptions.add", dentist_id=1, kind="closed", reason="Course", dry_run=True,
                                   **whole_day(day))
        assert preview["dry_run"] is True
        assert [row["id"] for row in preview["stranded"] if row["id"] == booked["id"]] == [booked["id"]]
        stranded = next(row for row in preview["stranded"] if row["id"] == booked["id"])
        assert stranded["patient_name"] and stranded["start"] == booked["start"]
        assert await exception_count(server) == before
        # The dentist's other days and the colleague's appointments are not affected.
        assert all(row["dentist_id"] == 1 and row["start"][:10] in (day.isoformat(), (day - timedelta(days=1)).isoformat())
                   for row in preview["stranded"])

        saved = await admin.call("exceptions.add", dentist_id=1, kind="closed", reason="Course", **whole_day(day))
        assert saved["id"] and saved["reason"] == "Course"
        assert booked["id"] in {row["id"] for row in saved["stranded"]}
        assert await exception_count(server) == before + 1

        # A closure somewhere empty strands nobody.
        quiet = await admin.call("exceptions.add", dentist_id=2, kind="closed", dry_run=True,
                                 **whole_day(a_weekday_ahead(80)))
        assert quiet == {"dry_run": True, "stranded": []}


async def test_shortened_hours_report_the_appointments_they_leave_outside(server):
    """availability.set dropping a weekday lists that weekday's bookings; dry_run keeps the hours as they were."""
    async with RpcClient(server.ws_url) as smith, RpcClient(server.ws_url) as admin:
        await smith.login("drsmith")
        await admin.login("frontdesk")
        day = a_weekday_ahead()
        booked = await book(admin, day)
        shorter = [w for w in WEEKLY if w["weekday"] != day.weekday()]

        preview = await smith.call("availability.set", dentist_id=1, weekly=shorter, dry_run=True)
        assert booked["id"] in {row["id"] for row in preview["stranded"]}
        assert preview["dry_run"] is True and "weekly" not in preview
        unchanged = await smith.call("availability.set", dentist_id=1, weekly=WEEKLY, dry_run=True)
        assert booked["id"] not in {row["id"] for row in unchanged["stranded"]}

        saved = await smith.call("availability.set", dentist_id=1, weekly=shorter)
        assert len(saved["weekly"]) == len(shorter)
        assert booked["id"] in {row["id"] for row in saved["stranded"]}
        # Moved or cancelled, it is no longer stranded.
        await admin.call("appointments.cancel", id=booked["id"])
        again = await smith.call("availability.set", dentist_id=1, weekly=shorter, dry_run=True)
        assert booked["id"] not in {row["id"] for row in again["stranded"]}


async def test_patients_see_closed_time_but_not_why(server):
    """A day off's reason reaches staff but not patients: not in the snapshot, not in the live event."""
    async with RpcClient(server.ws_url) as admin, RpcClient(server.ws_url) as alice:
        await admin.login("frontdesk")
        await alice.login("alice")
        first = await admin.call("exceptions.add", dentist_id=1, kind="closed", reason="Hospital appointment",
                                 **whole_day(a_weekday_ahead(20)))
        snapshot = (await alice.call("sync.subscribe", since=None, epoch=None))["snapshot"]
        seen = {row["id"]: row for row in snapshot["schedule_exception"]}
        assert seen[first["id"]]["reason"] == "" and seen[first["id"]]["start"] == first["start"]
        staff = (await admin.call("sync.subscribe", since=None, epoch=None))["snapshot"]
        assert {row["id"]: row for row in staff["schedule_exception"]}[first["id"]]["reason"] == "Hospital appointment"

        second = await admin.call("exceptions.add", dentist_id=2, kind="closed", reason="Family funeral",
                                  **whole_day(a_weekday_ahead(21)))
        events = await alice.events_until(lambda e: e["entity"] == "schedule_exception" and e["id"] == second["id"])
        assert events[-1]["data"]["reason"] == "" and events[-1]["data"]["kind"] == "closed"
        staff_events = await admin.events_until(lambda e: e["entity"] == "schedule_exception" and e["id"] == second["id"])
        assert staff_events[-1]["data"]["reason"] == "Family funeral"


async def _insert_appointment(server, local_day: date, status: str) -> int:
    """An appointment at 00:00-00:30 on a local day with a status already set (the past cannot be booked)."""
    start = datetime.combine(local_day, time(0), LONDON)
    conn = await asyncpg.connect(server.database_url)
    try:
        return await conn.fetchval(
            "INSERT INTO appointments (patient_id, dentist_id, type_id, start_at, end_at, status, source, notes, "
            "version, created_at, updated_at) VALUES (2, 1, 1, $1, $2, $3, 'front_desk', '', 1, now(), now()) RETURNING id",
            start, start + timedelta(minutes=30), status)
    finally:
        await conn.close()


async def test_staff_undo_a_status_change_on_the_day_and_it_is_audited(server):
    """Completed -> in chair and no-show -> scheduled work today and are in the audit trail; yesterday's is refused."""
    today = datetime.now(LONDON).date()
    completed = await _insert_appointment(server, today, "completed")
    yesterday = await _insert_appointment(server, today - timedelta(days=1), "no_show")
    async with RpcClient(server.ws_url) as admin, RpcClient(server.ws_url) as smith:
        await admin.login("frontdesk")
        await smith.login("drsmith")
        back = await admin.call("appointments.update", id=completed, version=1, status="in_chair")
        assert back["status"] == "in_chair"
        checked_in = await smith.call("appointments.update", id=completed, version=back["version"], status="checked_in")
        assert checked_in["status"] == "checked_in"
        exc = await refused(admin.call("appointments.update", id=yesterday, version=1, status="scheduled"))
        assert exc.reason == "invalid_transition" and "day of the appointment" in exc.message
    conn = await asyncpg.connect(server.database_url)
    try:
        trail = await conn.fetch(
            "SELECT changed_by, old_row->>'status' AS old, new_row->>'status' AS new FROM appointment_history "
            "WHERE appointment_id = $1 AND action = 'updated' ORDER BY id", completed)
    finally:
        await conn.close()
    assert [(r["old"], r["new"]) for r in trail] == [("completed", "in_chair"), ("in_chair", "checked_in")]
    assert trail[0]["changed_by"] == admin.user["id"] and trail[1]["changed_by"] == smith.user["id"]
