"""Dates and instants far from today are refused as invalid params, and a stored absurd row breaks nothing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest

from server.protocol import RpcError
from tests.faults.clinic import weekday_ahead
from tests.helpers import RpcClient

DAY = weekday_ahead(7)
AT = f"{DAY.isoformat()}T10:00:00+00:00"


async def refused(coro: Any) -> RpcError:
    """The RpcError a call raises (the test fails if the call succeeds)."""
    with pytest.raises(RpcError) as caught:
        await coro
    return caught.value


async def test_extreme_dates_are_invalid_params_not_internal(server):
    """Year 1 and year 9999 in every dated param: invalid_params naming the field; the connection lives."""
    async with RpcClient(server.ws_url) as desk:
        await desk.login("frontdesk")
        appt = next(a for a in await desk.call("appointments.list") if a["status"] in ("scheduled", "confirmed"))
        cases = [
            ("slots.find", {"type_id": 1, "from": "9999-12-29", "to": "9999-12-31"}, "from"),
            ("slots.find", {"type_id": 1, "from": "0001-01-01", "to": "0001-01-02"}, "from"),
            ("appointments.list", {"from": DAY.isoformat(), "to": "9999-12-31"}, "to"),
            ("appointments.list", {"from": "0001-01-01"}, "from"),
            ("appointments.create", {"dentist_id": 1, "type_id": 1, "start": "9999-12-31T23:00:00-05:00",
                                     "patient_id": 1}, "start"),
            ("appointments.create", {"dentist_id": 1, "type_id": 1, "start": "0001-01-01T00:00:00+05:00",
                                     "patient_id": 1}, "start"),
            ("appointments.update", {"id": appt["id"], "version": appt["version"],
                                     "start": "9999-12-31T09:00:00+00:00"}, "start"),
            ("exceptions.add", {"dentist_id": 1, "start": "0001-01-01T00:00:00+00:00",
                                "end": "2027-01-01T00:00:00+00:00", "kind": "closed"}, "start"),
            ("availability.set", {"dentist_id": 1, "weekly": [], "exceptions": [
                {"start": "0001-01-01T00:00:00+00:00", "end": "2027-01-01T00:00:00+00:00", "kind": "closed"}]},
             "exceptions[0].start"),
        ]
        for method, params, field in cases:
            exc = await refused(desk.call(method, **params))
            assert exc.reason == "invalid_params", (method, params, exc.reason, exc.message)
            assert field in (exc.extra.get("fields") or {}), (method, exc.extra)
        assert (await desk.call("directory.get"))["dentists"]


async def test_a_stored_year_one_exception_breaks_no_booking(server, database_url):
    """A closure from year 1 (1 BC in UTC) to next year written straight into the database: "any dentist" slots,
    bookings with and without that dentist and the assistant all answer sensibly, and no event has a null start."""
    async with RpcClient(server.ws_url) as desk, RpcClient(server.ws_url) as alice:
        await desk.login("frontdesk")
        await alice.login("alice")
        await desk.subscribe()
        conn = await asyncpg.connect(database_url)
        try:
            end = datetime.now(timezone.utc) + timedelta(days=400)
            exc_id = await conn.fetchval(
                "INSERT INTO schedule_exceptions (dentist_id, start_at, end_at, kind, reason) "
                "VALUES (1, '0001-01-01 00:00:00+05', $1, 'closed', 'forever') RETURNING id", end)
        finally:
            await conn.close()
        event = (await desk.events_until(lambda e: e["entity"] == "schedule_exception" and e["id"] == exc_id))[-1]
        assert event["data"]["start"] is not None and event["data"]["end"] is not None, event

        window = {"from": DAY.isoformat(), "to": (DAY + timedelta(days=6)).isoformat()}
        anyone = await alice.call("slots.find", type_id=1, **window)
        assert anyone and {s["dentist_id"] for s in anyone} == {2}
        assert await desk.call("slots.find", type_id=1, dentist_id=1, **window) == []

        exc = await refused(alice.call("appointments.create", dentist_id=1, type_id=1, start=anyone[0]["start"]))
        assert exc.reason == "outside_working_hours", exc.message
        booked = await alice.call("appointments.create", dentist_id=2, type_id=1, start=anyone[0]["start"])
        assert booked["dentist_id"] == 2 and booked["status"] == "scheduled"

        reply = await desk.call("assistant.message", text="find a check-up next week", patient_id=2)
        assert reply["reply"] and "wrong" not in reply["reply"].lower(), reply

        events = await desk.events_until(lambda e: e["entity"] == "appointment" and e["id"] == booked["id"])
        for e in events:
            assert e["data"] is None or e["data"].get("start", "") is not None, e
