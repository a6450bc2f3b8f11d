"""`appointment_types.create` / `.update` against a real server: the admin sets up the treatments, everyone follows."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from server.protocol import RpcError
from tests.helpers import RpcClient

LONDON = ZoneInfo("Europe/London")


async def refused(coro: Any) -> RpcError:
    with pytest.raises(RpcError) as caught:
        await coro
    return caught.value


async def types_by_name(client: RpcClient) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in (await client.call("directory.get"))["appointment_types"]}


def quiet_weekday() -> date:
    """A weekday beyond the demo's own appointments."""
    day = datetime.now(LONDON).date() + timedelta(days=9)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def minutes(appointment: dict[str, Any]) -> int:
    return int((datetime.fromisoformat(appointment["end"]) - datetime.fromisoformat(appointment["start"]))
               .total_seconds() // 60)


async def test_a_new_colour_reaches_every_subscriber_through_the_feed(server):
    """The desk recolours Cleaning; Dr Smith's and Alice's subscriptions get the type with the new colour."""
    async with RpcClient(server.ws_url) as desk, RpcClient(server.ws_url) as smith, RpcClient(server.ws_url) as alice:
        for client, name in ((desk, "frontdesk"), (smith, "drsmith"), (alice, "alice")):
            await client.login(name)
        await smith.subscribe()
        await alice.subscribe()
        cleaning = (await types_by_name(desk))["Cleaning"]
        updated = await desk.call("appointment_types.update", id=cleaning["id"], version=cleaning["version"],
                                  colour="#AA3377")
        assert updated["colour"] == "#aa3377" and updated["version"] == cleaning["version"] + 1
        assert updated["name"] == "Cleaning" and updated["duration_minutes"] == cleaning["duration_minutes"]
        for watcher in (smith, alice):
            seen = await watcher.events_until(lambda e: e["entity"] == "appointment_type" and e["id"] == cleaning["id"])
            assert seen[-1]["op"] == "upsert" and seen[-1]["data"]["colour"] == "#aa3377"
            assert seen[-1]["data"]["version"] == updated["version"]


async def test_name_length_bookable_and_recall_change_together_and_recall_can_be_cleared(server):
    async with RpcClient(server.ws_url) as desk:
        await desk.login("frontdesk")
        cleaning = (await types_by_name(desk))["Cleaning"]
        assert cleaning["recall_months"] == 6
        updated = await desk.call("appointment_types.update", id=cleaning["id"], version=cleaning["version"],
                                  name="  Hygiene   visit ", duration_minutes=60, patient_bookable=False,
                                  recall_months=None)
        assert (updated["name"], updated["duration_minutes"], updated["patient_bookable"], updated["recall_months"]) \
            == ("Hygiene visit", 60, False, None)
        again = await desk.call("appointment_types.update", id=updated["id"], version=updated["version"],
                                recall_months=12)
        assert again["recall_months"] == 12 and again["name"] == "Hygiene visit"  # what was not sent stays
        assert (await types_by_name(desk))["Hygiene visit"]["recall_months"] == 12


async def test_bad_values_are_refused_per_field_and_change_nothing(server):
    """A colour that is not #rrggbb, a length off the 15-minute steps, a taken or blank name, a recall of 0."""
    async with RpcClient(server.ws_url) as desk:
        await desk.login("frontdesk")
        cleaning = (await types_by_name(desk))["Cleaning"]
        key = {"id": cleaning["id"], "version": cleaning["version"]}
        for colour in ("red", "#12345", "#gggggg", "58d68d", "#58d68d00"):
            error = await refused(desk.call("appointment_types.update", **key, colour=colour))
            assert error.reason == "invalid_params" and "#rrggbb" in error.extra["fields"]["colour"], colour
        for length in (50, 0, 495, 600):
            error = await refused(desk.call("appointment_types.update", **key, duration_minutes=length))
            assert error.reason == "invalid_params" and "15 min" in error.extra["fields"]["duration_minutes"], length
        taken = await refused(desk.call("appointment_types.update", **key, name="Filling"))
        assert taken.reason == "invalid_params" and "already" in taken.extra["fields"]["name"]
        blank = await refused(desk.call("appointment_types.update", **key, name="   "))
        assert blank.extra["fields"] == {"name": "must not be blank"}
        nothing = await refused(desk.call("appointment_types.update", **key, colour=None))
        assert nothing.extra["fields"] == {"colour": "must not be null"}
        recall = await refused(desk.call("appointment_types.update", **key, recall_months=0))
        assert recall.reason == "invalid_params" and "recall_months" in recall.extra["fields"]
        assert (await types_by_name(desk))["Cleaning"] == cleaning


async def test_a_stale_version_is_a_conflict_with_the_current_row_and_an_unknown_id_is_not_found(server):
    async with RpcClient(server.ws_url) as desk_a, RpcClient(server.ws_url) as desk_b:
        await desk_a.login("frontdesk")
        await desk_b.login("frontdesk")
        seen = (await types_by_name(desk_a))["Filling"]
        first = await desk_a.call("appointment_types.update", id=seen["id"], version=seen["version"], colour="#112233")
        stale = await refused(desk_b.call("appointment_types.update", id=seen["id"], version=seen["version"],
                                          colour="#445566"))
        assert stale.reason == "version_conflict" and stale.extra["current"] == first
        assert "Someone else changed this appointment type" in stale.message
        missing = await refused(desk_a.call("appointment_types.update", id=999999, version=1, colour="#112233"))
        assert missing.reason == "not_found"
        assert (await types_by_name(desk_b))["Filling"]["colour"] == "#112233"


@pytest.mark.parametrize("username", ["drsmith", "alice"])
async def test_only_the_admin_may_create_or_change_types(server, username):
    async with RpcClient(server.ws_url) as other, RpcClient(server.ws_url) as desk:
        await other.login(username)
        await desk.login("frontdesk")
        checkup = (await types_by_name(desk))["Check-up"]
        change = await refused(other.call("appointment_types.update", id=checkup["id"], version=checkup["version"],
                                          colour="#000000", duration_minutes=15))
        assert change.reason == "forbidden"
        add = await refused(other.call("appointment_types.create", name="Mine", duration_minutes=30))
        assert add.reason == "forbidden"
        assert (await types_by_name(desk))["Check-up"] == checkup
        assert "Mine" not in await types_by_name(desk)


async def test_a_new_length_leaves_existing_appointments_as_booked(server):
    """Cleaning goes from 45 to 60 minutes: a booked cleaning keeps its 45 minutes (and sends no event); the
    next booking takes 60."""
    day = quiet_weekday()
    async with RpcClient(server.ws_url) as desk, RpcClient(server.ws_url) as watcher:
        await desk.login("frontdesk")
        await watcher.login("frontdesk")
        cleaning = (await types_by_name(desk))["Cleaning"]
        smith = {d["name"]: d["id"] for d in (await desk.call("directory.get"))["dentists"]}["Dr Smith"]
        start = datetime.combine(day, time(9, 0), LONDON).isoformat()
        booked = await desk.call("appointments.create", dentist_id=smith, type_id=cleaning["id"], patient_id=2,
                                 start=start)
        assert minutes(booked) == 45
        await watcher.subscribe()
        longer = await desk.call("appointment_types.update", id=cleaning["id"], version=cleaning["version"],
                                 duration_minutes=60)
        assert longer["duration_minutes"] == 60
        seen = await watcher.events_until(lambda e: e["entity"] == "appointment_type")
        assert not [e for e in seen if e["entity"] == "appointment"]
        (kept,) = [a for a in await desk.call("appointments.list", patient_id=2) if a["id"] == booked["id"]]
        assert (kept["start"], kept["end"], kept["version"]) == (booked["start"], booked["end"], booked["version"])
        later = datetime.combine(day, time(14, 0), LONDON).isoformat()
        new = await desk.call("appointments.create", dentist_id=smith, type_id=cleaning["id"], patient_id=2,
                              start=later)
        assert minutes(new) == 60


async def test_the_admin_adds_a_type_that_is_bookable_at_once(server):
    async with RpcClient(server.ws_url) as desk, RpcClient(server.ws_url) as alice:
        await desk.login("frontdesk")
        await alice.login("alice")
        await alice.subscribe()
        added = await desk.call("appointment_types.create", name=" Whitening ", duration_minutes=60,
                                colour="#F1C40F", recall_months=12)
        assert (added["name"], added["colour"], added["patient_bookable"], added["active"], added["version"]) \
            == ("Whitening", "#f1c40f", True, True, 1)
        seen = await alice.events_until(lambda e: e["entity"] == "appointment_type" and e["id"] == added["id"])
        assert seen[-1]["data"]["name"] == "Whitening"
        day = quiet_weekday()
        free = await alice.call("slots.find", type_id=added["id"], **{"from": day.isoformat(), "to": day.isoformat()})
        assert free and all(minutes(slot) == 60 for slot in free)
        twice = await refused(desk.call("appointment_types.create", name="Whitening", duration_minutes=30))
        assert twice.reason == "invalid_params" and "already" in twice.extra["fields"]["name"]
        odd = await refused(desk.call("appointment_types.create", name="Odd", duration_minutes=20))
        assert "duration_minutes" in odd.extra["fields"]
