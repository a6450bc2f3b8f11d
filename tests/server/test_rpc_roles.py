"""The role matrix over the real RPC endpoint: what admin, dentist and patient may and may not do."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from server.protocol import RpcError
from tests.helpers import RpcClient

PRIVATE_KEYS = {"patient_id", "patient_name", "notes", "type_id"}


async def refused(coro: Any) -> RpcError:
    """The RpcError a call raises (the test fails if the call succeeds)."""
    with pytest.raises(RpcError) as caught:
        await coro
    return caught.value


def booking_window() -> tuple[str, str]:
    """A 7-14 day window ahead, clear of the patient notice and late-change rules."""
    start = date.today() + timedelta(days=7)
    return start.isoformat(), (start + timedelta(days=7)).isoformat()


async def a_slot(client: RpcClient, type_id: int = 1, dentist_id: int = 1, **extra: Any) -> dict[str, Any]:
    lo, hi = booking_window()
    slots = await client.call("slots.find", type_id=type_id, dentist_id=dentist_id, **{"from": lo, "to": hi}, **extra)
    assert slots, "no free slot found in the booking window"
    return slots[0]


async def appointment(client: RpcClient, appt_id: int) -> dict[str, Any]:
    rows = [r for r in await client.call("appointments.list") if r["id"] == appt_id]
    assert len(rows) == 1
    return rows[0]


async def test_everything_but_sign_in_needs_authentication(server):
    """Every method other than auth.login/resume/refresh answers unauthenticated before sign-in."""
    calls = {
        "auth.logout": {},
        "directory.get": {},
        "sync.subscribe": {"since": None},
        "slots.find": {"type_id": 1, "from": "2030-01-01", "to": "2030-01-02"},
        "appointments.list": {},
        "appointments.create": {"dentist_id": 1, "type_id": 1, "start": "2030-01-07T09:00:00+00:00", "patient_id": 1},
        "appointments.update": {"id": 1, "version": 1, "notes": "x"},
        "appointments.cancel": {"id": 1},
        "availability.set": {"dentist_id": 1, "weekly": []},
        "exceptions.add": {"dentist_id": None, "start": "2030-01-07T09:00:00+00:00",
                           "end": "2030-01-07T10:00:00+00:00", "kind": "closed", "reason": "x"},
        "exceptions.delete": {"id": 1},
        "patients.search": {"query": "a"},
        "patients.create": {"name": "Mallory"},
        "assistant.message": {"text": "hello"},
    }
    async with RpcClient(server.ws_url) as anon:
        for method, params in calls.items():
            exc = await refused(anon.call(method, **params))
            assert exc.code == -32000, method
            assert exc.reason == "unauthenticated", method
    async with RpcClient(server.ws_url) as admin:
        await admin.login("frontdesk")
        rows = await admin.call("appointments.list")
        assert {r["id"] for r in rows} >= {1, 2, 3, 4}
        assert all(r["status"] != "cancelled" for r in rows if r["id"] in (1, 2, 3, 4))
        assert all(r.get("notes", "") != "x" for r in rows)
        assert await admin.call("patients.search", query="Mallory") == []


async def test_patient_rights(server):
    """A patient sees others as busy blocks, may not touch bob's bookings, staff types or staff-only methods."""
    async with RpcClient(server.ws_url) as alice, RpcClient(server.ws_url) as admin:
        await alice.login("alice")
        await admin.login("frontdesk")
        before = {r["id"]: r for r in await admin.call("appointments.list")}

        for method, params in (("patients.search", {"query": "bob"}), ("patients.create", {"name": "Eve"})):
            exc = await refused(alice.call(method, **params))
            assert exc.reason == "forbidden", method

        # Others' appointments only as busy blocks; own in full.
        rows = {r["id"]: r for r in await alice.call("appointments.list")}
        for bob_id in (2, 3):
            assert bob_id in rows
            assert not PRIVATE_KEYS & set(rows[bob_id]), rows[bob_id]
            assert rows[bob_id].get("busy") is True
        for own_id in (1, 4):
            assert rows[own_id]["patient_id"] == 1
        exc = await refused(alice.call("appointments.list", patient_id=2))
        assert exc.reason == "forbidden"

        # Bob's appointment: not_found, as if it did not exist.
        bob_appt = before[2]
        exc = await refused(alice.call("appointments.cancel", id=2))
        assert exc.reason == "not_found"
        exc = await refused(alice.call("appointments.update", id=2, version=bob_appt["version"], status="confirmed"))
        assert exc.reason == "not_found"
        exc = await refused(alice.call("appointments.cancel", id=999_999))
        assert exc.reason == "not_found"

        # Booking for bob, or a staff-only type.
        slot = await a_slot(alice)
        exc = await refused(alice.call("appointments.create", dentist_id=slot["dentist_id"], type_id=1,
                                       start=slot["start"], patient_id=2))
        assert exc.reason == "forbidden"
        exc = await refused(alice.call("appointments.create", dentist_id=slot["dentist_id"], type_id=4,
                                       start=slot["start"]))
        assert exc.reason == "forbidden"

        # Staff-only writes.
        exc = await refused(alice.call("availability.set", dentist_id=1, weekly=[]))
        assert exc.reason == "forbidden"
        exc = await refused(alice.call("exceptions.add", dentist_id=1, start=f"{booking_window()[0]}T09:00:00+00:00",
                                       end=f"{booking_window()[0]}T10:00:00+00:00", kind="closed", reason="x"))
        assert exc.reason == "forbidden"

        after = {r["id"]: r for r in await admin.call("appointments.list")}
        assert after == before

        # Her own booking of a patient-bookable type, for herself, works.
        mine = await alice.call("appointments.create", dentist_id=slot["dentist_id"], type_id=1, start=slot["start"])
        assert mine["patient_id"] == 1 and mine["status"] == "scheduled"
        assert (await appointment(admin, mine["id"]))["patient_id"] == 1


async def test_dentist_rights(server):
    """A dentist changes only own appointments and own hours; no patients.create, no clinic-wide closures."""
    async with RpcClient(server.ws_url) as smith, RpcClient(server.ws_url) as admin:
        await smith.login("drsmith")
        await admin.login("frontdesk")
        before = {r["id"]: r for r in await admin.call("appointments.list")}
        assert before[1]["dentist_id"] == 1 and before[2]["dentist_id"] == 2

        exc = await refused(smith.call("patients.create", name="Eve"))
        assert exc.reason == "forbidden"
        assert isinstance(await smith.call("patients.search", query="a"), list)

        # drpatel's appointment: forbidden, unchanged.
        exc = await refused(smith.call("appointments.update", id=2, version=before[2]["version"], status="confirmed"))
        assert exc.reason == "forbidden"
        exc = await refused(smith.call("appointments.cancel", id=2))
        assert exc.reason == "forbidden"
        assert await appointment(admin, 2) == before[2]

        # Others' appointments appear as busy blocks.
        rows = {r["id"]: r for r in await smith.call("appointments.list")}
        assert not PRIVATE_KEYS & set(rows[2]), rows[2]
        assert rows[1]["patient_id"] == before[1]["patient_id"]

        # Own appointment: status change works.
        own = await smith.call("appointments.update", id=1, version=before[1]["version"], status="confirmed")
        assert own["status"] == "confirmed"
        assert (await appointment(admin, 1))["status"] == "confirmed"

        # Availability: own yes, colleague no.
        weekly = [{"weekday": d, "start": s, "end": e} for d in range(5) for s, e in (("09:00", "12:00"), ("13:00", "17:00"))]
        exc = await refused(smith.call("availability.set", dentist_id=2, weekly=weekly[:2]))
        assert exc.reason == "forbidden"
        result = await smith.call("availability.set", dentist_id=1, weekly=weekly)
        assert result["dentist_id"] == 1 and len(result["weekly"]) == 10

        # Exceptions: own yes, clinic-wide or colleague no.
        day = (date.today() + timedelta(days=60)).isoformat()
        window = {"start": f"{day}T09:00:00+00:00", "end": f"{day}T10:00:00+00:00", "kind": "closed", "reason": "x"}
        exc = await refused(smith.call("exceptions.add", dentist_id=None, **window))
        assert exc.reason == "forbidden"
        exc = await refused(smith.call("exceptions.add", dentist_id=2, **window))
        assert exc.reason == "forbidden"
        own_ex = await smith.call("exceptions.add", dentist_id=1, **window)
        assert own_ex["dentist_id"] == 1

        # Booking into the colleague's diary: forbidden.
        slot = await a_slot(admin, dentist_id=2, patient_id=1)
        exc = await refused(smith.call("appointments.create", dentist_id=2, type_id=1, start=slot["start"], patient_id=1))
        assert exc.reason == "forbidden"

        # Admin: clinic-wide exception allowed, and can delete the dentist's one.
        clinic = await admin.call("exceptions.add", dentist_id=None, **window)
        assert clinic["dentist_id"] is None
        exc = await refused(smith.call("exceptions.delete", id=clinic["id"]))
        assert exc.reason == "forbidden"
        assert await admin.call("exceptions.delete", id=clinic["id"]) == {"ok": True}
        assert await smith.call("exceptions.delete", id=own_ex["id"]) == {"ok": True}


async def test_admin_version_conflict_and_idempotency(server):
    """A stale version answers version_conflict with the current row; a repeated idempotency key books once."""
    async with RpcClient(server.ws_url) as admin:
        await admin.login("frontdesk")
        current = await appointment(admin, 1)
        updated = await admin.call("appointments.update", id=1, version=current["version"], notes="first edit")
        assert updated["notes"] == "first edit" and updated["version"] != current["version"]

        exc = await refused(admin.call("appointments.update", id=1, version=current["version"], notes="stale edit"))
        assert exc.reason == "version_conflict"
        assert exc.extra["current"]["id"] == 1
        assert exc.extra["current"]["version"] == updated["version"]
        assert exc.extra["current"]["notes"] == "first edit"
        assert (await appointment(admin, 1))["notes"] == "first edit"

        count = len(await admin.call("appointments.list"))
        slot = await a_slot(admin, patient_id=1)
        params = {"dentist_id": slot["dentist_id"], "type_id": 1, "start": slot["start"], "patient_id": 1,
                  "idempotency_key": "booking-123"}
        first = await admin.call("appointments.create", **params)
        second = await admin.call("appointments.create", **params)
        assert first["id"] == second["id"]
        rows = await admin.call("appointments.list")
        assert len(rows) == count + 1
        assert sum(1 for r in rows if r["start"] == first["start"] and r["dentist_id"] == first["dentist_id"]) == 1


async def test_a_booking_is_audited_with_who_made_it(server):
    """The audit trail names the user behind each booking, whoever books (front desk or patient)."""
    import asyncpg

    async with RpcClient(server.ws_url) as desk, RpcClient(server.ws_url) as alice:
        await desk.login("frontdesk")
        await alice.login("alice")
        s1 = await a_slot(desk, dentist_id=1)
        by_desk = await desk.call("appointments.create", dentist_id=1, type_id=1, start=s1["start"],
                                  patient_id=alice.user["patient_id"], notes="desk")
        s2 = await a_slot(alice, dentist_id=2)  # Alice's slots leave out the time she now has
        by_alice = await alice.call("appointments.create", dentist_id=2, type_id=1, start=s2["start"], notes="self")
    conn = await asyncpg.connect(server.database_url)
    try:
        rows = {r["appointment_id"]: r for r in await conn.fetch(
            "SELECT appointment_id, action, changed_by, new_row->>'created_by' AS created_by FROM appointment_history "
            "WHERE appointment_id = ANY($1::bigint[])", [by_desk["id"], by_alice["id"]])}
    finally:
        await conn.close()
    assert rows[by_desk["id"]]["action"] == "created"
    assert rows[by_desk["id"]]["changed_by"] == desk.user["id"] == int(rows[by_desk["id"]]["created_by"])
    assert rows[by_alice["id"]]["changed_by"] == alice.user["id"] == int(rows[by_alice["id"]]["created_by"])
    assert by_desk["source"] == "front_desk" and by_alice["source"] == "patient"


async def test_concurrent_edits_of_one_version_one_wins_the_rest_see_the_latest(server):
    """Ten desks save the same appointment version at once: one change lands, nine get
    version_conflict with the winner's row, and the feed carries exactly one change."""
    import asyncio

    import asyncpg

    desks = [RpcClient(server.ws_url) for _ in range(10)]
    for d in desks:
        await d.__aenter__()
    try:
        for d in desks:
            await d.login("frontdesk")
        current = await appointment(desks[0], 1)
        conn = await asyncpg.connect(server.database_url)
        try:
            before = await conn.fetchval("SELECT coalesce(max(seq), 0) FROM change_log")
            outcomes = await asyncio.gather(*(
                d.call("appointments.update", id=1, version=current["version"], notes=f"desk {i}")
                for i, d in enumerate(desks)), return_exceptions=True)
            changes = await conn.fetch("SELECT entity_id FROM change_log WHERE seq > $1", before)
        finally:
            await conn.close()
        won = [o for o in outcomes if isinstance(o, dict)]
        lost = [o for o in outcomes if isinstance(o, RpcError)]
        assert len(won) == 1 and len(lost) == 9, outcomes
        assert all(e.reason == "version_conflict" and e.extra["current"]["notes"] == won[0]["notes"] for e in lost)
        assert [r["entity_id"] for r in changes] == [1]
        assert won[0]["version"] == current["version"] + 1
    finally:
        for d in desks:
            await d.close()
