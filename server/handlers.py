"""RPC method handlers: validate params, authorize by role and ownership, ask the booking rules, write.

Each handler takes the connection's `Session` and a params model, and returns the JSON result.
Writes run in one transaction; the database's exclusion constraints are the final word on
double booking, and their violation is reported as `slot_unavailable`.
"""

from __future__ import annotations

import asyncio
import math
import time as _time
from datetime import date, datetime, time, timedelta, timezone
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator
from sqlalchemy import and_, func, insert, or_, select, text, update

from . import booking as rules
from .auth import Identity, hash_password, verify_password
from .db import booking_queries as queries
from .db import tables as t
from .db.database import sqlstate_of
from .protocol import OCCUPYING_STATUSES, WS_CLOSE_AUTH_EXPIRED, ErrorCode, Reason, RpcError, view_for

__all__ = ["METHODS", "PUBLIC_METHODS", "WRITE_METHODS"]

EXCLUSION_VIOLATION = "23P01"
UNIQUE_VIOLATION = "23505"


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_max_length=4000)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, v: Any) -> Any:
        # PostgreSQL text cannot hold U+0000: refuse it here as invalid params, not later as an internal fault.
        if isinstance(v, str) and "\x00" in v:
            raise ValueError("must not contain the NUL character")
        return v


class LoginParams(Params):
    username: StrictStr = Field(min_length=1, max_length=150)
    password: StrictStr = Field(min_length=1, max_length=1000)


class ResumeParams(Params):
    access_token: StrictStr = Field(max_length=4096)


class RefreshParams(Params):
    refresh_token: StrictStr = Field(max_length=512)


class ChangePasswordParams(Params):
    current_password: StrictStr = Field(min_length=1, max_length=1000)
    new_password: StrictStr = Field(min_length=8, max_length=1000)


class NoParams(Params):
    pass


class SubscribeParams(Params):
    since: StrictInt | None = Field(default=None, ge=0, le=2**62)


def _parse_instant(value: str) -> datetime:
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO 8601 instant with an offset, e.g. 2026-12-01T09:00:00+00:00") from None
    if dt.tzinfo is None:
        raise ValueError("must include a UTC offset")
    return dt.astimezone(timezone.utc)


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a date like 2026-12-01") from None


# Every id and version is a PostgreSQL integer; a larger number is a bad param, not a server error.
Id = Annotated[StrictInt, Field(ge=0, le=2**31 - 1)]


class SlotsParams(Params):
    type_id: Id
    dentist_id: Id | None = None
    from_: StrictStr = Field(alias="from")
    to: StrictStr
    patient_id: Id | None = None

    @field_validator("from_", "to")
    @classmethod
    def _dates(cls, v: str) -> str:
        _parse_date(v)
        return v


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

    @field_validator("start")
    @classmethod
    def _start(cls, v: str | None) -> str | None:
        if v is not None:
            _parse_instant(v)
        return v


class CancelParams(Params):
    id: Id
    reason: StrictStr | None = Field(default=None, max_length=500)


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


class ExceptionAddParams(ExceptionItem):
    dentist_id: Id | None = None


class IdParams(Params):
    id: Id


class PatientSearchParams(Params):
    query: StrictStr = Field(max_length=200)
    limit: StrictInt = Field(default=20, ge=1, le=200)


class PatientCreateParams(Params):
    name: StrictStr = Field(min_length=1, max_length=200)
    phone: StrictStr | None = Field(default=None, max_length=50)
    email: StrictStr | None = Field(default=None, max_length=200)
    date_of_birth: StrictStr | None = None

    @field_validator("date_of_birth")
    @classmethod
    def _dob(cls, v: str | None) -> str | None:
        if v is not None:
            _parse_date(v)
        return v


class AssistantParams(Params):
    text: StrictStr = Field(min_length=1, max_length=2000)
    conversation_id: StrictStr | None = Field(default=None, max_length=100)
    patient_id: Id | None = None


# --------------------------------------------------------------------------- helpers


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
    """Working hours, exceptions and busy intervals relevant to [lo, hi)."""
    wh = t.working_hours
    hours = [
        rules.WorkingPeriod(dentist_id=r.dentist_id, weekday=r.weekday, start=r.start_time, end=r.end_time)
        for r in (await conn.execute(select(wh).where(wh.c.dentist_id.in_(dentist_ids)))).all()
    ]
    se = t.schedule_exceptions
    exceptions = [
        rules.ScheduleException(dentist_id=r.dentist_id, start=r.start_at, end=r.end_at, kind=r.kind, reason=r.reason)
        for r in (await conn.execute(
            select(se).where(
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
            select(a.c.id, a.c.start_at, a.c.end_at, a.c.dentist_id, a.c.patient_id, a.c.chair_id).where(
                or_(*who), a.c.status.in_(OCCUPYING_STATUSES), a.c.end_at > lo, a.c.start_at < hi,
            )
        )).all()
    ]
    return hours, exceptions, busy


async def _wire_appointment(conn, appt_id: int) -> dict[str, Any] | None:
    return (await conn.execute(
        text("SELECT clinic_wire_appointment(a) FROM appointments a WHERE a.id = :id"), {"id": appt_id}
    )).scalar()


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


# --------------------------------------------------------------------------- auth


async def auth_login(app, session, p: LoginParams) -> dict[str, Any]:
    key_user = "u:" + p.username.lower()
    key_addr = "a:" + session.address
    wait = max(app.login_failures.retry_after(key_user), app.login_failures_addr.retry_after(key_addr))
    if wait > 0:
        raise RpcError.app(Reason.RATE_LIMITED, "Too many failed sign-ins. Please wait and try again.",
                           retry_after=_retry_after(wait))
    async with app.db.transaction() as conn:
        row = (await conn.execute(select(t.users).where(func.lower(t.users.c.username) == p.username.lower()))).first()
        ok = verify_password(row.password_hash if row else app.dummy_hash, p.password) and row is not None
        if not ok or not row.active:
            app.login_failures.add(key_user)
            app.login_failures_addr.add(key_addr)
            app.log.info("failed sign-in from %s", session.address)
            raise RpcError.app(Reason.UNAUTHENTICATED, "The username or password is not right.")
        app.login_failures.reset(key_user)
        user = await _user_dict(conn, row)
        refresh, family = await app.tokens.issue_refresh(conn, row.id)
    access, ttl = app.tokens.issue_access(user, family)
    session.identity, _ = app.tokens.decode_access(access)
    return {"user": _public(user), "access_token": access, "refresh_token": refresh, "expires_in": ttl}


def _public(user: dict[str, Any]) -> dict[str, Any]:
    return {k: user[k] for k in ("id", "role", "name", "dentist_id", "patient_id")}


async def _user_dict(conn, row) -> dict[str, Any]:
    dentist_id = (await conn.execute(select(t.dentists.c.id).where(t.dentists.c.user_id == row.id))).scalar()
    patient_id = (await conn.execute(select(t.patients.c.id).where(t.patients.c.user_id == row.id))).scalar()
    return {"id": row.id, "role": row.role, "name": row.display_name, "dentist_id": dentist_id,
            "patient_id": patient_id, "password_epoch": _password_epoch(row)}


def _password_epoch(row) -> int:
    """The user's password epoch (microseconds): a token issued under an older one is refused.

    Microseconds, not seconds: a password changed in the same second as a sign-in must still
    end that sign-in's tokens.
    """
    return int(row.password_changed_at.timestamp() * 1_000_000)


async def auth_resume(app, session, p: ResumeParams) -> dict[str, Any]:
    ident, epoch = app.tokens.decode_access(p.access_token)
    async with app.db.read() as conn:
        row = (await conn.execute(select(t.users).where(t.users.c.id == ident.user_id))).first()
        if row is None or not row.active or (epoch is not None and _password_epoch(row) != epoch):
            raise RpcError.app(Reason.UNAUTHENTICATED, "Please sign in again.")
        if not await app.tokens.family_active(conn, ident.family_id):
            raise RpcError.app(Reason.UNAUTHENTICATED, "You were signed out. Please sign in again.")
    session.identity = ident
    return {"user": ident.as_user()}


async def auth_refresh(app, session, p: RefreshParams) -> dict[str, Any]:
    try:
        async with app.db.transaction() as conn:
            user_id, refresh, family = await app.tokens.rotate_refresh(conn, p.refresh_token)
            row = (await conn.execute(select(t.users).where(t.users.c.id == user_id))).first()
            if row is None or not row.active:
                raise RpcError.app(Reason.UNAUTHENTICATED, "Please sign in again.")
            user = await _user_dict(conn, row)
    except RpcError as exc:
        family = getattr(exc, "reused_family", None)
        if family is not None:
            async with app.db.transaction() as conn:
                await app.tokens.revoke_family(conn, family)
            _end_sessions(app, session, lambda other: other.family_id == family, "signed out: sign-in ended for safety")
            if session.identity is not None and session.identity.family_id == family:
                session.identity = None  # this connection gets the error; it is signed out, not closed
                session.live = False
                app.relay.subscribers.discard(session)
        raise
    access, ttl = app.tokens.issue_access(user, family)
    session.identity, _ = app.tokens.decode_access(access)
    return {"user": _public(user), "access_token": access, "refresh_token": refresh, "expires_in": ttl}


async def auth_logout(app, session, p: NoParams) -> dict[str, Any]:
    ident = _require(session)
    if ident.family_id:
        async with app.db.transaction() as conn:
            await app.tokens.revoke_family(conn, ident.family_id)
        _end_sessions(app, session, lambda other: other.family_id == ident.family_id, "signed out")
    session.identity = None
    return {"ok": True}


def _end_sessions(app, keep, match, why: str) -> None:
    """Sign out, here and now, every other connection on this server whose identity `match`es.

    They get no more events and are closed with 4002, so their clients try `auth.refresh` (which
    fails for a revoked sign-in) and then ask for the password.
    """
    for other in tuple(app.connections):
        if other is keep or other.identity is None or not match(other.identity):
            continue
        other.identity = None
        other.live = False
        app.relay.subscribers.discard(other)
        other._drop_task = asyncio.ensure_future(other.ws.close(WS_CLOSE_AUTH_EXPIRED, why))


async def auth_change_password(app, session, p: ChangePasswordParams) -> dict[str, Any]:
    """Change the caller's password; every other sign-in of this user ends.

    Revokes all the user's refresh-token families, moves the password epoch (so older access
    tokens fail `auth.resume`), closes the user's other live connections on this server with
    4002, and signs this connection in afresh (new tokens in the result).
    """
    ident = _require(session)
    key_user = "u:" + str(ident.user_id) + ":pw"
    wait = app.login_failures.retry_after(key_user)
    if wait > 0:
        raise RpcError.app(Reason.RATE_LIMITED, "Too many wrong passwords. Please wait and try again.",
                           retry_after=_retry_after(wait))
    if p.new_password == p.current_password:
        raise RpcError(ErrorCode.INVALID_PARAMS, "Invalid params", Reason.INVALID_PARAMS,
                       fields={"new_password": "must differ from the current password"})
    async with app.db.transaction() as conn:
        row = (await conn.execute(select(t.users).where(t.users.c.id == ident.user_id).with_for_update())).first()
        if row is None or not row.active:
            raise RpcError.app(Reason.UNAUTHENTICATED, "Please sign in again.")
        # argon2 is deliberately slow: keep it off the event loop, where every client's frames wait.
        if not await asyncio.to_thread(verify_password, row.password_hash, p.current_password):
            app.login_failures.add(key_user)
            raise RpcError.app(Reason.UNAUTHENTICATED, "The current password is not right.")
        new_hash = await asyncio.to_thread(hash_password, p.new_password)
        await conn.execute(
            update(t.users).where(t.users.c.id == row.id)
            .values(password_hash=new_hash, password_changed_at=func.clock_timestamp())
        )
        await conn.execute(
            update(t.refresh_tokens)
            .where(t.refresh_tokens.c.user_id == row.id, t.refresh_tokens.c.revoked_at.is_(None))
            .values(revoked_at=func.now())
        )
        row = (await conn.execute(select(t.users).where(t.users.c.id == row.id))).first()
        user = await _user_dict(conn, row)
        refresh, family = await app.tokens.issue_refresh(conn, row.id)
    app.login_failures.reset(key_user)
    access, ttl = app.tokens.issue_access(user, family)
    session.identity, _ = app.tokens.decode_access(access)
    _end_sessions(app, session, lambda other: other.user_id == ident.user_id, "signed out: password changed")
    app.log.info("user %s changed their password; other sessions ended", ident.user_id)
    return {"user": _public(user), "access_token": access, "refresh_token": refresh, "expires_in": ttl}


# --------------------------------------------------------------------------- reads


async def directory_get(app, session, p: NoParams) -> dict[str, Any]:
    _require(session)
    async with app.db.read() as conn:
        out = {}
        for key, kind, table in (("dentists", "dentist", "dentists"),
                                 ("appointment_types", "appointment_type", "appointment_types"),
                                 ("chairs", "chair", "chairs")):
            out[key] = list((await conn.execute(text(f"SELECT clinic_wire_{kind}(x) FROM {table} x ORDER BY id"))).scalars())
        out["settings"] = (await conn.execute(text("SELECT clinic_wire_settings(s) FROM clinic_settings s"))).scalar()
    return out


async def slots_find(app, session, p: SlotsParams) -> list[dict[str, Any]]:
    ident = _require(session)
    d_from, d_to = _parse_date(p.from_), _parse_date(p.to)
    if d_to < d_from or (d_to - d_from).days > 92:
        raise RpcError.app(Reason.INVALID_PARAMS, "Choose a date range of at most three months.",
                           fields={"to": "must be on or after from, at most 92 days later"})
    patient_id = ident.patient_id if ident.role == "patient" else p.patient_id
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
        hours, exceptions, busy = await _context(conn, dentist_ids, lo, hi, patient_id)
    try:
        slots = rules.find_slots(settings=settings, appt_type=appt_type, dentist_ids=dentist_ids, date_from=d_from,
                                 date_to=d_to, hours=hours, exceptions=exceptions, busy=busy, now=_now(),
                                 role=ident.role, patient_id=patient_id)
    except rules.BookingError as exc:
        raise _booking_error(exc) from None
    return [{"dentist_id": s.dentist_id, "start": s.start.isoformat(), "end": s.end.isoformat()} for s in slots]


async def appointments_list(app, session, p: ListParams) -> list[dict[str, Any]]:
    ident = _require(session)
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
        rows = (await conn.execute(
            select(text("clinic_wire_appointment(appointments)")).select_from(a).where(and_(True, *cond))
            .order_by(a.c.start_at).limit(5000)
        )).scalars().all()
    out = []
    for row in rows:
        shaped = _visible(ident, row)
        if shaped is not None:
            out.append(shaped)
    return out


async def patients_search(app, session, p: PatientSearchParams) -> list[dict[str, Any]]:
    _require(session, "admin", "dentist")
    pattern = "%" + p.query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    pt = t.patients
    async with app.db.read() as conn:
        rows = (await conn.execute(
            select(text("clinic_wire_patient(patients)")).select_from(pt).where(
                or_(pt.c.name.ilike(pattern, escape="\\"), pt.c.phone.ilike(pattern, escape="\\"),
                    pt.c.email.ilike(pattern, escape="\\"))
            ).order_by(pt.c.name).limit(p.limit)
        )).scalars().all()
    return list(rows)


# --------------------------------------------------------------------------- writes


def _retry_after(wait: float) -> float:
    """Seconds to wait, rounded up to 1/100 s: a rounded-down 0 would invite an instant retry."""
    return math.ceil(wait * 100) / 100


def _rate_limit(app, ident: Identity) -> None:
    wait = app.write_limiter.take(ident.user_id)
    if wait > 0:
        raise RpcError.app(Reason.RATE_LIMITED, "You are making changes too quickly. Please wait a moment.",
                           retry_after=_retry_after(wait))


async def patients_create(app, session, p: PatientCreateParams) -> dict[str, Any]:
    ident = _require(session, "admin")
    _rate_limit(app, ident)
    async with app.db.transaction(ident.user_id) as conn:
        pid = (await conn.execute(insert(t.patients).values(
            name=p.name.strip() or p.name, phone=p.phone, email=p.email,
            date_of_birth=_parse_date(p.date_of_birth) if p.date_of_birth else None,
        ).returning(t.patients.c.id))).scalar_one()
        return (await conn.execute(text("SELECT clinic_wire_patient(x) FROM patients x WHERE id = :id"),
                                   {"id": pid})).scalar()


def _source_for(ident: Identity, via_assistant: bool) -> str:
    if via_assistant:
        return "assistant"
    return {"admin": "front_desk", "dentist": "dentist", "patient": "patient"}[ident.role]


async def appointments_create(app, session, p: CreateParams, via_assistant: bool = False) -> dict[str, Any]:
    ident = _require(session)
    _rate_limit(app, ident)
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
    start = _parse_instant(p.start)
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
    try:
        end = rules.check_booking(settings=ctx.settings, role=ident.role, appt_type=ctx.appt_type,
                                  dentist_id=p.dentist_id, patient_id=patient_id, chair_id=p.chair_id,
                                  start=start, hours=ctx.hours, exceptions=ctx.exceptions, busy=ctx.busy, now=_now())
    except rules.BookingError as exc:
        raise _booking_error(exc) from None
    try:
        # The database, not the check above, is what makes a double booking impossible: a booking
        # committed since the read fails here with an exclusion violation.
        return await queries.insert_appointment(
            pool, user_id=ident.user_id, patient_id=patient_id, dentist_id=p.dentist_id, chair_id=p.chair_id,
            type_id=p.type_id, start=start, end=end, source=_source_for(ident, via_assistant), notes=p.notes,
            idempotency_key=key)
    except Exception as exc:
        state = sqlstate_of(exc)
        if state == EXCLUSION_VIOLATION:
            raise RpcError.app(Reason.SLOT_UNAVAILABLE, "That time has just been taken. Please pick another slot.") from None
        if state == UNIQUE_VIOLATION and key:
            existing = await queries.appointment_by_key(pool, key)
            if existing is not None:
                return existing
        raise


async def _load_for_change(conn, ident: Identity, appt_id: int) -> dict[str, Any]:
    row = (await conn.execute(
        text("SELECT clinic_wire_appointment(a) FROM appointments a WHERE a.id = :id FOR UPDATE"), {"id": appt_id}
    )).scalar()
    return _may_change(ident, row)


def _may_change(ident: Identity, row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None or (not _may_act(ident, row) and ident.role == "patient"):
        # A patient may not even learn that someone else's appointment exists.
        raise RpcError.app(Reason.NOT_FOUND, "That appointment does not exist.")
    if not _may_act(ident, row):
        raise RpcError.app(Reason.FORBIDDEN, "That appointment is not yours to change.")
    return row


async def appointments_update(app, session, p: UpdateParams) -> dict[str, Any]:
    ident = _require(session)
    _rate_limit(app, ident)
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
        moving = any(v is not None for v in (p.start, p.dentist_id, p.type_id)) or (
            p.chair_id is not None and p.chair_id != row["chair_id"])
        if ident.role == "patient":
            if p.chair_id is not None or p.notes is not None:
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
                rules.check_transition(row["status"], p.status, role=ident.role, start=old_start, now=now)
            except rules.BookingError as exc:
                raise _booking_error(exc) from None
            values["status"] = p.status
        if moving:
            if row["status"] not in ("scheduled", "confirmed"):
                raise RpcError.app(Reason.INVALID_TRANSITION, "Only a scheduled or confirmed appointment can be moved.")
            dentist_id = p.dentist_id if p.dentist_id is not None else row["dentist_id"]
            type_id = p.type_id if p.type_id is not None else row["type_id"]
            chair_id = p.chair_id if p.chair_id is not None else row["chair_id"]
            start = _parse_instant(p.start) if p.start is not None else old_start
            ctx = await queries.booking_context(pool, dentist_id=dentist_id, type_id=type_id,
                                                patient_id=row["patient_id"], chair_id=chair_id,
                                                lo=start - timedelta(days=1), hi=start + timedelta(days=1))
            if ctx.appt_type is None:
                raise RpcError.app(Reason.NOT_FOUND, "That treatment type does not exist.", fields={"type_id": "unknown"})
            if not ctx.dentist_active:
                raise RpcError.app(Reason.NOT_FOUND, "That dentist does not exist.", fields={"dentist_id": "unknown"})
            if chair_id is not None and not ctx.chair_active:
                raise RpcError.app(Reason.NOT_FOUND, "That chair does not exist.", fields={"chair_id": "unknown"})
            try:
                end = rules.check_booking(settings=settings, role=ident.role, appt_type=ctx.appt_type,
                                          dentist_id=dentist_id, patient_id=row["patient_id"], chair_id=chair_id,
                                          start=start, hours=ctx.hours, exceptions=ctx.exceptions, busy=ctx.busy,
                                          now=now, exclude_appointment_id=p.id)
            except rules.BookingError as exc:
                raise _booking_error(exc) from None
            values.update(dentist_id=dentist_id, type_id=type_id, chair_id=chair_id, start_at=start, end_at=end)
        if p.notes is not None:
            values["notes"] = p.notes
        updated = await queries.update_appointment(pool, p.id, p.version, ident.user_id, values)
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
    ident = _require(session)
    _rate_limit(app, ident)
    async with app.db.transaction(ident.user_id) as conn:
        row = await _load_for_change(conn, ident, p.id)
        if row["status"] == "cancelled":
            return row
        now = _now()
        start = datetime.fromisoformat(row["start"])
        if ident.role == "patient":
            try:
                rules.check_patient_change(settings=await _settings(conn), start=start, now=now)
            except rules.BookingError as exc:
                raise _booking_error(exc) from None
        try:
            rules.check_transition(row["status"], "cancelled", role=ident.role, start=start, now=now)
        except rules.BookingError as exc:
            raise _booking_error(exc) from None
        await conn.execute(update(t.appointments).where(t.appointments.c.id == p.id).values(
            status="cancelled", cancel_reason=p.reason or "", updated_by=ident.user_id))
        return await _wire_appointment(conn, p.id)


def _hm(value: str) -> time:
    return time(23, 59, 59) if value == "24:00" else time.fromisoformat(value)


async def availability_set(app, session, p: AvailabilityParams) -> dict[str, Any]:
    ident = _require(session, "admin", "dentist")
    if ident.role == "dentist" and p.dentist_id != ident.dentist_id:
        raise RpcError.app(Reason.FORBIDDEN, "You can change only your own hours.")
    _rate_limit(app, ident)
    fields = {}
    for i, item in enumerate(p.weekly):
        if _hm(item.start) >= _hm(item.end):
            fields[f"weekly[{i}]"] = "start must be before end"
    for i, ex in enumerate(p.exceptions or []):
        if _parse_instant(ex.start) >= _parse_instant(ex.end):
            fields[f"exceptions[{i}]"] = "start must be before end"
    if fields:
        raise RpcError(-32602, "Invalid params", Reason.INVALID_PARAMS, fields=fields)
    async with app.db.transaction(ident.user_id) as conn:
        await _dentist_exists(conn, p.dentist_id)
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
    return {"dentist_id": p.dentist_id, "weekly": weekly, "exceptions": exceptions}


async def exceptions_add(app, session, p: ExceptionAddParams) -> dict[str, Any]:
    ident = _require(session, "admin", "dentist")
    if ident.role == "dentist" and p.dentist_id != ident.dentist_id:
        raise RpcError.app(Reason.FORBIDDEN, "You can change only your own days off.")
    _rate_limit(app, ident)
    start, end = _parse_instant(p.start), _parse_instant(p.end)
    if start >= end:
        raise RpcError(-32602, "Invalid params", Reason.INVALID_PARAMS, fields={"end": "must be after start"})
    async with app.db.transaction(ident.user_id) as conn:
        if p.dentist_id is not None:
            await _dentist_exists(conn, p.dentist_id)
        eid = (await conn.execute(insert(t.schedule_exceptions).values(
            dentist_id=p.dentist_id, start_at=start, end_at=end, kind=p.kind, reason=p.reason,
        ).returning(t.schedule_exceptions.c.id))).scalar_one()
        return (await conn.execute(text("SELECT clinic_wire_schedule_exception(e) FROM schedule_exceptions e WHERE id = :id"),
                                   {"id": eid})).scalar()


async def exceptions_delete(app, session, p: IdParams) -> dict[str, Any]:
    ident = _require(session, "admin", "dentist")
    _rate_limit(app, ident)
    se = t.schedule_exceptions
    async with app.db.transaction(ident.user_id) as conn:
        row = (await conn.execute(select(se).where(se.c.id == p.id))).first()
        if row is None:
            raise RpcError.app(Reason.NOT_FOUND, "That exception does not exist.")
        if ident.role == "dentist" and row.dentist_id != ident.dentist_id:
            raise RpcError.app(Reason.FORBIDDEN, "You can change only your own days off.")
        await conn.execute(se.delete().where(se.c.id == p.id))
    return {"ok": True}


async def assistant_message(app, session, p: AssistantParams) -> dict[str, Any]:
    ident = _require(session)
    if p.patient_id is not None and ident.role == "patient" and p.patient_id != ident.patient_id:
        raise RpcError.app(Reason.FORBIDDEN, "You can only book for yourself.")

    async def call(method: str, params: dict[str, Any]) -> Any:
        return await app.dispatch_internal(session, method, params, via_assistant=True)

    return await app.assistant.handle(user=ident.as_user(), text=p.text, conversation_id=p.conversation_id,
                                      call=call, acting_for_patient_id=p.patient_id)


# method name -> (handler, params model)
METHODS: dict[str, tuple[Any, type[Params]]] = {
    "auth.login": (auth_login, LoginParams),
    "auth.resume": (auth_resume, ResumeParams),
    "auth.refresh": (auth_refresh, RefreshParams),
    "auth.logout": (auth_logout, NoParams),
    "auth.change_password": (auth_change_password, ChangePasswordParams),
    "directory.get": (directory_get, NoParams),
    "slots.find": (slots_find, SlotsParams),
    "appointments.list": (appointments_list, ListParams),
    "appointments.create": (appointments_create, CreateParams),
    "appointments.update": (appointments_update, UpdateParams),
    "appointments.cancel": (appointments_cancel, CancelParams),
    "availability.set": (availability_set, AvailabilityParams),
    "exceptions.add": (exceptions_add, ExceptionAddParams),
    "exceptions.delete": (exceptions_delete, IdParams),
    "patients.search": (patients_search, PatientSearchParams),
    "patients.create": (patients_create, PatientCreateParams),
    "assistant.message": (assistant_message, AssistantParams),
}
PUBLIC_METHODS = frozenset({"auth.login", "auth.resume", "auth.refresh"})
WRITE_METHODS = frozenset({"appointments.create", "appointments.update", "appointments.cancel", "availability.set",
                           "exceptions.add", "exceptions.delete", "patients.create"})
