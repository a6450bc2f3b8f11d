"""The booking hot path in two statements: everything the rules need in one read, the insert in one write.

`appointments.create` is the request a busy clinic makes most, and the one the change feed serialises
(its commit-order lock is held from the insert's first trigger to commit). Here the write is a single
autocommit statement that tags the acting user for the audit trail and returns the wire row, so the
lock is held for one statement instead of several round trips.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

import asyncpg

from .. import booking as rules
from ..protocol import OCCUPYING_STATUSES

__all__ = [
    "UPDATABLE",
    "BookingContext",
    "TooManyBookings",
    "appointment_by_key",
    "booking_context",
    "insert_appointment",
    "read_for_change",
    "update_appointment",
]

_OCCUPYING = sorted(OCCUPYING_STATUSES)

_CONTEXT_SQL_TEMPLATE = """
SELECT json_build_object(
  'settings', {settings},
  'type', (SELECT json_build_object('id', t.id, 'name', t.name, 'duration_minutes', t.duration_minutes,
             'patient_bookable', t.patient_bookable, 'active', t.active) FROM appointment_types t WHERE t.id = $2),
  'dentist_active', (SELECT d.active FROM dentists d WHERE d.id = $1),
  'chair_active', (SELECT c.active FROM chairs c WHERE c.id = $4),
  'default_chair_id', (SELECT c.id FROM dentists d JOIN chairs c ON c.id = d.default_chair_id
                       WHERE d.id = $1 AND c.active),
  'blockouts', (SELECT coalesce(json_agg(json_build_object('dentist_id', b.dentist_id, 'chair_id', b.chair_id,
                  'start', greatest(b.start_at, $5), 'end', least(b.end_at, $6), 'type_name', bt.name,
                  'allow_online', bt.allow_online)), '[]')
                FROM blockouts b JOIN blockout_types bt ON bt.id = b.type_id
                WHERE (b.dentist_id IS NULL OR b.dentist_id = $1) AND b.end_at > $5 AND b.start_at < $6),
  'patient_exists', EXISTS (SELECT 1 FROM patients p WHERE p.id = $3),
  'hours', (SELECT coalesce(json_agg(json_build_object('dentist_id', w.dentist_id, 'weekday', w.weekday,
              'start', w.start_time, 'end', w.end_time)), '[]') FROM working_hours w WHERE w.dentist_id = $1),
  'exceptions', (SELECT coalesce(json_agg(json_build_object('dentist_id', e.dentist_id,
                   'start', greatest(e.start_at, $5), 'end', least(e.end_at, $6), 'kind', e.kind, 'reason', e.reason)),
                   '[]')
                 FROM schedule_exceptions e
                 WHERE (e.dentist_id IS NULL OR e.dentist_id = $1) AND e.end_at > $5 AND e.start_at < $6),
  'busy', (SELECT coalesce(json_agg(json_build_object('id', a.id, 'start', greatest(a.start_at, $5),
             'end', least(a.end_at, $6),
             'dentist_id', a.dentist_id, 'patient_id', a.patient_id, 'chair_id', a.chair_id)), '[]')
           FROM appointments a
           WHERE (a.dentist_id = $1 OR a.patient_id = $3
                  OR a.chair_id = coalesce($4, (SELECT d.default_chair_id FROM dentists d WHERE d.id = $1)))
             AND a.status = ANY($7::text[]) AND a.end_at > $5 AND a.start_at < $6)
)::text
"""

_SETTINGS_JSON = """(SELECT json_build_object('timezone', s.timezone, 'slot_minutes', s.slot_minutes,
                 'min_notice_minutes', s.min_notice_minutes, 'max_advance_days', s.max_advance_days,
                 'late_cancel_hours', s.late_cancel_hours) FROM clinic_settings s LIMIT 1)"""

_READ_SQL = f"""
SELECT clinic_wire_appointment(a)::text AS row, {_SETTINGS_JSON}::text AS settings
FROM appointments a WHERE a.id = $1
"""

_CONTEXT_SQL = _CONTEXT_SQL_TEMPLATE.replace("{settings}", _SETTINGS_JSON)

UPDATABLE = ("status", "notes", "dentist_id", "type_id", "chair_id", "start_at", "end_at", "updated_by",
             "cancel_reason", "duration_minutes", "arrived_at", "in_chair_at", "completed_at", "schedule_override")

# $12: the custom length (null: the type's); $13: whether the booking used a schedule override, which the
# audit trail records (clinic.override, read by the appointment_history trigger, lasts this statement only).
_INSERT_SQL = """
WITH actor AS (SELECT set_config('clinic.user_id', $1, true), set_config('clinic.override', $13, true))
INSERT INTO appointments (patient_id, dentist_id, chair_id, type_id, start_at, end_at, status, source, notes,
                          idempotency_key, created_by, updated_by, duration_minutes, schedule_override)
SELECT $2, $3, $4, $5, $6, $7, 'scheduled', $8, $9, $10, $11, $11, $12, $13 = 'on' FROM actor
RETURNING clinic_wire_appointment(appointments)::text
"""

# The same insert, made only while the patient holds fewer than $14 upcoming occupying appointments that
# they booked themself (online or through the assistant); what the clinic booked for them does not count.
_INSERT_CAPPED_SQL = _INSERT_SQL.replace(
    "FROM actor\n",
    "FROM actor WHERE (SELECT count(*) FROM appointments h WHERE h.patient_id = $2 AND h.created_by = $11\n"
    "                  AND h.start_at > now() AND h.status = ANY($15::text[])) < $14\n")

# Two-key advisory locks live apart from the feed's one-key lock (724242); this class is per patient.
_PATIENT_LOCK_CLASS = 7242


class TooManyBookings(Exception):
    """The patient already holds the most upcoming appointments they may book themself."""


@dataclass(frozen=True)
class BookingContext:
    settings: rules.ClinicSettings
    appt_type: rules.ApptType | None  # None: no such type, or retired
    dentist_active: bool | None  # None: no such dentist
    chair_active: bool | None  # None: no such chair (or none asked for)
    default_chair_id: int | None  # the dentist's default chair, when it is active
    patient_exists: bool
    hours: list[rules.WorkingPeriod]
    exceptions: list[rules.ScheduleException]
    busy: list[rules.BusyInterval]
    blockouts: list[rules.Blockout] = field(default_factory=list)


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _settings(s: dict[str, Any]) -> rules.ClinicSettings:
    return rules.ClinicSettings(
        timezone=s["timezone"], slot_minutes=s["slot_minutes"], min_notice_minutes=s["min_notice_minutes"],
        max_advance_days=s["max_advance_days"], late_cancel_hours=s["late_cancel_hours"])


async def read_for_change(pool: asyncpg.Pool, appt_id: int) -> tuple[dict[str, Any] | None, rules.ClinicSettings]:
    """The appointment's wire row (None if there is none) and the clinic settings, in one read."""
    row = await pool.fetchrow(_READ_SQL, appt_id)
    if row is None:
        return None, _settings(json.loads(await pool.fetchval(f"SELECT {_SETTINGS_JSON}::text")))
    return json.loads(row["row"]), _settings(json.loads(row["settings"]))


async def update_appointment(pool: asyncpg.Pool, appt_id: int, version: int, user_id: int,
                             values: dict[str, Any], *, override: bool = False) -> dict[str, Any] | None:
    """UPDATE the given columns (from UPDATABLE only) if the row is still at `version`, tagging the actor,
    in one autocommit statement; returns the new wire row, or None when someone changed it meanwhile.

    Optimistic: nothing is locked between the caller's read and this write, and the change feed's
    commit-order lock is held only while PostgreSQL runs this one statement. `override`: the change used
    a schedule override, which the audit trail records for this write.
    """
    cols = [c for c in values if c in UPDATABLE]
    if len(cols) != len(values):
        raise ValueError(f"not updatable: {sorted(set(values) - set(UPDATABLE))}")
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(cols, start=5))
    raw = await pool.fetchval(
        "WITH actor AS (SELECT set_config('clinic.user_id', $3, true), set_config('clinic.override', $4, true)) "
        f"UPDATE appointments SET {sets} FROM actor WHERE id = $1 AND version = $2 "
        "RETURNING clinic_wire_appointment(appointments)::text",
        appt_id, version, str(user_id), "on" if override else "off", *(values[c] for c in cols))
    return json.loads(raw) if raw is not None else None


async def booking_context(pool: asyncpg.Pool | asyncpg.Connection, *, dentist_id: int, type_id: int, patient_id: int,
                          chair_id: int | None, lo: datetime, hi: datetime) -> BookingContext:
    """Settings, the type, who exists, hours, exceptions and busy intervals around [lo, hi), in one read.

    Instants are clamped to [lo, hi): only the overlap matters, and a stored row reaching year 1 or
    infinity then never reaches Python's calendar arithmetic."""
    raw = await pool.fetchval(_CONTEXT_SQL, dentist_id, type_id, patient_id, chair_id, lo, hi, _OCCUPYING)
    c = json.loads(raw)
    t = c["type"]
    return BookingContext(
        settings=_settings(c["settings"]),
        appt_type=(rules.ApptType(id=t["id"], name=t["name"], duration_minutes=t["duration_minutes"],
                                  patient_bookable=t["patient_bookable"]) if t and t["active"] else None),
        dentist_active=c["dentist_active"],
        chair_active=c["chair_active"],
        default_chair_id=c["default_chair_id"],
        patient_exists=c["patient_exists"],
        hours=[rules.WorkingPeriod(dentist_id=h["dentist_id"], weekday=h["weekday"],
                                   start=time.fromisoformat(h["start"]), end=time.fromisoformat(h["end"]))
               for h in c["hours"]],
        exceptions=[rules.ScheduleException(dentist_id=e["dentist_id"], start=_instant(e["start"]),
                                            end=_instant(e["end"]), kind=e["kind"], reason=e["reason"])
                    for e in c["exceptions"]],
        busy=[rules.BusyInterval(start=_instant(b["start"]), end=_instant(b["end"]), dentist_id=b["dentist_id"],
                                 patient_id=b["patient_id"], chair_id=b["chair_id"], appointment_id=b["id"])
              for b in c["busy"]],
        blockouts=[rules.Blockout(start=_instant(b["start"]), end=_instant(b["end"]), type_name=b["type_name"],
                                  allow_online=b["allow_online"], dentist_id=b["dentist_id"], chair_id=b["chair_id"])
                   for b in c["blockouts"] if _instant(b["start"]) < _instant(b["end"])],
    )


async def insert_appointment(pool: asyncpg.Pool, *, user_id: int, patient_id: int, dentist_id: int,
                             chair_id: int | None, type_id: int, start: datetime, end: datetime, source: str,
                             notes: str, idempotency_key: str | None,
                             future_limit: int | None = None, duration_minutes: int | None = None,
                             override: bool = False) -> dict[str, Any]:
    """Insert a validated booking in one autocommit statement; returns its wire row.

    With `future_limit`, the insert is made only while the patient holds fewer upcoming appointments
    booked by this same user (else TooManyBookings). A per-patient advisory lock is taken first, in a statement of its own, so
    the insert's snapshot already sees every booking a parallel request of that patient committed.
    The lock order stays patient lock, then the feed lock (taken by the insert's statement trigger).

    Raises the driver's error for a constraint (23P01: the time was taken meanwhile; 23505: the
    idempotency key was used meanwhile).
    """
    args = (str(user_id), patient_id, dentist_id, chair_id, type_id, start, end, source, notes, idempotency_key,
            user_id, duration_minutes, "on" if override else "off")
    if future_limit is None:
        return json.loads(await pool.fetchval(_INSERT_SQL, *args))
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", _PATIENT_LOCK_CLASS, patient_id)
        raw = await conn.fetchval(_INSERT_CAPPED_SQL, *args, future_limit, _OCCUPYING)
    if raw is None:
        raise TooManyBookings()
    return json.loads(raw)


async def appointment_by_key(pool: asyncpg.Pool, key: str) -> dict[str, Any] | None:
    raw = await pool.fetchval(
        "SELECT clinic_wire_appointment(a)::text FROM appointments a WHERE a.idempotency_key = $1", key)
    return json.loads(raw) if raw is not None else None
