"""`slots.find`, `availability.set`, `exceptions.add` and `exceptions.delete`: free times and working hours."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any, Literal

from pydantic import Field, StrictBool, StrictInt, StrictStr, field_validator
from sqlalchemy import func, insert, select, text

from .. import booking as rules
from ..db import booking_queries as queries
from ..db import tables as t
from ..protocol import Reason, RpcError
from .appointments import _may_change
from .common import (
    Id,
    IdParams,
    Params,
    _appt_type,
    _booking_error,
    _chair_exists,
    _context,
    _dentist_exists,
    _in_window,
    _now,
    _outside_window,
    _parse_date,
    _parse_instant,
    _rate_limit,
    _require,
    _settings,
    _visible,
    delete_owned_row,
)


class SlotsParams(Params):
    type_id: Id
    dentist_id: Id | None = None
    from_: StrictStr = Field(alias="from")
    to: StrictStr
    patient_id: Id | None = None
    exclude_appointment_id: Id | None = None  # the appointment being moved: its own time is not busy
    chair_id: Id | None = None  # staff: only times when this chair is free too
    duration_minutes: StrictInt | None = Field(default=None, ge=5, le=480)  # staff: a custom length

    @field_validator("from_", "to")
    @classmethod
    def _dates(cls, v: str) -> str:
        _parse_date(v)
        return v


class WeeklyItem(Params):
    weekday: StrictInt = Field(ge=0, le=6)
    start: StrictStr = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: StrictStr = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


class ExceptionItem(Params):
    start: StrictStr
    end: StrictStr
    kind: Literal["closed", "extra"]
    reason: StrictStr = Field(default="", max_length=500)

    @field_validator("start", "end")
    @classmethod
    def _inst(cls, v: str) -> str:
        _parse_instant(v)
        return v


class AvailabilityParams(Params):
    dentist_id: Id
    weekly: list[WeeklyItem] = Field(max_length=100)
    exceptions: list[ExceptionItem] | None = Field(default=None, max_length=500)
    dry_run: StrictBool = False


class ExceptionAddParams(ExceptionItem):
    dentist_id: Id | None = None
    dry_run: StrictBool = False


# How many stranded appointments one answer lists at most: a whole closed month stays one readable answer.
_STRANDED_LIMIT = 500


async def _stranded(conn, ident, dentist_ids: list[int]) -> list[dict[str, Any]]:
    """The dentists' upcoming appointments that the hours now in `conn`'s transaction leave outside working time."""
    a = t.appointments
    now = _now()
    rows = (await conn.execute(
        select(a.c.id, a.c.dentist_id, a.c.start_at, a.c.end_at).where(
            a.c.dentist_id.in_(dentist_ids), a.c.status.in_(rules.NEEDS_TIME), a.c.end_at > now,
            a.c.schedule_override.is_(False),  # booked outside the hours on purpose: not stranded
        ).order_by(a.c.start_at).limit(20_000)
    )).all()
    if not rows:
        return []
    settings = await _settings(conn)
    hours, exceptions, _busy = await _context(conn, dentist_ids, now - timedelta(days=1),
                                              max(r.end_at for r in rows) + timedelta(days=1), None)
    appointments = [rules.BusyInterval(start=r.start_at, end=r.end_at, dentist_id=r.dentist_id, appointment_id=r.id)
                    for r in rows]
    ids = rules.stranded_ids(settings, appointments, hours, exceptions)[:_STRANDED_LIMIT]
    if not ids:
        return []
    wire = (await conn.execute(text(
        "SELECT clinic_wire_appointment(appointments) FROM appointments WHERE id = ANY(:ids) ORDER BY start_at"),
        {"ids": ids})).scalars()
    return [shaped for row in wire if (shaped := _visible(ident, row)) is not None]


async def slots_find(app, session, p: SlotsParams) -> list[dict[str, Any]]:
    ident = _require(session)
    d_from, d_to = _parse_date(p.from_), _parse_date(p.to)
    _in_window(app, from_=d_from, to=d_to)
    if ident.role == "patient" and (p.chair_id is not None or p.duration_minutes is not None):
        raise RpcError.app(Reason.FORBIDDEN, "The clinic assigns chairs and lengths.")
    if d_to < d_from or (d_to - d_from).days > 92:
        raise RpcError.app(Reason.INVALID_PARAMS, "Choose a date range of at most three months.",
                           fields={"to": "must be on or after from, at most 92 days later"})
    # Whose busy time is left out is a view of that patient's appointments: a patient's own, or for the
    # front desk anyone's. A dentist sees only their own appointments in full, so theirs is not honoured.
    patient_id = {"patient": ident.patient_id, "admin": p.patient_id}.get(ident.role)
    if p.exclude_appointment_id is not None:
        # Only someone who may move that appointment may have its time treated as free; the patient
        # it belongs to must still not be double booked.
        found, _ = await queries.read_for_change(await app.db.pool(), p.exclude_appointment_id)
        patient_id = _may_change(ident, found)["patient_id"]
    async with app.db.read() as conn:
        settings = await _settings(conn)
        appt_type = await _appt_type(conn, p.type_id)
        if p.dentist_id is not None:
            await _dentist_exists(conn, p.dentist_id)
            dentist_ids = [p.dentist_id]
        else:
            dentist_ids = list((await conn.execute(select(t.dentists.c.id).where(t.dentists.c.active))).scalars())
        zone = settings.zone
        lo = datetime.combine(d_from, time(0), zone) - timedelta(days=1)
        hi = datetime.combine(d_to, time(0), zone) + timedelta(days=2)
        await _chair_exists(conn, p.chair_id)
        hours, exceptions, busy = await _context(conn, dentist_ids, lo, hi, patient_id, p.chair_id)
        blockouts = await _blockouts(conn, lo, hi)
    if p.exclude_appointment_id is not None:
        busy = [block for block in busy if block.appointment_id != p.exclude_appointment_id]
    try:
        if p.duration_minutes is not None:
            rules.check_duration(settings, p.duration_minutes)
        slots = rules.find_slots(settings=settings, appt_type=appt_type, dentist_ids=dentist_ids, date_from=d_from,
                                 date_to=d_to, hours=hours, exceptions=exceptions, busy=busy, now=_now(),
                                 role=ident.role, patient_id=patient_id, blockouts=blockouts, chair_id=p.chair_id,
                                 duration_minutes=p.duration_minutes)
    except rules.BookingError as exc:
        raise _booking_error(exc) from None
    return [{"dentist_id": s.dentist_id, "start": s.start.isoformat(), "end": s.end.isoformat()} for s in slots]


async def _blockouts(conn, lo: datetime, hi: datetime) -> list[rules.Blockout]:
    """The blockouts overlapping [lo, hi), clamped to it, with their type's name and online rule."""
    b, bt = t.blockouts, t.blockout_types
    rows = (await conn.execute(
        select(b.c.dentist_id, b.c.chair_id, func.greatest(b.c.start_at, lo).label("start_at"),
               func.least(b.c.end_at, hi).label("end_at"), bt.c.name, bt.c.allow_online)
        .select_from(b.join(bt, bt.c.id == b.c.type_id))
        .where(b.c.end_at > lo, b.c.start_at < hi)
    )).all()
    return [rules.Blockout(start=r.start_at, end=r.end_at, type_name=r.name, allow_online=r.allow_online,
                           dentist_id=r.dentist_id, chair_id=r.chair_id) for r in rows if r.start_at < r.end_at]


def _hm(value: str) -> time:
    return time(23, 59, 59) if value == "24:00" else time.fromisoformat(value)


async def availability_set(app, session, p: AvailabilityParams) -> dict[str, Any]:
    ident = _require(session, "admin", "dentist")
    if ident.role == "dentist" and p.dentist_id != ident.dentist_id:
        raise RpcError.app(Reason.FORBIDDEN, "You can change only your own hours.")
    await _rate_limit(app, ident)
    fields = {}
    for i, item in enumerate(p.weekly):
        if _hm(item.start) >= _hm(item.end):
            fields[f"weekly[{i}]"] = "start must be before end"
    for i, ex in enumerate(p.exceptions or []):
        if _parse_instant(ex.start) >= _parse_instant(ex.end):
            fields[f"exceptions[{i}]"] = "start must be before end"
        outside = _outside_window(app, start=_parse_instant(ex.start), end=_parse_instant(ex.end))
        fields.update({f"exceptions[{i}].{name}": why for name, why in outside.items()})
    if fields:
        raise RpcError(-32602, "Invalid params", Reason.INVALID_PARAMS, fields=fields)
    async with app.db.transaction(ident.user_id) as conn:
        await _dentist_exists(conn, p.dentist_id)
        # A dry run makes the change in a savepoint, reads what it strands, and rolls the change back.
        change = await conn.begin_nested()
        wh = t.working_hours
        existing = {(r.weekday, r.start_time, r.end_time): r.id
                    for r in (await conn.execute(select(wh).where(wh.c.dentist_id == p.dentist_id))).all()}
        wanted = {(i.weekday, _hm(i.start), _hm(i.end)) for i in p.weekly}
        gone = [rid for k, rid in existing.items() if k not in wanted]
        if gone:
            await conn.execute(wh.delete().where(wh.c.id.in_(gone)))
        new = [{"dentist_id": p.dentist_id, "weekday": w, "start_time": s, "end_time": e}
               for (w, s, e) in wanted if (w, s, e) not in existing]
        if new:
            await conn.execute(insert(wh), new)
        se = t.schedule_exceptions
        if p.exceptions is not None:
            await conn.execute(se.delete().where(se.c.dentist_id == p.dentist_id, se.c.end_at > _now()))
            if p.exceptions:
                await conn.execute(insert(se), [
                    {"dentist_id": p.dentist_id, "start_at": _parse_instant(e.start), "end_at": _parse_instant(e.end),
                     "kind": e.kind, "reason": e.reason} for e in p.exceptions])
        weekly = list((await conn.execute(text(
            "SELECT clinic_wire_working_hours(w) FROM working_hours w WHERE dentist_id = :d ORDER BY weekday, start_time"),
            {"d": p.dentist_id})).scalars())
        exceptions = list((await conn.execute(text(
            "SELECT clinic_wire_schedule_exception(e) FROM schedule_exceptions e WHERE dentist_id = :d "
            "AND end_at > now() ORDER BY start_at"), {"d": p.dentist_id})).scalars())
        stranded = await _stranded(conn, ident, [p.dentist_id])
        if p.dry_run:
            await change.rollback()
            return {"dentist_id": p.dentist_id, "dry_run": True, "stranded": stranded}
        await change.commit()
    return {"dentist_id": p.dentist_id, "weekly": weekly, "exceptions": exceptions, "stranded": stranded}


async def exceptions_add(app, session, p: ExceptionAddParams) -> dict[str, Any]:
    ident = _require(session, "admin", "dentist")
    if ident.role == "dentist" and p.dentist_id != ident.dentist_id:
        raise RpcError.app(Reason.FORBIDDEN, "You can change only your own days off.")
    await _rate_limit(app, ident)
    start, end = _parse_instant(p.start), _parse_instant(p.end)
    _in_window(app, start=start, end=end)
    if start >= end:
        raise RpcError(-32602, "Invalid params", Reason.INVALID_PARAMS, fields={"end": "must be after start"})
    async with app.db.transaction(ident.user_id) as conn:
        if p.dentist_id is not None:
            await _dentist_exists(conn, p.dentist_id)
            dentist_ids = [p.dentist_id]
        else:
            dentist_ids = list((await conn.execute(select(t.dentists.c.id).where(t.dentists.c.active))).scalars())
        change = await conn.begin_nested()  # rolled back after a dry run, as in availability_set
        eid = (await conn.execute(insert(t.schedule_exceptions).values(
            dentist_id=p.dentist_id, start_at=start, end_at=end, kind=p.kind, reason=p.reason,
        ).returning(t.schedule_exceptions.c.id))).scalar_one()
        stranded = await _stranded(conn, ident, dentist_ids)
        if p.dry_run:
            await change.rollback()
            return {"dry_run": True, "stranded": stranded}
        await change.commit()
        row = (await conn.execute(text("SELECT clinic_wire_schedule_exception(e) FROM schedule_exceptions e WHERE id = :id"),
                                  {"id": eid})).scalar()
        return {**row, "stranded": stranded}


async def exceptions_delete(app, session, p: IdParams) -> dict[str, Any]:
    return await delete_owned_row(app, session, t.schedule_exceptions, p.id, missing="That exception does not exist.",
                                  not_yours="You can change only your own days off.")
