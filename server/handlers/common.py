"""What every namespace's handlers share: the params base, authorisation, the booking context, retries and limits."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import math
import random
import time as _time
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator
from sqlalchemy import func, or_, select

from .. import booking as rules
from ..auth import Identity
from ..db import tables as t
from ..db.database import sqlstate_of
from ..protocol import OCCUPYING_STATUSES, ErrorCode, Reason, RpcError, view_for

EXCLUSION_VIOLATION = "23P01"


UNIQUE_VIOLATION = "23505"


LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout expired


RACE_STATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock: the transaction was rolled back


WRITE_ATTEMPTS = 3


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_max_length=4000)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, v: Any) -> Any:
        # PostgreSQL text cannot hold U+0000: refuse it here as invalid params, not later as an internal fault.
        if isinstance(v, str) and "\x00" in v:
            raise ValueError("must not contain the NUL character")
        return v


class NoParams(Params):
    pass


def _parse_instant(value: str) -> datetime:
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO 8601 instant with an offset, e.g. 2026-12-01T09:00:00+00:00") from None
    if dt.tzinfo is None:
        raise ValueError("must include a UTC offset")
    try:
        return dt.astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00+05:00 lies before year 1 in UTC
        raise ValueError("is out of range") from None


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a date like 2026-12-01") from None


# Every id and version is a PostgreSQL integer; a larger number is a bad param, not a server error.
Id = Annotated[StrictInt, Field(ge=0, le=2**31 - 1)]


class IdParams(Params):
    id: Id


def _require(session, *roles: str) -> Identity:
    ident = session.identity
    if ident is None:
        raise RpcError.app(Reason.UNAUTHENTICATED, "Please sign in first.")
    if ident.expires_at < _time.time():
        raise RpcError.app(Reason.UNAUTHENTICATED, "Your session has expired. Please sign in again.")
    if roles and ident.role not in roles:
        raise RpcError.app(Reason.FORBIDDEN, "You are not allowed to do that.")
    return ident


def _booking_error(exc: rules.BookingError) -> RpcError:
    extra: dict[str, Any] = {}
    if exc.fields:
        extra["fields"] = exc.fields
    return RpcError.app(exc.reason, exc.message, **extra)


async def _settings(conn) -> rules.ClinicSettings:
    s = (await conn.execute(select(t.clinic_settings))).one()
    return rules.ClinicSettings(
        timezone=s.timezone, slot_minutes=s.slot_minutes, min_notice_minutes=s.min_notice_minutes,
        max_advance_days=s.max_advance_days, late_cancel_hours=s.late_cancel_hours,
    )


async def _appt_type(conn, type_id: int) -> rules.ApptType:
    row = (await conn.execute(select(t.appointment_types).where(t.appointment_types.c.id == type_id))).first()
    if row is None or not row.active:
        raise RpcError.app(Reason.NOT_FOUND, "That treatment type does not exist.", fields={"type_id": "unknown"})
    return rules.ApptType(id=row.id, name=row.name, duration_minutes=row.duration_minutes,
                          patient_bookable=row.patient_bookable)


async def _context(conn, dentist_ids: list[int], lo: datetime, hi: datetime, patient_id: int | None,
                   chair_id: int | None = None):
    """Working hours, exceptions and busy intervals relevant to [lo, hi).

    Instants are clamped to [lo, hi) in SQL: only the overlap matters to the rules, and a stored row
    reaching year 1 or beyond 9999 (or infinity) then never reaches Python's calendar arithmetic.
    """
    wh = t.working_hours
    hours = [
        rules.WorkingPeriod(dentist_id=r.dentist_id, weekday=r.weekday, start=r.start_time, end=r.end_time)
        for r in (await conn.execute(select(wh).where(wh.c.dentist_id.in_(dentist_ids)))).all()
    ]
    se = t.schedule_exceptions
    exceptions = [
        rules.ScheduleException(dentist_id=r.dentist_id, start=r.start_at, end=r.end_at, kind=r.kind, reason=r.reason)
        for r in (await conn.execute(
            select(se.c.dentist_id, func.greatest(se.c.start_at, lo).label("start_at"),
                   func.least(se.c.end_at, hi).label("end_at"), se.c.kind, se.c.reason).where(
                or_(se.c.dentist_id.is_(None), se.c.dentist_id.in_(dentist_ids)),
                se.c.end_at > lo, se.c.start_at < hi,
            )
        )).all()
    ]
    a = t.appointments
    who = [a.c.dentist_id.in_(dentist_ids)]
    if patient_id is not None:
        who.append(a.c.patient_id == patient_id)
    if chair_id is not None:
        who.append(a.c.chair_id == chair_id)
    busy = [
        rules.BusyInterval(start=r.start_at, end=r.end_at, dentist_id=r.dentist_id, patient_id=r.patient_id,
                           chair_id=r.chair_id, appointment_id=r.id)
        for r in (await conn.execute(
            select(a.c.id, func.greatest(a.c.start_at, lo).label("start_at"), func.least(a.c.end_at, hi).label("end_at"),
                   a.c.dentist_id, a.c.patient_id, a.c.chair_id).where(
                or_(*who), a.c.status.in_(OCCUPYING_STATUSES), a.c.end_at > lo, a.c.start_at < hi,
            )
        )).all()
    ]
    return hours, exceptions, busy


def _visible(ident: Identity, row: dict[str, Any]) -> dict[str, Any] | None:
    kind, shaped = view_for("appointment", row, ident.role, ident.dentist_id, ident.patient_id)
    return shaped if kind in ("full", "busy") else None


def _may_act(ident: Identity, row: dict[str, Any]) -> bool:
    return rules.may_act_on(role=ident.role, user_dentist_id=ident.dentist_id, user_patient_id=ident.patient_id,
                            appointment_dentist_id=row["dentist_id"], appointment_patient_id=row["patient_id"])


async def _dentist_exists(conn, dentist_id: int) -> None:
    row = (await conn.execute(select(t.dentists.c.active).where(t.dentists.c.id == dentist_id))).first()
    if row is None or not row.active:
        raise RpcError.app(Reason.NOT_FOUND, "That dentist does not exist.", fields={"dentist_id": "unknown"})


async def _chair_exists(conn, chair_id: int | None) -> None:
    if chair_id is None:
        return
    row = (await conn.execute(select(t.chairs.c.active).where(t.chairs.c.id == chair_id))).first()
    if row is None or not row.active:
        raise RpcError.app(Reason.NOT_FOUND, "That chair does not exist.", fields={"chair_id": "unknown"})


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _in_window(app, **values: date | datetime | None) -> None:
    """Refuse dates and instants more than `date_window_years` from today (invalid_params, per field).

    A clinic has no business in year 1 or 9999, and such values would overflow the calendar
    arithmetic downstream or poison the slot finder for everyone once stored.
    """
    fields = _outside_window(app, **values)
    if fields:
        raise RpcError(ErrorCode.INVALID_PARAMS, "Invalid params", Reason.INVALID_PARAMS, fields=fields)


def _outside_window(app, **values: date | datetime | None) -> dict[str, str]:
    """{field: message} for each value more than `date_window_years` from today (a trailing _ dropped)."""
    years = app.config.date_window_years
    today = _now().date()
    reach = timedelta(days=365 * years + years // 4)
    fields = {}
    for name, value in values.items():
        if value is None:
            continue
        day = value.date() if isinstance(value, datetime) else value
        if not (today - reach <= day <= today + reach):
            fields[name.rstrip("_")] = f"must be within {years} years of today"
    return fields


def _busy() -> RpcError:
    """A lost lock race or a lock wait past `lock_timeout`: nothing was written, trying again will do."""
    return RpcError.app(Reason.RATE_LIMITED,
                        "The clinic's schedule is busy right now; nothing was changed. Please try again in a moment.",
                        retry_after=1.0)


# Set while a write is re-run after a lost race, so the re-run does not count against the write limit again.
_rerun: contextvars.ContextVar[bool] = contextvars.ContextVar("clinic_write_rerun", default=False)


def _db_races_handled(handler, retry: bool):
    """Wrap a handler so a deadlock or serialization failure re-runs it (writes: each one transaction,
    rolled back whole by PostgreSQL, so running it again is safe) and a lock timeout, or a race still
    lost after WRITE_ATTEMPTS, answers `rate_limited` with `retry_after` instead of `internal`."""

    @functools.wraps(handler)
    async def run(app, session, p, **kwargs):
        attempt = 1
        while True:
            token = _rerun.set(attempt > 1)
            try:
                return await handler(app, session, p, **kwargs)
            except RpcError:
                raise
            except Exception as exc:
                state = sqlstate_of(exc)
                if state in RACE_STATES and retry and attempt < WRITE_ATTEMPTS:
                    await asyncio.sleep(random.uniform(0.005, 0.05) * attempt)  # let the winner commit
                    attempt += 1
                    continue
                if state in RACE_STATES or state == LOCK_NOT_AVAILABLE:
                    raise _busy() from None
                raise
            finally:
                _rerun.reset(token)

    return run


def _retry_after(wait: float) -> float:
    """Seconds to wait, rounded up to 1/100 s: a rounded-down 0 would invite an instant retry."""
    return math.ceil(wait * 100) / 100


async def _rate_limit(app, ident: Identity) -> None:
    """Writes per user, counted in the database so that every instance shares one limit."""
    if _rerun.get():
        return
    wait = await app.write_limiter.take(await app.db.pool(), ident.user_id)
    if wait > 0:
        raise RpcError.app(Reason.RATE_LIMITED, "You are making changes too quickly. Please wait a moment.",
                           retry_after=_retry_after(wait))


async def delete_owned_row(app, session, table, row_id: int, *, missing: str, not_yours: str) -> dict[str, Any]:
    """Delete one row of a dentist's schedule (a day off, a blockout): staff any, a dentist only their own."""
    ident = _require(session, "admin", "dentist")
    await _rate_limit(app, ident)
    async with app.db.transaction(ident.user_id) as conn:
        row = (await conn.execute(select(table.c.dentist_id).where(table.c.id == row_id))).first()
        if row is None:
            raise RpcError.app(Reason.NOT_FOUND, missing)
        if ident.role == "dentist" and row.dentist_id != ident.dentist_id:
            raise RpcError.app(Reason.FORBIDDEN, not_yours)
        await conn.execute(table.delete().where(table.c.id == row_id))
    return {"ok": True}
