"""The patient directory (get, edit, history, merge) and the front desk's lists (unscheduled, confirmations, recall)
through a real server on a fresh demo database."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest

from server.handlers.lists import add_months, next_working_days
from server.protocol import RpcError
from tests.helpers import RpcClient
from tests.server_process import ServerProcess


async def _sql(server: ServerProcess, query: str, *args: Any) -> Any:
    conn = await asyncpg.connect(server.database_url)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def _type_id(c: RpcClient, name: str) -> int:
    snapshot = (await c.call("directory.get"))
    return next(t["id"] for t in snapshot["appointment_types"] if t["name"] == name)


async def _book(c: RpcClient, patient_id: int, type_id: int, days_ahead: int = 3, index: int = 0) -> dict[str, Any]:
    day = date.today() + timedelta(days=days_ahead)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    slots = await c.call("slots.find", type_id=type_id, **{"from": day.isoformat(), "to": (day + timedelta(days=7)).isoformat()})
    slot = slots[index]
    return await c.call("appointments.create", dentist_id=slot["dentist_id"], type_id=type_id, start=slot["start"],
                        patient_id=patient_id)


async def _new_patient(c: RpcClient, name: str, **extra: Any) -> dict[str, Any]:
    return await c.call("patients.create", name=name, confirm_duplicate=True, **extra)


def test_add_months_clamps_to_the_month_end_and_working_days_skip_days_off() -> None:
    """31 August plus six months is the end of February; the next two working days skip weekends and clinic days off."""
    assert add_months(date(2025, 8, 31), 6) == date(2026, 2, 28)
    assert add_months(date(2023, 8, 31), 6) == date(2024, 2, 29)
    assert add_months(date(2026, 11, 15), 6) == date(2027, 5, 15)
    friday = date(2026, 12, 4)
    assert next_working_days(friday, 2, {0, 1, 2, 3, 4}, set()) == [date(2026, 12, 7), date(2026, 12, 8)]
    assert next_working_days(friday, 2, {0, 1, 2, 3, 4}, {date(2026, 12, 7)}) == [date(2026, 12, 8), date(2026, 12, 9)]
    assert next_working_days(friday, 2, set(), set()) == []


async def test_edit_a_patient_with_duplicate_check_and_the_version_seen(server: ServerProcess) -> None:
    """patients.update saves the directory's fields, refuses a likely duplicate unless confirmed, and a stale version."""
    async with RpcClient(server.ws_url) as c:
        await c.login("frontdesk")
        carol = await _new_patient(c, "Carol King", phone="020 7946 0001")
        updated = await c.call("patients.update", id=carol["id"], version=carol["version"], address="1 High St, Leeds",
                               preferred_contact="email", email="carol@example.org", medical_alerts="Penicillin allergy",
                               notes="Prefers mornings")
        assert updated["address"] == "1 High St, Leeds" and updated["preferred_contact"] == "email"
        assert updated["medical_alerts"] == "Penicillin allergy" and updated["version"] == carol["version"] + 1
        # Renaming her to an existing patient's name (Alice Brown, no birth date) looks like a duplicate.
        with pytest.raises(RpcError) as caught:
            await c.call("patients.update", id=carol["id"], version=updated["version"], name="alice  brown")
        assert caught.value.reason == "possible_duplicate"
        assert [x["name"] for x in caught.value.extra["candidates"]] == ["Alice Brown"]
        # Her own phone, rewritten, is no duplicate of herself.
        same = await c.call("patients.update", id=carol["id"], version=updated["version"], phone="+44 20 7946 0001")
        assert same["version"] == updated["version"] + 1
        with pytest.raises(RpcError) as stale:
            await c.call("patients.update", id=carol["id"], version=updated["version"], notes="x")
        assert stale.value.reason == "version_conflict" and stale.value.extra["current"]["version"] == same["version"]
        with pytest.raises(RpcError) as bad:
            await c.call("patients.update", id=carol["id"], version=same["version"], preferred_contact="pigeon")
        assert bad.value.reason == "invalid_params"
        got = await c.call("patients.get", id=carol["id"])
        assert got["patient"]["notes"] == "Prefers mornings"
        assert {r["type_name"] for r in got["recall"]} == {"Check-up", "Cleaning"}


async def test_a_medical_alert_travels_on_the_patients_appointments_and_staff_notes_stay_staff_only(server) -> None:
    """Setting an alert re-sends the patient's appointments with `patient_alert`; the patient never reads the notes."""
    async with RpcClient(server.ws_url) as desk, RpcClient(server.ws_url) as alice:
        await desk.login("frontdesk")
        await desk.subscribe(None)
        me = await alice.login("alice")
        await alice.subscribe(None)
        pid = me["user"]["patient_id"]
        row = (await desk.call("patients.get", id=pid))["patient"]
        await desk.call("patients.update", id=pid, version=row["version"], medical_alerts="Latex allergy",
                        notes="Owes £20")
        events = await desk.events_until(lambda e: e["entity"] == "appointment" and e["data"].get("patient_alert"))
        assert events[-1]["data"]["patient_alert"] == "Latex allergy"
        own = await alice.events_until(lambda e: e["entity"] == "patient")
        assert own[-1]["data"]["medical_alerts"] == "Latex allergy" and own[-1]["data"]["notes"] == ""


async def test_history_pages_through_every_appointment_older_than_the_feed_window_too(server: ServerProcess) -> None:
    """An appointment two years old is in the history; pages follow `next` with no row twice and none lost."""
    async with RpcClient(server.ws_url) as c:
        await c.login("frontdesk")
        dave = await _new_patient(c, "Dave Old")
        checkup = await _type_id(c, "Check-up")
        old = datetime.now(timezone.utc) - timedelta(days=730)
        await _sql(server, "INSERT INTO appointments (patient_id, dentist_id, type_id, start_at, end_at, status, source) "
                           "SELECT $1, min(id), $2, $3, $4, 'completed', 'front_desk' FROM dentists",
                   dave["id"], checkup, old, old + timedelta(minutes=30))
        for i in range(3):
            await _book(c, dave["id"], checkup, days_ahead=3 + 7 * i)
        first = await c.call("patients.history", patient_id=dave["id"], limit=2)
        assert first["total"] == 4 and len(first["items"]) == 2 and first["next"]
        second = await c.call("patients.history", patient_id=dave["id"], limit=2, before=first["next"])
        assert second["next"] is None
        items = first["items"] + second["items"]
        assert len({i["id"] for i in items}) == 4
        assert items[-1]["status"] == "completed" and items[-1]["type_name"] == "Check-up" and items[-1]["dentist_name"]
        starts = [i["start"] for i in items]
        assert starts == sorted(starts, reverse=True)
        with pytest.raises(RpcError) as too_many:
            await c.call("patients.history", patient_id=dave["id"], limit=100000)
        assert too_many.value.reason == "invalid_params"


async def test_merging_two_patients_moves_appointments_history_and_alerts_and_is_audited(server: ServerProcess) -> None:
    """The kept record holds both records' appointments, joined alerts and filled blanks; the other is deleted live."""
    async with RpcClient(server.ws_url) as c:
        me = await c.login("frontdesk")
        await c.subscribe(None)
        checkup, cleaning = await _type_id(c, "Check-up"), await _type_id(c, "Cleaning")
        keep = await _new_patient(c, "Erin Moss", phone="07700 900001", medical_alerts="Diabetic")
        gone = await _new_patient(c, "Erin Moss", email="erin@example.org", medical_alerts="Asthma",
                                  address="2 Low Rd")
        a1 = await _book(c, keep["id"], checkup, days_ahead=3)
        a2 = await _book(c, gone["id"], cleaning, days_ahead=10)
        with pytest.raises(RpcError) as stale:
            await c.call("patients.merge", keep_id=keep["id"], keep_version=keep["version"], merge_id=gone["id"],
                         merge_version=gone["version"] + 5)
        assert stale.value.reason == "version_conflict"
        kept = await c.call("patients.merge", keep_id=keep["id"], keep_version=keep["version"], merge_id=gone["id"],
                            merge_version=gone["version"])
        assert kept["medical_alerts"] == "Diabetic\nAsthma"
        assert kept["email"] == "erin@example.org" and kept["phone"] == "07700 900001" and kept["address"] == "2 Low Rd"
        history = await c.call("patients.history", patient_id=keep["id"])
        assert {i["id"] for i in history["items"]} == {a1["id"], a2["id"]}
        events = await c.events_until(lambda e: e["entity"] == "patient" and e["op"] == "delete" and e["id"] == gone["id"])
        moved = [e for e in events if e["entity"] == "appointment" and e["id"] == a2["id"]]
        assert moved and moved[-1]["data"]["patient_id"] == keep["id"]
        with pytest.raises(RpcError) as missing:
            await c.call("patients.get", id=gone["id"])
        assert missing.value.reason == "not_found"
        got = await c.call("patients.get", id=keep["id"])
        assert got["merged_from"][0]["id"] == gone["id"]
        audit = await _sql(server, "SELECT merged_by, appointment_ids, merged_row->>'email' AS email FROM patient_merges")
        assert [(r["merged_by"], r["appointment_ids"], r["email"]) for r in audit] == [
            (me["user"]["id"], [a2["id"]], "erin@example.org")]
        trail = await _sql(server, "SELECT changed_by FROM appointment_history WHERE appointment_id = $1 "
                                   "AND (old_row->>'patient_id')::int = $2", a2["id"], gone["id"])
        assert [r["changed_by"] for r in trail] == [me["user"]["id"]]


async def test_cancelled_and_no_show_land_on_the_unscheduled_list_until_rebooked_or_dismissed(server) -> None:
    """A cancel puts the appointment on the list with reason and who; booking that patient and type again takes it off."""
    async with RpcClient(server.ws_url) as c:
        await c.login("frontdesk")
        await c.subscribe(None)
        frank = await _new_patient(c, "Frank Lee")
        checkup, filling = await _type_id(c, "Check-up"), await _type_id(c, "Filling")
        first = await _book(c, frank["id"], checkup, days_ahead=4)
        other = await _book(c, frank["id"], filling, days_ahead=11)
        cancelled = await c.call("appointments.cancel", id=first["id"], reason="Car broke down")
        assert cancelled["unscheduled"]["state"] == "open" and cancelled["unscheduled"]["by_name"] == "Front Desk"
        assert cancelled["cancel_reason"] == "Car broke down"
        listed = await c.call("lists.unscheduled")
        assert first["id"] in {r["id"] for r in listed}
        # Another type does not rebook it; the same type does, in the booking's own transaction.
        await c.call("appointments.cancel", id=other["id"])
        again = await _book(c, frank["id"], checkup, days_ahead=18)
        events = await c.events_until(lambda e: e["entity"] == "appointment" and e["id"] == first["id"]
                                      and (e["data"].get("unscheduled") or {}).get("state") == "rebooked")
        assert events[-1]["data"]["unscheduled"]["rebooked_as"] == again["id"]
        listed = {r["id"]: r for r in await c.call("lists.unscheduled")}
        assert first["id"] not in listed and other["id"] in listed
        stale = listed[other["id"]]
        dismissed = await c.call("lists.unscheduled_resolve", id=other["id"], version=stale["version"], outcome="dismissed")
        assert dismissed["unscheduled"]["state"] == "dismissed" and dismissed["unscheduled"]["resolved_by_name"] == "Front Desk"
        with pytest.raises(RpcError) as conflict:
            await c.call("lists.unscheduled_resolve", id=other["id"], version=stale["version"], outcome="dismissed")
        assert conflict.value.reason == "version_conflict"
        with pytest.raises(RpcError) as done:
            await c.call("lists.unscheduled_resolve", id=other["id"], version=dismissed["version"], outcome="dismissed")
        assert done.value.reason == "invalid_transition"


async def test_confirmations_list_the_next_working_days_and_one_call_records_who_and_when(server) -> None:
    """An unconfirmed appointment tomorrow-ish is listed with the phone; "confirmed" marks it and takes it off."""
    async with RpcClient(server.ws_url) as c, RpcClient(server.ws_url) as watcher:
        me = await c.login("frontdesk")
        await watcher.login("frontdesk")
        await watcher.subscribe(None)
        gina = await _new_patient(c, "Gina Park", phone="07700 900123", preferred_contact="sms")
        checkup = await _type_id(c, "Check-up")
        answer = await c.call("lists.confirmations")
        day = date.fromisoformat(answer["days"][0])
        assert len(answer["days"]) == 2 and day > date.today() - timedelta(days=1)
        slots = await c.call("slots.find", type_id=checkup, **{"from": answer["days"][-1], "to": answer["days"][-1]})
        booked = await c.call("appointments.create", dentist_id=slots[-1]["dentist_id"], type_id=checkup,
                              start=slots[-1]["start"], patient_id=gina["id"])
        rows = {r["id"]: r for r in (await c.call("lists.confirmations"))["appointments"]}
        assert rows[booked["id"]]["patient_phone"] == "07700 900123" and rows[booked["id"]]["preferred_contact"] == "sms"
        message = await c.call("lists.confirm", id=booked["id"], version=booked["version"], state="left_message")
        assert message["status"] == "scheduled" and message["confirmation"]["state"] == "left_message"
        assert booked["id"] in {r["id"] for r in (await c.call("lists.confirmations"))["appointments"]}
        with pytest.raises(RpcError) as stale:
            await c.call("lists.confirm", id=booked["id"], version=booked["version"], state="confirmed")
        assert stale.value.reason == "version_conflict"
        done = await c.call("lists.confirm", id=booked["id"], version=message["version"], state="confirmed")
        assert done["status"] == "confirmed" and done["confirmation"]["by"] == me["user"]["id"]
        assert done["confirmation"]["by_name"] == "Front Desk" and done["confirmation"]["at"]
        assert booked["id"] not in {r["id"] for r in (await c.call("lists.confirmations"))["appointments"]}
        seen = await watcher.events_until(lambda e: e["entity"] == "appointment" and e["id"] == booked["id"]
                                          and (e["data"].get("confirmation") or {}).get("state") == "confirmed")
        assert seen[-1]["data"]["status"] == "confirmed"


async def test_a_patient_due_for_recall_is_listed_in_the_month_and_leaves_when_booked(server) -> None:
    """A check-up completed six months ago is due this month; once booked again, the patient leaves the list."""
    async with RpcClient(server.ws_url) as c:
        await c.login("frontdesk")
        hana = await _new_patient(c, "Hana Ito", phone="07700 900555")
        checkup = await _type_id(c, "Check-up")
        today = date.today()
        last = add_months(today, -6)
        start = datetime(last.year, last.month, last.day, 10, tzinfo=timezone.utc)
        await _sql(server, "INSERT INTO appointments (patient_id, dentist_id, type_id, start_at, end_at, status, source) "
                           "SELECT $1, min(id), $2, $3, $4, 'completed', 'front_desk' FROM dentists",
                   hana["id"], checkup, start, start + timedelta(minutes=30))
        month = today.strftime("%Y-%m")
        rows = (await c.call("lists.recall", month=month))["rows"]
        mine = [r for r in rows if r["patient_id"] == hana["id"]]
        assert [(r["type_name"], r["phone"], r["last"]) for r in mine] == [("Check-up", "07700 900555", last.isoformat())]
        earlier = add_months(today, -1).strftime("%Y-%m")
        assert hana["id"] not in {r["patient_id"] for r in (await c.call("lists.recall", month=earlier))["rows"]}
        await _book(c, hana["id"], checkup, days_ahead=5)
        assert hana["id"] not in {r["patient_id"] for r in (await c.call("lists.recall", month=month))["rows"]}
        with pytest.raises(RpcError) as bad:
            await c.call("lists.recall", month="2026-13")
        assert bad.value.reason == "invalid_params"


@pytest.mark.parametrize("username", ["drsmith", "alice"])
async def test_lists_and_directory_are_the_front_desks(server: ServerProcess, username: str) -> None:
    """Dentists and patients are refused every directory and list method."""
    async with RpcClient(server.ws_url) as c:
        await c.login(username)
        for method, params in (("patients.get", {"id": 1}), ("patients.history", {"patient_id": 1}),
                               ("patients.update", {"id": 1, "version": 1, "notes": "x"}),
                               ("patients.merge", {"keep_id": 1, "keep_version": 1, "merge_id": 2, "merge_version": 1}),
                               ("lists.unscheduled", {}), ("lists.confirmations", {}), ("lists.recall", {"month": "2026-12"}),
                               ("lists.confirm", {"id": 1, "version": 1, "state": "confirmed"}),
                               ("lists.unscheduled_resolve", {"id": 1, "version": 1, "outcome": "dismissed"})):
            with pytest.raises(RpcError) as caught:
                await c.call(method, **params)
            assert caught.value.reason == "forbidden", method
