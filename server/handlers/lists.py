"""`lists.*`: the lists a front desk works from — unscheduled, confirmations, recall.

The unscheduled list and the confirmation state live on the appointment rows (migration 0006), so they
travel in the feed and every workstation's list is live; these methods read them for any JSON-RPC client
and make the two writes. Recall needs every completed visit, older than the feed's window too, so it is
read here, never derived from a client's store.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import Field, StrictStr, field_validator
from sqlalchemy import text

from ..protocol import ErrorCode, Reason, RpcError
from .common import Id, Params, _now, _rate_limit, _require, _settings

__all__ = [
    "ConfirmParams", "ConfirmationsParams", "RecallParams", "ResolveParams", "UnscheduledParams", "add_months",
    "lists_confirm", "lists_confirmations", "lists_recall", "lists_unscheduled", "lists_unscheduled_resolve",
    "next_working_days",
]

_WIRE = "SELECT clinic_wire_appointment(a) FROM appointments a WHERE a.id = :id"


class UnscheduledParams(Params):
    limit: int | None = Field(default=None, ge=1)


class ResolveParams(Params):
    id: Id
    version: Id
    outcome: Literal["dismissed", "rebooked"]
    rebooked_as: Id | None = None  # the new appointment, for "rebooked"


class ConfirmationsParams(Params):
    days: int | None = Field(default=None, ge=1, le=14)  # working days ahead; the clinic's setting when omitted


class ConfirmParams(Params):
    id: Id
    version: Id
    state: Literal["confirmed", "left_message", "no_answer"]


class RecallParams(Params):
    month: StrictStr  # "YYYY-MM"
    limit: int | None = Field(default=None, ge=1)

    @field_validator("month")
    @classmethod
    def _month(cls, v: str) -> str:
        _month_bounds(v)
        return v


def _invalid(**fields: str) -> RpcError:
    return RpcError(ErrorCode.INVALID_PARAMS, "Invalid params", Reason.INVALID_PARAMS, fields=fields)


def _limit(app, asked: int | None) -> int:
    most = app.config.list_rows_max
    if asked is not None and asked > most:
        raise _invalid(limit=f"must be at most {most}")
    return asked or most


def _month_bounds(month: str) -> tuple[date, date]:
    try:
        year, number = (int(part) for part in month.split("-"))
        first = date(year, number, 1)
    except ValueError:
        raise ValueError("must be a month like 2026-12") from None
    return first, date(year, number, calendar.monthrange(year, number)[1])


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or that month's last day when it is shorter (31 Aug + 6 = end of Feb)."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def next_working_days(today: date, count: int, weekdays: set[int], closed: set[date]) -> list[date]:
    """The next `count` days after `today` on which someone works (a weekday with hours, not a whole-clinic day off)."""
    days: list[date] = []
    day = today
    for _ in range(366):
        if len(days) == count or not weekdays:
            break
        day += timedelta(days=1)
        if day.weekday() in weekdays and day not in closed:
            days.append(day)
    return days


# --------------------------------------------------------------------------- unscheduled

async def lists_unscheduled(app, session, p: UnscheduledParams) -> list[dict[str, Any]]:
    """Cancelled and no-show appointments still to be rebooked, newest first."""
    _require(session, "admin")
    async with app.db.read() as conn:
        rows = (await conn.execute(text(
            "SELECT clinic_wire_appointment(a) FROM appointments a WHERE a.unscheduled_state = 'open' "
            "ORDER BY a.unscheduled_at DESC, a.id DESC LIMIT :limit"), {"limit": _limit(app, p.limit)})).scalars().all()
    return list(rows)


async def lists_unscheduled_resolve(app, session, p: ResolveParams) -> dict[str, Any]:
    """Take an appointment off the unscheduled list: dismissed, or rebooked (as `rebooked_as`)."""
    ident = _require(session, "admin")
    await _rate_limit(app, ident)
    async with app.db.transaction(ident.user_id) as conn:
        if p.rebooked_as is not None:
            exists = (await conn.execute(text("SELECT 1 FROM appointments WHERE id = :id"), {"id": p.rebooked_as})).first()
            if exists is None:
                raise _invalid(rebooked_as="unknown appointment")
        changed = (await conn.execute(text(
            "UPDATE appointments SET unscheduled_state = :outcome, rebooked_as = :as_, resolved_by = :uid, "
            "resolved_at = clock_timestamp(), updated_by = :uid "
            "WHERE id = :id AND version = :version AND unscheduled_state = 'open' RETURNING clinic_wire_appointment(appointments)"),
            {"outcome": p.outcome, "as_": p.rebooked_as, "uid": ident.user_id, "id": p.id, "version": p.version})).scalar()
        if changed is not None:
            return changed
        current = (await conn.execute(text(_WIRE), {"id": p.id})).scalar()
    if current is None:
        raise RpcError.app(Reason.NOT_FOUND, "That appointment does not exist.")
    if current["version"] != p.version:
        raise RpcError.app(Reason.VERSION_CONFLICT, "Someone else changed this appointment a moment ago.", current=current)
    raise RpcError.app(Reason.INVALID_TRANSITION, "This appointment is not on the unscheduled list any more.")


# --------------------------------------------------------------------------- confirmations

async def _working_days(conn, zone, count: int) -> list[date]:
    weekdays = {r[0] for r in (await conn.execute(text("SELECT DISTINCT weekday FROM working_hours"))).all()}
    today = _now().astimezone(zone).date()
    horizon = today + timedelta(days=31)
    closed: set[date] = set()
    for start_at, end_at in (await conn.execute(text(
            "SELECT start_at, end_at FROM schedule_exceptions WHERE dentist_id IS NULL AND kind = 'closed' "
            "AND end_at > now() AND start_at < :horizon"),
            {"horizon": datetime.combine(horizon, time(0), zone)})).all():
        day = start_at.astimezone(zone).date()
        while day <= end_at.astimezone(zone).date():
            whole = start_at <= datetime.combine(day, time(0), zone) and end_at >= datetime.combine(
                day + timedelta(days=1), time(0), zone)
            if whole:
                closed.add(day)
            day += timedelta(days=1)
    return next_working_days(today, count, weekdays, closed)


async def lists_confirmations(app, session, p: ConfirmationsParams) -> dict[str, Any]:
    """The next working days' appointments not yet confirmed, with the patient's phone, email and preferred contact."""
    _require(session, "admin")
    async with app.db.read() as conn:
        zone = (await _settings(conn)).zone
        days = await _working_days(conn, zone, p.days or app.config.confirmation_days)
        if not days:
            return {"days": [], "appointments": []}
        rows = (await conn.execute(text(
            "SELECT clinic_wire_appointment(a) || jsonb_build_object('patient_phone', p.phone, 'patient_email', p.email, "
            "'preferred_contact', p.preferred_contact) FROM appointments a JOIN patients p ON p.id = a.patient_id "
            "WHERE a.status = 'scheduled' AND a.start_at >= :lo AND a.start_at < :hi "
            "AND (a.start_at AT TIME ZONE :tz)::date = ANY(:days) ORDER BY a.start_at, a.id LIMIT :limit"),
            {"lo": datetime.combine(days[0], time(0), zone), "tz": str(zone), "days": days,
             "hi": datetime.combine(days[-1] + timedelta(days=1), time(0), zone),
             "limit": app.config.list_rows_max})).scalars().all()
    return {"days": [d.isoformat() for d in days], "appointments": list(rows)}


async def lists_confirm(app, session, p: ConfirmParams) -> dict[str, Any]:
    """Record a confirmation call on the version the user saw; "confirmed" also marks a scheduled appointment confirmed."""
    ident = _require(session, "admin")
    await _rate_limit(app, ident)
    async with app.db.transaction(ident.user_id) as conn:
        changed = (await conn.execute(text(
            "UPDATE appointments SET confirmation_state = :state, confirmation_by = :uid, "
            "confirmation_at = clock_timestamp(), updated_by = :uid, "
            "status = CASE WHEN :state = 'confirmed' AND status = 'scheduled' THEN 'confirmed' ELSE status END "
            "WHERE id = :id AND version = :version AND status IN ('scheduled', 'confirmed') "
            "RETURNING clinic_wire_appointment(appointments)"),
            {"state": p.state, "uid": ident.user_id, "id": p.id, "version": p.version})).scalar()
        if changed is not None:
            return changed
        current = (await conn.execute(text(_WIRE), {"id": p.id})).scalar()
    if current is None:
        raise RpcError.app(Reason.NOT_FOUND, "That appointment does not exist.")
    if current["version"] != p.version:
        raise RpcError.app(Reason.VERSION_CONFLICT, "Someone else changed this appointment a moment ago.", current=current)
    raise RpcError.app(Reason.INVALID_TRANSITION, "Only a scheduled or confirmed appointment can be confirmed.")


# --------------------------------------------------------------------------- recall

_RECALL_SQL = """
WITH last AS (
    SELECT a.patient_id, a.type_id, max(a.start_at) AS last_at
    FROM appointments a JOIN appointment_types t ON t.id = a.type_id
    WHERE a.status = 'completed' AND t.recall_months IS NOT NULL AND t.active
    GROUP BY a.patient_id, a.type_id
), due AS (
    SELECT l.*, t.name AS type_name, t.recall_months,
           ((l.last_at AT TIME ZONE :tz)::date + make_interval(months => t.recall_months))::date AS due
    FROM last l JOIN appointment_types t ON t.id = l.type_id
)
SELECT d.patient_id, d.type_id, d.type_name, d.recall_months, d.last_at, d.due,
       p.name, p.phone, p.email, p.preferred_contact, p.medical_alerts
FROM due d JOIN patients p ON p.id = d.patient_id
WHERE d.due <= :month_end
  AND NOT EXISTS (SELECT 1 FROM appointments b WHERE b.patient_id = d.patient_id AND b.type_id = d.type_id
                  AND b.status IN ('scheduled','confirmed','checked_in','in_chair') AND b.start_at > d.last_at)
ORDER BY d.due, p.name, d.type_id
LIMIT :limit
"""


async def lists_recall(app, session, p: RecallParams) -> dict[str, Any]:
    """Patients due (or overdue) by the end of `month` for a recall type, none booked since their last visit."""
    _require(session, "admin")
    first, last = _month_bounds(p.month)
    async with app.db.read() as conn:
        zone = (await _settings(conn)).zone
        rows = (await conn.execute(text(_RECALL_SQL), {"tz": str(zone), "month_end": last,
                                                       "limit": _limit(app, p.limit)})).all()
    return {"month": p.month, "rows": [{
        "patient_id": r.patient_id, "patient_name": r.name, "phone": r.phone, "email": r.email,
        "preferred_contact": r.preferred_contact, "medical_alerts": r.medical_alerts,
        "type_id": r.type_id, "type_name": r.type_name, "recall_months": r.recall_months,
        "last": r.last_at.astimezone(zone).date().isoformat(), "due": r.due.isoformat(), "overdue": r.due < first,
    } for r in rows]}
