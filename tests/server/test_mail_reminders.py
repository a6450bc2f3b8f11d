"""Email through a real SMTP server on loopback (aiosmtpd): confirmations with an .ics in the clinic's zone,
and a reminder sent exactly once though the server is killed while sending it and restarted."""

from __future__ import annotations

import asyncio
import email
import threading
from datetime import date, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from aiosmtpd.controller import Controller
from icalendar import Calendar

from server.mail_message import AppointmentMail, build_message
from server.mailer import backoff_seconds
from tests.helpers import RpcClient
from tests.server_process import ServerProcess, free_port

pytestmark = pytest.mark.slow

SMITH, CHECK_UP = 1, 1
LONDON = ZoneInfo("Europe/London")


class Inbox:
    """An aiosmtpd handler that keeps what it accepted; it can hold the first reminder until released."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.hold_reminder = False
        self.in_flight = threading.Event()
        self.release = threading.Event()
        self.dropped = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        message = email.message_from_bytes(envelope.original_content)
        if self.hold_reminder and message["Subject"].startswith("Reminder"):
            self.hold_reminder = False
            self.in_flight.set()
            try:
                while not self.release.is_set():
                    await asyncio.sleep(0.02)
            except asyncio.CancelledError:  # aiosmtpd ends the session's handler when the client goes
                self.dropped += 1
                raise
            if server.transport is None or server.transport.is_closing():
                self.dropped += 1  # the client died before our "250 OK": the message was never accepted
                return "451 client gone"
        with self._lock:
            self.messages.append(message)
        return "250 OK"

    def subjects(self) -> list[str]:
        with self._lock:
            return [m["Subject"] for m in self.messages]

    def find(self, prefix: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m["Subject"].startswith(prefix)]


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        inbox.release.set()
        controller.stop()


def _server(database_url: str, tmp_path: Path, smtp_port: int, **env: str) -> ServerProcess:
    extra = {"CLINIC_SMTP_HOST": "127.0.0.1", "CLINIC_SMTP_PORT": str(smtp_port), "CLINIC_SMTP_STARTTLS": "0",
             "CLINIC_SMTP_FROM": "DentalCare Connect <desk@clinic.example>", "CLINIC_MAIL_POLL_SECONDS": "0.2",
             "CLINIC_MAIL_RETRY_SECONDS": "0.5", **env}
    return ServerProcess(database_url, tmp_path / "data", tmp_path / "server.log", extra_env=extra)


async def _until(predicate, what: str, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate() if asyncio.iscoroutinefunction(predicate) else not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def _weekday_ahead(days: int) -> date:
    day = date.today() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


async def _sql(url: str, query: str, *args: Any) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def _book_for_alice(url: str, ws_url: str, day: date) -> dict[str, Any]:
    async with RpcClient(ws_url) as admin:
        await admin.login("frontdesk")
        alice = (await _sql(url, "SELECT id FROM patients WHERE name = 'Alice Brown'"))[0]["id"]
        slots = await admin.call("slots.find", type_id=CHECK_UP, dentist_id=SMITH, patient_id=alice,
                                 **{"from": day.isoformat(), "to": day.isoformat()})
        return await admin.call("appointments.create", dentist_id=SMITH, type_id=CHECK_UP, start=slots[-1]["start"],
                                patient_id=alice)


def _calendar(message: Message) -> Calendar:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    return Calendar.from_ical(part.get_payload(decode=True))


async def test_booking_and_cancel_confirmations_carry_an_ics_in_the_clinics_zone(smtp, database_url, tmp_path):
    """Booking mails "Appointment booked" with a VEVENT at the local start/end (TZID Europe/London); a cancel mails
    the same UID with METHOD:CANCEL."""
    inbox, port = smtp
    await _sql(database_url, "UPDATE patients SET email = 'alice@example.org' WHERE name = 'Alice Brown'")
    server = _server(database_url, tmp_path, port)
    await asyncio.to_thread(server.start)
    try:
        booked = await _book_for_alice(database_url, server.ws_url, _weekday_ahead(5))
        await _until(lambda: inbox.find("Appointment booked"), "the booking confirmation")
        [message] = inbox.find("Appointment booked")
        assert message["To"] == "alice@example.org" and "desk@clinic.example" in message["From"]
        start = datetime.fromisoformat(booked["start"]).astimezone(LONDON)
        assert f"{start:%H:%M}" in message["Subject"]
        cal = _calendar(message)
        [tz] = cal.walk("VTIMEZONE")
        assert str(tz["TZID"]) == "Europe/London"
        [event] = cal.walk("VEVENT")
        assert event["DTSTART"].params["TZID"] == "Europe/London"
        assert event.decoded("DTSTART") == start and event.decoded("DTSTART").utcoffset() == start.utcoffset()
        assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(minutes=30)
        assert str(event["SUMMARY"]) == "Check-up with Dr Smith — DentalCare Connect Demo"
        assert str(event["UID"]) == f"appointment-{booked['id']}@clinic.example"

        async with RpcClient(server.ws_url) as admin:
            await admin.login("frontdesk")
            await admin.call("appointments.cancel", id=booked["id"], reason="Clinic closed")
        await _until(lambda: inbox.find("Appointment cancelled"), "the cancel confirmation")
        cancel = _calendar(inbox.find("Appointment cancelled")[0])
        assert str(cancel["METHOD"]) == "CANCEL"
        [gone] = cancel.walk("VEVENT")
        assert str(gone["UID"]) == f"appointment-{booked['id']}@clinic.example" and str(gone["STATUS"]) == "CANCELLED"
        rows = await _sql(database_url, "SELECT kind, status, sent_at IS NOT NULL AS sent, subject FROM mail_outbox "
                                        "ORDER BY id")
        assert [(r["kind"], r["status"], r["sent"]) for r in rows] == [("booked", "sent", True),
                                                                         ("cancelled", "sent", True)]
    finally:
        await asyncio.to_thread(server.stop)


async def test_a_reminder_is_sent_exactly_once_though_the_server_dies_while_sending_it(smtp, database_url, tmp_path):
    """Killed mid-send, the claim rolls back; the restarted server sends it; more restarts send nothing more."""
    inbox, port = smtp
    await _sql(database_url, "UPDATE patients SET email = 'alice@example.org' WHERE name = 'Alice Brown'")
    server = _server(database_url, tmp_path, port, CLINIC_REMINDER_HOURS="168")
    await asyncio.to_thread(server.start)
    try:
        booked = await _book_for_alice(database_url, server.ws_url, _weekday_ahead(2))
        await _until(lambda: inbox.find("Appointment booked"), "the booking confirmation")
        inbox.hold_reminder = True
        # Booked a month ago: its reminder is due now (a booking made inside the window gets none).
        await _sql(database_url, "UPDATE appointments SET created_at = now() - interval '30 days' WHERE id = $1",
                   booked["id"])
        assert await asyncio.to_thread(inbox.in_flight.wait, 20), "the reminder was not sent"
        await asyncio.to_thread(server.kill)  # mid-send: the SMTP server has not said "250 OK" yet
        inbox.release.set()
        await _until(lambda: inbox.dropped == 1, "the SMTP server to drop the half-sent message")
        [row] = await _sql(database_url, "SELECT status, sent_at FROM mail_outbox WHERE kind = 'reminder'")
        assert row["status"] == "pending" and row["sent_at"] is None

        await asyncio.to_thread(server.start)
        await _until(lambda: inbox.find("Reminder"), "the reminder after the restart")
        for _ in range(2):  # restart twice more; each time let the sender run whole cycles
            await asyncio.to_thread(server.stop)
            await asyncio.to_thread(server.start)
            started = datetime.now().astimezone()
            for _cycle in range(2):
                seen = (await _sql(database_url, "SELECT last_cycle_at FROM mail_state"))[0]["last_cycle_at"]

                async def cycled(seen=seen, started=started) -> bool:
                    now = (await _sql(database_url, "SELECT last_cycle_at FROM mail_state"))[0]["last_cycle_at"]
                    return now > max(seen, started)

                await _until(cycled, "a mail cycle after the restart")
        reminders = inbox.find("Reminder")
        assert len(reminders) == 1
        start = datetime.fromisoformat(booked["start"]).astimezone(LONDON)
        [event] = _calendar(reminders[0]).walk("VEVENT")
        assert event.decoded("DTSTART") == start
        rows = await _sql(database_url, "SELECT status, attempts FROM mail_outbox WHERE kind = 'reminder'")
        assert [(r["status"], r["attempts"]) for r in rows] == [("sent", 1)]
    finally:
        await asyncio.to_thread(server.stop)


async def test_an_unreachable_smtp_server_is_retried_with_backoff_and_never_blocks_booking(database_url, tmp_path):
    """With nothing listening, the booking still succeeds at once; the message stays pending with its error and
    a later next attempt, doubling each time."""
    server = _server(database_url, tmp_path, free_port())
    await _sql(database_url, "UPDATE patients SET email = 'alice@example.org' WHERE name = 'Alice Brown'")
    await asyncio.to_thread(server.start)
    try:
        await _book_for_alice(database_url, server.ws_url, _weekday_ahead(4))

        async def failed_once() -> bool:
            rows = await _sql(database_url, "SELECT attempts FROM mail_outbox")
            return bool(rows) and rows[0]["attempts"] >= 1

        await _until(failed_once, "a failed attempt")
        [row] = await _sql(database_url, "SELECT status, last_error, next_attempt_at > now() AS later FROM mail_outbox")
        assert row["status"] == "pending" and row["last_error"]
    finally:
        await asyncio.to_thread(server.stop)
    assert [backoff_seconds(n, 60) for n in (1, 2, 3, 10)] == [60, 120, 240, 3600]


def test_the_message_says_what_happened_in_the_clinics_time():
    """A move names the new and the old time in the clinic's zone; the .ics event runs start to end."""
    mail = AppointmentMail(kind="moved", appointment_id=7, sequence=3, recipient="a@example.org",
                           sender="Clinic <desk@clinic.example>", clinic_name="Clinic", timezone="Europe/London",
                           patient_name="Alice Brown", dentist_name="Dr Smith", type_name="Filling",
                           start=datetime(2026, 7, 1, 8, 0, tzinfo=ZoneInfo("UTC")),
                           end=datetime(2026, 7, 1, 9, 0, tzinfo=ZoneInfo("UTC")),
                           previous_start=datetime(2026, 6, 30, 13, 0, tzinfo=ZoneInfo("UTC")))
    message = build_message(mail, stamp=datetime(2026, 6, 1, tzinfo=ZoneInfo("UTC")))
    assert message["Subject"] == "Appointment moved: Filling now on Wednesday 1 July 2026 at 09:00"
    assert "it was Tuesday 30 June 2026 at 14:00" in message.get_body().get_content()
    [event] = _calendar(message).walk("VEVENT")
    assert event.decoded("DTSTART").hour == 9 and event.decoded("DTEND").hour == 10
    assert int(event["SEQUENCE"]) == 3
