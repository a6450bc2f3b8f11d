"""What an auditor greps for: no password, token or patient detail in the server log; hostile text stored verbatim and harmless."""

from __future__ import annotations

import asyncpg
import pytest

from server.protocol import RpcError
from tests.faults.clinic import db_digest, free_starts, weekday_ahead
from tests.faults.counters import SECURITY
from tests.helpers import RpcClient

HOSTILE = [
    "Robert'); DROP TABLE appointments; --",
    "' OR '1'='1",
    "1; DELETE FROM users WHERE 'a'='a",
    "\"; TRUNCATE change_log CASCADE; --",
    "$$; DROP TABLE patients; $$",
    "%_\\%",
    "Zoë 🦷 \u202egnp.exe ‮ <script>alert(1)</script>",
    "pg_sleep(10)--",
]


async def test_no_secret_or_patient_detail_reaches_the_log(server):
    """Sign-ins (right and wrong), a password change, a new patient, a booking with notes, errors: none of it shows up in the DEBUG log."""
    secrets = {
        "new password": "Kestrel-Molar-8841",
        "wrong password": "Wr0ng-Guess-Pelican-55",
        "patient name": "Quentin Zzyzx-Ablewhite",
        "phone": "07700 900417",
        "email": "quentin.zzyzx@example.org",
        "notes": "Allergic to penicillin; anxious about drills",
        "cancel reason": "Moving to Zzyzx Road",
        "assistant text": "Please book Quentin Zzyzx-Ablewhite a cleaning",
    }
    async with RpcClient(server.ws_url) as desk, RpcClient(server.ws_url) as c:
        login = await desk.login("frontdesk")
        secrets["access token"] = login["access_token"]
        secrets["refresh token"] = login["refresh_token"]
        with pytest.raises(RpcError):
            await c.login("drsmith", secrets["wrong password"])
        changed = await c.call("auth.login", username="drsmith", password="demo")
        secrets["dentist access token"] = changed["access_token"]
        again = await c.call("auth.change_password", current_password="demo", new_password=secrets["new password"])
        secrets["rotated refresh token"] = again["refresh_token"]
        patient = await desk.call("patients.create", name=secrets["patient name"], phone=secrets["phone"],
                                  email=secrets["email"], date_of_birth="1979-02-28")
        start = (await free_starts(desk, 1, patient["id"]))[0]
        appt = await desk.call("appointments.create", dentist_id=1, type_id=1, start=start, patient_id=patient["id"],
                               notes=secrets["notes"])
        with pytest.raises(RpcError):  # the same slot again: an error path
            await desk.call("appointments.create", dentist_id=1, type_id=1, start=start, patient_id=patient["id"],
                            notes=secrets["notes"])
        with pytest.raises(RpcError):  # invalid params carrying the secrets
            await desk.call("patients.create", name=secrets["patient name"], phone=secrets["notes"] * 10)
        await desk.call("assistant.message", text=secrets["assistant text"], patient_id=patient["id"])
        await desk.call("appointments.cancel", id=appt["id"], reason=secrets["cancel reason"])
        await desk.call("patients.search", query="Zzyzx")
        with pytest.raises(RpcError):
            await desk.call("auth.resume", access_token=secrets["access token"][:-3] + "abc")
        with pytest.raises(RpcError):
            await desk.call("auth.refresh", refresh_token=secrets["refresh token"] + "x")
    server.stop()  # flush everything
    log = server.log_text()
    assert "DEBUG" in log or "INFO" in log, "the server logged nothing at all: the check would prove nothing"
    SECURITY.add(bad_inputs=len(secrets))
    leaked = {what: value for what, value in secrets.items() if value in log or value[:24] in log}
    assert leaked == {}, f"found in the server log: {sorted(leaked)}"
    assert "Zzyzx" not in log and "penicillin" not in log


async def test_injection_strings_in_every_text_field_are_stored_verbatim(server, database_url):
    """SQL and script fragments in every free-text field come back exactly as sent; the tables they name are untouched."""
    day = weekday_ahead(12)
    async with RpcClient(server.ws_url) as desk:
        await desk.login("frontdesk")
        for i, text in enumerate(HOSTILE):
            phone = f"+44 20 7946 {1000 + i}"  # a phone number must be one (issue 15); the rest is free text
            patient = await desk.call("patients.create", name=text[:200], phone=phone, email=text[:200])
            assert (patient["name"], patient["phone"], patient["email"]) == (text[:200], phone, text[:200])
            found = await desk.call("patients.search", query=text[:200])
            assert patient["id"] in [p["id"] for p in found]
            start = (await free_starts(desk, 1 + i % 2, patient["id"], days_ahead=12))[0]
            appt = await desk.call("appointments.create", dentist_id=1 + i % 2, type_id=1, start=start,
                                   patient_id=patient["id"], notes=text, idempotency_key=text[:200])
            assert appt["notes"] == text and appt["patient_name"] == text[:200]
            cancelled = await desk.call("appointments.cancel", id=appt["id"], reason=text[:500])
            assert cancelled["cancel_reason"] == text[:500]
            exc = await desk.call("exceptions.add", dentist_id=None, start=f"{day.isoformat()}T{i:02d}:00:00+00:00",
                                  end=f"{day.isoformat()}T{i:02d}:30:00+00:00", kind="closed", reason=text[:500])
            assert exc["reason"] == text[:500]
            reply = await desk.call("assistant.message", text=text, patient_id=patient["id"])
            assert isinstance(reply["reply"], str)
            for name in (text, text[:150]):
                with pytest.raises(RpcError) as caught:
                    await desk.call("auth.login", username=name[:150], password=text)
                assert caught.value.reason in ("unauthenticated", "rate_limited")
        SECURITY.add(bad_inputs=len(HOSTILE) * 10)
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetch("SELECT notes, cancel_reason FROM appointments WHERE notes = ANY($1::text[])", HOSTILE)
        assert sorted(r["notes"] for r in stored) == sorted(HOSTILE)
        for table in ("appointments", "patients", "users", "change_log"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") > 0
        assert await conn.fetchval("SELECT count(*) FROM users") == 5
    finally:
        await conn.close()


async def test_text_postgres_cannot_store_is_refused_cleanly(server, database_url):
    """A NUL character (PostgreSQL text cannot hold it) in any text field gets invalid_params, never `internal`, and changes nothing."""
    before = await db_digest(database_url)
    async with RpcClient(server.ws_url) as desk:
        await desk.login("frontdesk")
        start = f"{weekday_ahead(12).isoformat()}T09:00:00+00:00"
        calls = [
            ("patients.create", {"name": "Nul\x00Patient"}),
            ("patients.create", {"name": "ok", "phone": "0\x00"}),
            ("patients.search", {"query": "a\x00"}),
            ("appointments.create", {"dentist_id": 1, "type_id": 1, "start": start, "patient_id": 1, "notes": "a\x00b"}),
            ("appointments.create", {"dentist_id": 1, "type_id": 1, "start": start, "patient_id": 1, "idempotency_key": "\x00"}),
            ("appointments.update", {"id": 1, "version": 1, "notes": "\x00"}),
            ("appointments.cancel", {"id": 1, "reason": "\x00"}),
            ("exceptions.add", {"dentist_id": None, "start": start, "end": start.replace("09:", "10:"), "kind": "closed", "reason": "\x00"}),
            ("assistant.message", {"text": "book\x00"}),
            ("auth.login", {"username": "alice\x00", "password": "demo"}),
        ]
        for method, params in calls:
            with pytest.raises(RpcError) as caught:
                await desk.call(method, **params)
            assert caught.value.code in (-32602, -32000) and str(caught.value.reason) != "internal", (method, caught.value)
        SECURITY.add(bad_inputs=len(calls))
        assert await desk.call("directory.get")
    assert await db_digest(database_url) == before
