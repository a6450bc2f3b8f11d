"""Front-desk RPCs over the real endpoint: duplicate patients, phone validation, and moves that nudge an appointment."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from server.protocol import RpcError
from tests.helpers import RpcClient


async def refused(coro: Any) -> RpcError:
    """The RpcError a call raises (the test fails if the call succeeds)."""
    with pytest.raises(RpcError) as caught:
        await coro
    return caught.value


async def test_create_patient_warns_of_likely_duplicates_until_confirmed(server):
    """Same name and birth date, same phone or same email: `possible_duplicate` with the candidates; confirm creates."""
    async with RpcClient(server.ws_url) as admin:
        await admin.login("frontdesk")
        first = await admin.call("patients.create", name="Dana Fox", phone="07700 900555",
                                 email="dana@example.org", date_of_birth="1980-03-04")

        by_name = await refused(admin.call("patients.create", name="  dana   FOX ", date_of_birth="1980-03-04"))
        assert by_name.reason == "possible_duplicate"
        [candidate] = by_name.extra["candidates"]
        assert candidate["id"] == first["id"] and candidate["matched"] == ["name"]
        assert candidate["date_of_birth"] == "1980-03-04" and candidate["phone"] == "07700 900555"

        by_phone = await refused(admin.call("patients.create", name="D. Fox", phone="+07700-900-555"))
        assert by_phone.reason == "possible_duplicate" and by_phone.extra["candidates"][0]["matched"] == ["phone"]
        by_email = await refused(admin.call("patients.create", name="Dee Fox", email="DANA@example.org"))
        assert by_email.reason == "possible_duplicate" and by_email.extra["candidates"][0]["matched"] == ["email"]

        # A namesake born on another day is another person.
        other = await admin.call("patients.create", name="Dana Fox", date_of_birth="1991-11-30")
        assert other["id"] != first["id"]
        second = await admin.call("patients.create", name="Dana Fox", date_of_birth="1980-03-04",
                                  confirm_duplicate=True)
        assert second["id"] not in (first["id"], other["id"])
        found = await admin.call("patients.search", query="Dana Fox")
        assert {p["id"] for p in found} == {first["id"], other["id"], second["id"]}


async def test_create_patient_refuses_a_phone_that_is_not_a_number(server):
    """"abc" (or two digits) as a phone: invalid_params with a message for the phone field; nothing is created."""
    async with RpcClient(server.ws_url) as admin:
        await admin.login("frontdesk")
        for phone in ("abc", "12", "0770O 900123"):
            exc = await refused(admin.call("patients.create", name="Eve Lamb", phone=phone))
            assert exc.code == -32602 and exc.reason == "invalid_params", phone
            assert set(exc.extra["fields"]) == {"phone"} and "phone number" in exc.extra["fields"]["phone"]
        assert await admin.call("patients.search", query="Eve Lamb") == []
        created = await admin.call("patients.create", name="Eve Lamb", phone="+44 (20) 7946-0958")
        assert created["phone"] == "+44 (20) 7946-0958"


def _weekday_ahead(days: int) -> date:
    day = date.today() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


async def test_slots_for_a_move_do_not_count_the_moved_appointment_as_busy(server):
    """With exclude_appointment_id, a 60-minute filling may move by 15-30 minutes; only who may change it may ask."""
    async with RpcClient(server.ws_url) as admin, RpcClient(server.ws_url) as bob, \
            RpcClient(server.ws_url) as drpatel:
        await admin.login("frontdesk")
        await bob.login("bob")
        await drpatel.login("drpatel")
        day = _weekday_ahead(9).isoformat()
        filling = 3
        patient = (await admin.call("patients.create", name="Nudge Test", confirm_duplicate=True))["id"]
        slots = await admin.call("slots.find", type_id=filling, dentist_id=1, patient_id=patient,
                                 **{"from": day, "to": day})
        free = {datetime.fromisoformat(s["start"]) for s in slots}
        first = min(s for s in free if s + timedelta(minutes=15) in free and s + timedelta(minutes=30) in free)
        booked = await admin.call("appointments.create", dentist_id=1, type_id=filling, start=first.isoformat(),
                                  patient_id=patient)
        start = datetime.fromisoformat(booked["start"])
        nudged = {(start + timedelta(minutes=m)).isoformat() for m in (15, 30)}

        def starts(found: list[dict[str, Any]]) -> set[str]:
            return {datetime.fromisoformat(s["start"]).isoformat() for s in found}

        plain = await admin.call("slots.find", type_id=filling, dentist_id=1, **{"from": day, "to": day})
        assert not nudged & starts(plain)
        for_move = await admin.call("slots.find", type_id=filling, dentist_id=1, exclude_appointment_id=booked["id"],
                                    **{"from": day, "to": day})
        assert nudged <= starts(for_move)
        moved = await admin.call("appointments.update", id=booked["id"], version=booked["version"],
                                 start=min(starts(for_move) & nudged))
        assert moved["version"] == booked["version"] + 1

        # Another patient, and a dentist whose diary it is not, may not have its time treated as free.
        assert (await refused(bob.call("slots.find", type_id=1, exclude_appointment_id=booked["id"],
                                       **{"from": day, "to": day}))).reason == "not_found"
        assert (await refused(drpatel.call("slots.find", type_id=1, exclude_appointment_id=booked["id"],
                                           **{"from": day, "to": day}))).reason == "forbidden"

