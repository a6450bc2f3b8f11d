"""What a dentist may learn of other dentists' patients, and how many slots a patient may hold."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from server.protocol import OCCUPYING_STATUSES, RpcError
from tests.faults.clinic import free_starts
from tests.faults.counters import SECURITY
from tests.helpers import RpcClient

LIMIT = 3  # the default max_future_bookings


def _upcoming(rows: list[dict]) -> list[dict]:
    now = datetime.now(timezone.utc)
    return [a for a in rows if a["status"] in OCCUPYING_STATUSES and datetime.fromisoformat(a["start"]) > now]


async def test_a_dentist_cannot_tell_whose_busy_blocks_are_whose(server):
    """drsmith asks about a patient seen only by drpatel: search finds nobody, a patient_id filter shows no
    busy block of theirs, slots ignore their diary; his own patients come back as {id, name}, as in the feed."""
    async with RpcClient(server.ws_url) as desk, RpcClient(server.ws_url) as smith:
        await desk.login("frontdesk")
        await smith.login("drsmith")
        name = "Quentin Zabriskie"
        patient = await desk.call("patients.create", name=name, phone="+44 20 7946 0000")
        start = (await free_starts(desk, dentist_id=2, patient_id=patient["id"]))[0]
        target = await desk.call("appointments.create", dentist_id=2, type_id=1, start=start, patient_id=patient["id"])
        rows = await desk.call("appointments.list")

        assert await smith.call("patients.search", query=name) == []
        listed = await smith.call("appointments.list", patient_id=target["patient_id"])
        assert target["id"] not in {a["id"] for a in listed}, listed
        day = datetime.fromisoformat(target["start"]).date().isoformat()
        window = {"type_id": 1, "dentist_id": 1, "from": day, "to": day}
        assert (await smith.call("slots.find", patient_id=target["patient_id"], **window)
                == await smith.call("slots.find", **window))

        own = next(a for a in rows if a["dentist_id"] == 1)
        found = await smith.call("patients.search", query=own["patient_name"])
        assert found and all(set(p) == {"id", "name"} for p in found), found
        assert own["patient_id"] in {p["id"] for p in found}
        snapshot = (await smith.subscribe())["snapshot"]
        assert not snapshot.get("patient"), "the feed gives dentists no patient rows"
        full = await desk.call("patients.search", query=name)
        assert full and "phone" in full[0], "the front desk still sees the whole directory"
        SECURITY.add(bad_inputs=3)


async def test_a_patient_cannot_hoard_slots(server):
    """alice books herself up to the limit, the next booking (even several at once) is refused with
    too_many_bookings; the front desk may still book for her (not counted); a cancellation frees a place."""
    async with RpcClient(server.ws_url) as desk, RpcClient(server.ws_url) as alice:
        await desk.login("frontdesk")
        await alice.login("alice")
        held = [a for a in _upcoming(await alice.call("appointments.list", patient_id=1))
                if a["source"] in ("patient", "assistant")]  # the demo's bookings are the front desk's
        starts = iter(await free_starts(alice, dentist_id=2, patient_id=1, span=30))
        for _ in range(LIMIT - len(held)):
            held.append(await alice.call("appointments.create", dentist_id=2, type_id=1, start=next(starts)))

        attempts = [alice.call("appointments.create", dentist_id=2, type_id=1, start=next(starts)) for _ in range(4)]
        results = await asyncio.gather(*attempts, return_exceptions=True)
        assert all(isinstance(r, RpcError) and r.reason == "too_many_bookings" for r in results), results
        assert results[0].extra.get("limit") == LIMIT
        mine = _upcoming(await alice.call("appointments.list", patient_id=1))
        assert sum(a["source"] == "patient" for a in mine) == LIMIT

        staff = await desk.call("appointments.create", dentist_id=2, type_id=1, start=next(starts), patient_id=1)
        assert staff["patient_id"] == 1 and staff["source"] == "front_desk"

        with pytest.raises(RpcError) as caught:
            await alice.call("appointments.create", dentist_id=2, type_id=1, start=next(starts))
        assert caught.value.reason == "too_many_bookings"
        await alice.call("appointments.cancel", id=held[-1]["id"])
        again = await alice.call("appointments.create", dentist_id=2, type_id=1, start=next(starts))
        assert again["status"] == "scheduled"
        with pytest.raises(RpcError) as caught:
            await alice.call("appointments.create", dentist_id=2, type_id=1, start=next(starts))
        assert caught.value.reason == "too_many_bookings"
        SECURITY.add(bad_inputs=5)
