"""The background mail sender: drains `mail_outbox`, queues reminders, retries with backoff.

Confirmations are queued by a trigger on `appointments` (migration 0007) in the booking's own
transaction, and only while some server's sender is running (`mail_state.enabled_until`, renewed every
cycle): sending never holds up a booking, and a clinic with mail off queues nothing. Reminders are
queued here, once per appointment start (a unique index), for appointments starting within
`reminder_hours` that were booked before that window opened (a later booking's confirmation says it all).

Exactly once: each message is claimed with `FOR UPDATE SKIP LOCKED` in a transaction that stays open
while it is sent and marks it sent before committing. Another instance skips the claimed row; a server
that dies mid-send leaves the row unclaimed and unsent (its transaction rolls back with its
connection), and the next sender sends it. The one window left is between the SMTP server's "250 OK"
and our COMMIT; the SMTP server has the message then and a crash in that instant would send it twice.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosmtplib
import asyncpg

from .config import Config
from .mail_message import AppointmentMail, build_message

__all__ = ["Mailer", "backoff_seconds"]

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)  # confirmations are queued this long after a sender's last cycle
MAX_BACKOFF = 3600.0

_CLAIM_SQL = """
SELECT m.id, m.kind, m.appointment_id, m.recipient, m.start_at, m.previous_start_at, m.attempts,
       a.start_at AS now_start, a.end_at, a.status, a.version, p.name AS patient_name, d.name AS dentist_name,
       t.name AS type_name, s.clinic_name, s.timezone
FROM mail_outbox m
JOIN appointments a ON a.id = m.appointment_id
JOIN patients p ON p.id = a.patient_id
JOIN dentists d ON d.id = a.dentist_id
JOIN appointment_types t ON t.id = a.type_id
CROSS JOIN clinic_settings s
WHERE m.status = 'pending' AND m.next_attempt_at <= now()
ORDER BY m.next_attempt_at, m.id
LIMIT 1
FOR UPDATE OF m SKIP LOCKED
"""

_QUEUE_REMINDERS_SQL = """
INSERT INTO mail_outbox (kind, appointment_id, recipient, start_at)
SELECT 'reminder', a.id, btrim(p.email), a.start_at
FROM appointments a JOIN patients p ON p.id = a.patient_id
WHERE a.status IN ('scheduled', 'confirmed') AND a.start_at > now() AND a.start_at <= now() + $1::interval
  AND a.created_at < a.start_at - $1::interval AND nullif(btrim(p.email), '') IS NOT NULL
ON CONFLICT (appointment_id, start_at) WHERE kind = 'reminder' DO NOTHING
"""

_OCCUPYING = ("scheduled", "confirmed", "checked_in", "in_chair", "completed")


def backoff_seconds(attempts: int, base: float) -> float:
    """The wait before attempt `attempts + 1`: base, 2×base, 4×base, … at most an hour. Pure."""
    return min(MAX_BACKOFF, base * (2 ** max(0, attempts - 1)))


def stale_reason(row: Any, now: datetime) -> str | None:
    """Why a queued message should no longer go out, or None. Pure."""
    if row["kind"] == "reminder":
        if row["status"] not in ("scheduled", "confirmed") or row["now_start"] != row["start_at"]:
            return "the appointment changed after the reminder was queued"
        if row["now_start"] <= now:
            return "the appointment has started"
    elif row["kind"] in ("booked", "moved") and row["now_start"] <= now:
        return "the appointment has started"
    elif row["kind"] == "cancelled" and row["start_at"] <= now:
        return "the cancelled appointment's time has passed"
    return None


@dataclass
class _Outcome:
    status: str  # sent | pending | failed | skipped
    error: str | None = None
    message_id: str | None = None
    subject: str | None = None


class Mailer:
    """One server's sender: a loop that renews the lease, queues reminders and drains the outbox."""

    def __init__(self, dsn: str, config: Config) -> None:
        self.dsn = dsn
        self.config = config
        self._pool: asyncpg.Pool | None = None
        self._wake = asyncio.Event()

    @property
    def enabled(self) -> bool:
        return bool(self.config.smtp_host)

    async def start(self) -> None:
        # Its own small pool: a claim stays open while a message is sent, so these sessions may sit in a
        # transaction for up to the SMTP timeout (the request pool cuts idle transactions much sooner).
        idle_ms = int((self.config.smtp_timeout_seconds * 3 + 30) * 1000)
        self._pool = await asyncpg.create_pool(
            self.dsn, min_size=0, max_size=2,
            server_settings={"application_name": "clinic-mailer", "TimeZone": "UTC",
                             "idle_in_transaction_session_timeout": str(idle_ms)})
        await self.renew_lease()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None
        return self._pool

    async def renew_lease(self) -> None:
        await self.pool.execute("UPDATE mail_state SET enabled_until = now() + $1::interval, last_cycle_at = now()",
                                LEASE)

    async def run(self) -> None:
        """Forever: a cycle every `mail_poll_seconds`. A failing cycle is logged and tried again."""
        while True:
            try:
                await self.cycle()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("mail cycle failed: %s", type(exc).__name__)
            try:
                await asyncio.wait_for(self._wake.wait(), self.config.mail_poll_seconds)
            except TimeoutError:
                pass
            self._wake.clear()

    async def cycle(self) -> int:
        """Renew the lease, queue due reminders, send what is due; returns how many were sent."""
        await self.queue_reminders()
        sent = 0
        while await self.send_one():
            sent += 1
        await self.renew_lease()  # last: `last_cycle_at` then means "everything due was handled"
        return sent

    async def queue_reminders(self) -> int:
        status = await self.pool.execute(_QUEUE_REMINDERS_SQL, timedelta(hours=self.config.reminder_hours))
        return int(status.split()[-1])

    async def send_one(self) -> bool:
        """Claim, send and mark one due message in one transaction; False when none is due."""
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                row = await conn.fetchrow(_CLAIM_SQL)
                if row is None:
                    return False
                outcome = await self._deliver(row)
                if outcome.status == "pending":
                    attempts = row["attempts"] + 1
                    failed = attempts >= self.config.mail_max_attempts
                    await conn.execute(
                        "UPDATE mail_outbox SET attempts = $2, last_error = $3, status = $4, "
                        "next_attempt_at = now() + $5::interval WHERE id = $1",
                        row["id"], attempts, outcome.error, "failed" if failed else "pending",
                        timedelta(seconds=backoff_seconds(attempts, self.config.mail_retry_seconds)))
                else:
                    await conn.execute(
                        "UPDATE mail_outbox SET status = $2, attempts = attempts + $3, last_error = $4, "
                        "message_id = $5, subject = $6, sent_at = CASE WHEN $2 = 'sent' THEN now() END WHERE id = $1",
                        row["id"], outcome.status, 0 if outcome.status == "skipped" else 1, outcome.error,
                        outcome.message_id, outcome.subject)
        return True

    async def _deliver(self, row: Any) -> _Outcome:
        now = datetime.now(UTC)
        why = stale_reason(row, now)
        if why is not None:
            return _Outcome("skipped", why)
        mail = AppointmentMail(
            kind=row["kind"], appointment_id=row["appointment_id"], sequence=row["version"],
            recipient=row["recipient"], sender=self.config.smtp_from, clinic_name=row["clinic_name"],
            timezone=row["timezone"], patient_name=row["patient_name"], dentist_name=row["dentist_name"],
            type_name=row["type_name"], start=row["now_start"], end=row["end_at"],
            previous_start=row["previous_start_at"])
        message = build_message(mail, stamp=now)
        cfg = self.config
        try:
            await aiosmtplib.send(
                message, hostname=cfg.smtp_host, port=cfg.smtp_port, username=cfg.smtp_user or None,
                password=cfg.smtp_password or None, start_tls=cfg.smtp_starttls, use_tls=False,
                timeout=cfg.smtp_timeout_seconds)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            return _Outcome("failed", f"recipient refused: {exc}"[:500])
        except aiosmtplib.SMTPResponseException as exc:
            error = f"{exc.code} {exc.message}"[:500]
            if 500 <= exc.code < 600:
                log.warning("mail %d refused permanently (%s)", row["id"], exc.code)
                return _Outcome("failed", error)
            return _Outcome("pending", error)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            return _Outcome("pending", f"{type(exc).__name__}: {exc}"[:500])
        return _Outcome("sent", message_id=message["Message-ID"], subject=mail.subject)
