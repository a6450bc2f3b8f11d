"""Every method, by every role (and by nobody), on resources that belong to someone else: refused, and nothing changes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from server import handlers
from server.protocol import RpcError
from tests.faults.clinic import db_digest, weekday_ahead
from tests.faults.counters import SECURITY
from tests.helpers import RpcClient

DAY = weekday_ahead(10)
AT = f"{DAY.isoformat()}T10:00:00+00:00"
LATER = f"{DAY.isoformat()}T11:00:00+00:00"
RANGE = {"from": DAY.isoformat(), "to": (DAY + timedelta(days=1)).isoformat()}


async def _facts(url: str) -> dict:
    """Ids of things owned by each party, read as the front desk."""
    async with RpcClient(url) as desk:
        await desk.login("frontdesk")
        appts = await desk.call("appointments.list")
        smith_exc = await desk.call("exceptions.add", dentist_id=1, start=AT, end=LATER, kind="closed", reason="smith")
        clinic_exc = await desk.call("exceptions.add", dentist_id=None, start=LATER,
                                     end=f"{DAY.isoformat()}T12:00:00+00:00", kind="closed", reason="clinic")
    by = lambda pred: next(a for a in appts if pred(a))  # noqa: E731
    return {
        "bob_appt": by(lambda a: a["patient_id"] == 2),  # bob's: neither alice's nor drpatel's unless shared
        "smith_appt": by(lambda a: a["dentist_id"] == 1 and a["patient_id"] == 2),
        "smith_exc": smith_exc["id"],
        "clinic_exc": clinic_exc["id"],
    }


def _attacks(role: str, f: dict) -> list[tuple[str, dict]]:
    """(method, params) a user of `role` must not be allowed to do to others' resources."""
    smith = f["smith_appt"]
    hours = [{"weekday": 0, "start": "00:00", "end": "23:59"}]
    common = [
        ("appointments.update", {"id": smith["id"], "version": smith["version"], "notes": "pwned"}),
        ("appointments.update", {"id": smith["id"], "version": smith["version"], "status": "cancelled"}),
        ("appointments.cancel", {"id": smith["id"], "reason": "pwned"}),
        ("availability.set", {"dentist_id": 1, "weekly": hours}),
        ("exceptions.add", {"dentist_id": 1, "start": AT, "end": LATER, "kind": "closed", "reason": "pwned"}),
        ("exceptions.add", {"dentist_id": None, "start": AT, "end": LATER, "kind": "closed", "reason": "pwned"}),
        ("exceptions.delete", {"id": f["smith_exc"]}),
        ("exceptions.delete", {"id": f["clinic_exc"]}),
        ("patients.create", {"name": "Mallory"}),
    ]
    if role == "patient":  # alice, against bob and the staff
        return common + [
            ("appointments.create", {"dentist_id": 1, "type_id": 1, "start": AT, "patient_id": 2}),
            ("appointments.create", {"dentist_id": 1, "type_id": 4, "start": AT}),
            ("appointments.list", {"patient_id": 2}),
            ("patients.search", {"query": "bob"}),
            ("assistant.message", {"text": "cancel my appointment", "patient_id": 2}),
        ]
    return common  # drpatel, against drsmith's patients, hours and days off


ANONYMOUS = [(m, {}) for m in sorted(handlers.METHODS) if m not in handlers.PUBLIC_METHODS] + [("sync.subscribe", {"since": None})]


@pytest.mark.parametrize("username,role", [("alice", "patient"), ("drpatel", "dentist"), (None, "anonymous")])
async def test_others_resources_are_refused_and_unchanged(server, database_url, username, role):
    """Each attempt on someone else's appointment, hours, days off or patients answers forbidden/not_found/unauthenticated; the data stays as it was."""
    facts = await _facts(server.ws_url)
    before = await db_digest(database_url)
    attacks = ANONYMOUS if username is None else _attacks(role, facts)
    async with RpcClient(server.ws_url) as c:
        if username:
            await c.login(username)
        for method, params in attacks:
            try:
                result = await c.call(method, **params)
            except RpcError as exc:
                caught = exc
            else:
                pytest.fail(f"{method} {params} as {role} was allowed: {str(result)[:300]}")
            allowed = {"unauthenticated"} if username is None else {"forbidden", "not_found"}
            assert str(caught.reason) in allowed, f"{method} {params} as {role}: {caught.reason} {caught}"
        SECURITY.add(bad_inputs=len(attacks))
        if username:
            # What a patient or a colleague can read of others is a busy block: where and when, never who or why.
            if role == "patient":  # another patient's id in slots.find is ignored: it tells nothing about bob
                own = await c.call("slots.find", type_id=1, **RANGE)
                assert await c.call("slots.find", type_id=1, patient_id=2, **RANGE) == own
            for row in await c.call("appointments.list", **RANGE):
                if role == "patient" and row.get("patient_id") != 1:
                    assert row.get("busy") is True and "patient_name" not in row and "notes" not in row
    assert await db_digest(database_url) == before
