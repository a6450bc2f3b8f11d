"""`appointments.*`: list, book, change and cancel, each a single short transaction."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any, Literal

from pydantic import Field, StrictBool, StrictInt, StrictStr, field_validator
from sqlalchemy import and_, select, text

from .. import booking as rules
from ..auth import Identity
from ..db import booking_queries as queries
from ..db import tables as t
from ..db.database import sqlstate_of
from ..protocol import Reason, RpcError
from .common import (
    EXCLUSION_VIOLATION,
    UNIQUE_VIOLATION,
    WRITE_ATTEMPTS,
    Id,
    Params,
    _booking_error,
    _busy,
    _in_window,
    _may_act,
    _now,
    _parse_date,
    _parse_instant,
    _rate_limit,
    _require,
    _settings,
    _visible,
)


class ListParams(Params):
    from_: StrictStr | None = Field(default=None, alias="from")
    to: StrictStr | None = None
    dentist_id: Id | None = None
    patient_id: Id | None = None

    @field_validator("from_", "to")
    @classmethod
    def _dates(cls, v: str | None) -> str | None:
        if v is not None:
            _parse_date(v)
        return v


class CreateParams(Params):
    dentist_id: Id
    type_id: Id
    start: StrictStr
    patient_id: Id | None = None
    chair_id: Id | None = None
    notes: StrictStr = Field(default="", max_length=4000)
    idempotency_key: StrictStr | None = Field(default=None, min_length=1, max_length=200)
    duration_minutes: StrictInt | None = Field(default=None, ge=5, le=480)  # staff: a custom length, in slot steps
    override: StrictBool = False  # staff: book outside working hours, over a break or a blockout (audited)

    @field_validator("start")
    @classmethod
    def _start(cls, v: str) -> str:
        _parse_instant(v)
        return v


class UpdateParams(Params):
    id: Id
    version: Id
    start: StrictStr | None = None
    dentist_id: Id | None = None
    type_id: Id | None = None
    chair_id: Id | None = None
    notes: StrictStr | None = Field(default=None, max_length=4000)
    status: Literal["scheduled", "confirmed", "checked_in", "in_chair", "completed", "cancelled", "no_show"] | None = None
    duration_minutes: StrictInt | None = Field(default=None, ge=5, le=480)
    override: StrictBool = False

    @field_validator("start")
    @classmethod
    def _start(cls, v: str | None) -> str | None:
        if v is not None:
            _parse_instant(v)
        return v


class CancelParams(Params):
    id: Id
    reason: StrictStr | None = Field(default=None, max_length=500)


LIST_LIMIT = 1000  # appointments in one appointments.list answer (about 450 KB: within the send bound)


async def appointments_list(app, session, p: ListParams) -> list[dict[str, Any]]:
    ident = _require(session)
    _in_window(app, from_=_parse_date(p.from_) if p.from_ else None, to=_parse_date(p.to) if p.to else None)
    a = t.appointments
    cond = []
    async with app.db.read() as conn:
        zone = (await _settings(conn)).zone
        if p.from_:
            cond.append(a.c.end_at > datetime.combine(_parse_date(p.from_), time(0), zone))
        if p.to:
            cond.append(a.c.start_at < datetime.combine(_parse_date(p.to) + timedelta(days=1), time(0), zone))
        if p.dentist_id is not None:
            cond.append(a.c.dentist_id == p.dentist_id)
        if p.patient_id is not None:
            if ident.role == "patient" and p.patient_id != ident.patient_id:
                raise RpcError.app(Reason.FORBIDDEN, "You can only see your own appointments.")
            cond.append(a.c.patient_id == p.patient_id)
            if ident.role == "dentist":  # a patient's appointments with colleagues stay anonymous busy blocks
                cond.append(a.c.dentist_id == ident.dentist_id)
        # With a start, the first LIST_LIMIT from it; without one, the latest LIST_LIMIT (upcoming and most
        # recent first: what a caller asking for "the appointments" means), still returned oldest first.
        newest_first = p.from_ is None
        rows = (await conn.execute(
            select(text("clinic_wire_appointment(appointments)")).select_from(a).where(and_(True, *cond))
            .order_by(a.c.start_at.desc() if newest_first else a.c.start_at).limit(LIST_LIMIT)
        )).scalars().all()
        if newest_first:
            rows = rows[::-1]
    out = []
    for row in rows:
        shaped = _visible(ident, row)
        if shaped is not None:
            out.append(shaped)
    return out


def _free_default_chair(ctx: queries.BookingContext, start: datetime, end: datetime,
                        exclude_appointment_id: int | None = None) -> int | None:
    """The dentist's default chair when nothing holds it over [start, end) (an appointment or a closed
    chair blockout); else None, and the booking goes ahead without a chair rather than being refused."""
    chair = ctx.default_chair_id
    if chair is None:
        return None
    for block in ctx.busy:
        if block.chair_id == chair and block.appointment_id != exclude_appointment_id \
                and block.start < end and start < block.end:
            return None
    for blocked in ctx.blockouts:
        if blocked.chair_id == chair and blocked.closed and blocked.start < end and start < blocked.end:
            return None
    return chair


def _checked_booking(override: bool, **check: Any) -> tuple[datetime, bool]:
    """The booking's end and whether it needed the override: the rules run without it first, so an
    override asked for but not needed is not recorded as used."""
    try:
        return rules.check_booking(**check), False
    except rules.BookingError as exc:
        if not (override and exc.reason in rules.OVERRIDABLE):
            raise _booking_error(exc) from None
    try:
        return rules.check_booking(**check, override=True), True
    except rules.BookingError as exc:
        raise _booking_error(exc) from None


def _staff_only(ident: Identity, via_assistant: bool, *, override: bool, duration_minutes: int | None) -> None:
    if ident.role == "patient" or via_assistant:
        if override:
            raise RpcError.app(Reason.FORBIDDEN, "Only the clinic's staff can book outside the schedule.")
        if duration_minutes is not None:
            raise RpcError.app(Reason.FORBIDDEN, "Only the clinic can change an appointment's length.")


def _stamps(row: dict[str, Any], status: str, now: datetime) -> dict[str, Any]:
    """The waiting-room times a status change sets: arrival at check-in, seating, completion; an undo
    back to before a step clears that step's time."""
    arrived = row.get("arrived_at")
    if status in ("scheduled", "confirmed"):
        wanted = {"arrived_at": None, "in_chair_at": None, "completed_at": None}
    elif status == "checked_in":
        wanted = {"arrived_at": datetime.fromisoformat(arrived) if arrived else now, "in_chair_at": None,
                  "completed_at": None}
    elif status == "in_chair":
        wanted = {"arrived_at": datetime.fromisoformat(arrived) if arrived else now, "in_chair_at": now,
                  "completed_at": None}
    elif status == "completed":
        wanted = {"completed_at": now}
    else:
        return {}
    return {k: v for k, v in wanted.items() if not (v is None and row.get(k) is None)}


def _source_for(ident: Identity, via_assistant: bool) -> str:
    if via_assistant:
        return "assistant"
    return {"admin": "front_desk", "dentist": "dentist", "patient": "patient"}[ident.role]


async def appointments_create(app, session, p: CreateParams, via_assistant: bool = False) -> dict[str, Any]:
    ident = _require(session)
    await _rate_limit(app, ident)
    if ident.role == "patient":
        if p.patient_id is not None and p.patient_id != ident.patient_id:
            raise RpcError.app(Reason.FORBIDDEN, "You can only book appointments for yourself.")
        patient_id = ident.patient_id
        if p.chair_id is not None:
            raise RpcError.app(Reason.FORBIDDEN, "The clinic assigns chairs.")
    else:
        if p.patient_id is None:
            raise RpcError(-32602, "Invalid params", Reason.INVALID_PARAMS, fields={"patient_id": "required for staff"})
        patient_id = p.patient_id
        if ident.role == "dentist" and p.dentist_id != ident.dentist_id:
            raise RpcError.app(Reason.FORBIDDEN, "Dentists book into their own diary only.")
    if patient_id is None:
        raise RpcError.app(Reason.FORBIDDEN, "This account has no patient record.")
    _staff_only(ident, via_assistant, override=p.override, duration_minutes=p.duration_minutes)
    start = _parse_instant(p.start)
    _in_window(app, start=start)
    key = f"{ident.user_id}:{p.idempotency_key}" if p.idempotency_key else None
    pool = await app.db.pool()
    if key:
        existing = await queries.appointment_by_key(pool, key)
        if existing is not None:
            return existing
    ctx = await queries.booking_context(pool, dentist_id=p.dentist_id, type_id=p.type_id, patient_id=patient_id,
                                        chair_id=p.chair_id, lo=start - timedelta(days=1), hi=start + timedelta(days=1))
    if ctx.appt_type is None:
        raise RpcError.app(Reason.NOT_FOUND, "That treatment type does not exist.", fields={"type_id": "unknown"})
    if not ctx.dentist_active:
        raise RpcError.app(Reason.NOT_FOUND, "That dentist does not exist.", fields={"dentist_id": "unknown"})
    if p.chair_id is not None and not ctx.chair_active:
        raise RpcError.app(Reason.NOT_FOUND, "That chair does not exist.", fields={"chair_id": "unknown"})
    if not ctx.patient_exists:
        raise RpcError.app(Reason.NOT_FOUND, "That patient does not exist.", fields={"patient_id": "unknown"})
    duration = None if p.duration_minutes == ctx.appt_type.duration_minutes else p.duration_minutes
    chair_id = p.chair_id
    if chair_id is None:
        length = duration or ctx.appt_type.duration_minutes
        chair_id = _free_default_chair(ctx, start, start + timedelta(minutes=length))
    end, overridden = _checked_booking(
        p.override, settings=ctx.settings, role=ident.role, appt_type=ctx.appt_type, dentist_id=p.dentist_id,
        patient_id=patient_id, chair_id=chair_id, start=start, hours=ctx.hours, exceptions=ctx.exceptions,
        busy=ctx.busy, now=_now(), duration_minutes=duration, blockouts=ctx.blockouts,
        online=via_assistant)
    try:
        # The database, not the check above, is what makes a double booking impossible: a booking
        # committed since the read fails here with an exclusion violation.
        return await queries.insert_appointment(
            pool, user_id=ident.user_id, patient_id=patient_id, dentist_id=p.dentist_id, chair_id=chair_id,
            type_id=p.type_id, start=start, end=end, source=_source_for(ident, via_assistant), notes=p.notes,
            idempotency_key=key, future_limit=app.config.max_future_bookings if ident.role == "patient" else None,
            duration_minutes=duration, override=overridden)
    except queries.TooManyBookings:
        limit = app.config.max_future_bookings
        raise RpcError.app(Reason.TOO_MANY_BOOKINGS,
                           f"You already hold {limit} upcoming appointments, the most you can book yourself. "
                           "Please cancel one first, or call the clinic.", limit=limit) from None
    except Exception as exc:
        state = sqlstate_of(exc)
        if state == EXCLUSION_VIOLATION:
            raise RpcError.app(Reason.SLOT_UNAVAILABLE, "That time has just been taken. Please pick another slot.") from None
        if state == UNIQUE_VIOLATION and key:
            existing = await queries.appointment_by_key(pool, key)
            if existing is not None:
                return existing
        raise


def _may_change(ident: Identity, row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None or (not _may_act(ident, row) and ident.role == "patient"):
        # A patient may not even learn that someone else's appointment exists.
        raise RpcError.app(Reason.NOT_FOUND, "That appointment does not exist.")
    if not _may_act(ident, row):
        raise RpcError.app(Reason.FORBIDDEN, "That appointment is not yours to change.")
    return row


async def appointments_update(app, session, p: UpdateParams) -> dict[str, Any]:
    ident = _require(session)
    await _rate_limit(app, ident)
    pool = await app.db.pool()
    conflict = "Someone else changed this appointment a moment ago. Here is the latest."
    try:
        # Read and check, then one conditional write (see queries.update_appointment).
        found, settings = await queries.read_for_change(pool, p.id)
        row = _may_change(ident, found)
        if row["version"] != p.version:
            raise RpcError.app(Reason.VERSION_CONFLICT, conflict, current=_visible(ident, row))
        now = _now()
        values: dict[str, Any] = {"updated_by": ident.user_id}
        old_start = datetime.fromisoformat(row["start"])
        moving = any(v is not None for v in (p.start, p.dentist_id, p.type_id, p.duration_minutes)) or (
            p.chair_id is not None and p.chair_id != row["chair_id"])
        overridden = False
        if ident.role == "patient":
            if p.chair_id is not None or p.notes is not None or p.duration_minutes is not None or p.override:
                raise RpcError.app(Reason.FORBIDDEN, "Please ask the clinic to change that.")
            if moving or p.status == "cancelled":
                try:
                    rules.check_patient_change(settings=settings, start=old_start, now=now)
                except rules.BookingError as exc:
                    raise _booking_error(exc) from None
        if ident.role == "dentist" and p.dentist_id is not None and p.dentist_id != ident.dentist_id:
            raise RpcError.app(Reason.FORBIDDEN, "Dentists cannot hand appointments to a colleague.")
        if p.status is not None and p.status != row["status"]:
            try:
                rules.check_transition(row["status"], p.status, role=ident.role, start=old_start, now=now,
                                       zone=settings.zone)
            except rules.BookingError as exc:
                raise _booking_error(exc) from None
            values["status"] = p.status
            values.update(_stamps(row, p.status, now))
        if moving:
            if row["status"] not in ("scheduled", "confirmed"):
                raise RpcError.app(Reason.INVALID_TRANSITION, "Only a scheduled or confirmed appointment can be moved.")
            dentist_id = p.dentist_id if p.dentist_id is not None else row["dentist_id"]
            type_id = p.type_id if p.type_id is not None else row["type_id"]
            # Without a chair, the appointment keeps its own, unless it changes dentist (then the new
            # dentist's default chair, when free, like a booking).
            if p.chair_id is not None:
                chair_id = p.chair_id
            else:
                chair_id = row["chair_id"] if dentist_id == row["dentist_id"] else None
            # A custom length stays through a move; a new type without a length takes the type's.
            if p.duration_minutes is not None:
                duration = p.duration_minutes
            elif type_id != row["type_id"]:
                duration = None
            else:
                duration = row.get("duration_minutes")
            start = _parse_instant(p.start) if p.start is not None else old_start
            _in_window(app, start=start)
            ctx = await queries.booking_context(pool, dentist_id=dentist_id, type_id=type_id,
                                                patient_id=row["patient_id"], chair_id=chair_id,
                                                lo=start - timedelta(days=1), hi=start + timedelta(days=1))
            if ctx.appt_type is None:
                raise RpcError.app(Reason.NOT_FOUND, "That treatment type does not exist.", fields={"type_id": "unknown"})
            if not ctx.dentist_active:
                raise RpcError.app(Reason.NOT_FOUND, "That dentist does not exist.", fields={"dentist_id": "unknown"})
            if chair_id is not None and not ctx.chair_active:
                raise RpcError.app(Reason.NOT_FOUND, "That chair does not exist.", fields={"chair_id": "unknown"})
            if duration == ctx.appt_type.duration_minutes:
                duration = None  # the type's own length is no custom length
            if chair_id is None:
                length = duration or ctx.appt_type.duration_minutes
                chair_id = _free_default_chair(ctx, start, start + timedelta(minutes=length), p.id)
            end, overridden = _checked_booking(
                p.override, settings=settings, role=ident.role, appt_type=ctx.appt_type, dentist_id=dentist_id,
                patient_id=row["patient_id"], chair_id=chair_id, start=start, hours=ctx.hours,
                exceptions=ctx.exceptions, busy=ctx.busy, now=now, exclude_appointment_id=p.id,
                duration_minutes=duration, blockouts=ctx.blockouts)
            values.update(dentist_id=dentist_id, type_id=type_id, chair_id=chair_id, start_at=start, end_at=end,
                          duration_minutes=duration, schedule_override=overridden)
        if p.notes is not None:
            values["notes"] = p.notes
        updated = await queries.update_appointment(pool, p.id, p.version, ident.user_id, values, override=overridden)
        if updated is None:  # changed between our read and our write
            current, _ = await queries.read_for_change(pool, p.id)
            raise RpcError.app(Reason.VERSION_CONFLICT, conflict,
                               current=_visible(ident, current) if current else None)
        return updated
    except RpcError:
        raise
    except Exception as exc:
        if sqlstate_of(exc) == EXCLUSION_VIOLATION:
            raise RpcError.app(Reason.SLOT_UNAVAILABLE, "That time has just been taken. Please pick another slot.") from None
        raise


async def appointments_cancel(app, session, p: CancelParams) -> dict[str, Any]:
    """Cancel as one conditional statement on the version just read, like `appointments.update`.

    No row lock is taken before the write: the write's statement trigger takes the feed lock first,
    then the row, the order every writer follows (docs/RELIABILITY.md), so a cancel and an update of
    one appointment cannot deadlock. A cancel carries no version from the user, so when the row
    changed between the read and the write, the checks run again on the newer row.
    """
    ident = _require(session)
    await _rate_limit(app, ident)
    pool = await app.db.pool()
    for _ in range(WRITE_ATTEMPTS):
        found, settings = await queries.read_for_change(pool, p.id)
        row = _may_change(ident, found)
        if row["status"] == "cancelled":
            return row
        now = _now()
        start = datetime.fromisoformat(row["start"])
        try:
            if ident.role == "patient":
                rules.check_patient_change(settings=settings, start=start, now=now)
            rules.check_transition(row["status"], "cancelled", role=ident.role, start=start, now=now)
        except rules.BookingError as exc:
            raise _booking_error(exc) from None
        cancelled = await queries.update_appointment(pool, p.id, row["version"], ident.user_id, {
            "status": "cancelled", "cancel_reason": p.reason or "", "updated_by": ident.user_id})
        if cancelled is not None:
            return cancelled
    raise _busy()
