"""`patients.*`: search and quick-add (with a duplicate check first)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, StrictBool, StrictInt, StrictStr, field_validator
from sqlalchemy import and_, func, insert, or_, select, text

from ..db import tables as t
from ..protocol import ErrorCode, Reason, RpcError
from .common import (
    Params,
    _parse_date,
    _rate_limit,
    _require,
)


class PatientSearchParams(Params):
    query: StrictStr = Field(max_length=200)
    limit: StrictInt = Field(default=20, ge=1, le=200)


class PatientCreateParams(Params):
    name: StrictStr = Field(min_length=1, max_length=200)
    phone: StrictStr | None = Field(default=None, max_length=50)
    email: StrictStr | None = Field(default=None, max_length=200)
    date_of_birth: StrictStr | None = None
    confirm_duplicate: StrictBool = False  # create even though a likely duplicate exists

    @field_validator("date_of_birth")
    @classmethod
    def _dob(cls, v: str | None) -> str | None:
        if v is not None:
            _parse_date(v)
        return v


async def patients_search(app, session, p: PatientSearchParams) -> list[dict[str, Any]]:
    """The front desk searches the whole directory. A dentist finds only patients who have an
    appointment with them, as {id, name}: what their own appointments in the feed already show."""
    ident = _require(session, "admin", "dentist")
    pattern = "%" + p.query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    pt = t.patients
    if ident.role == "admin":
        match = or_(pt.c.name.ilike(pattern, escape="\\"), pt.c.phone.ilike(pattern, escape="\\"),
                    pt.c.email.ilike(pattern, escape="\\"))
        shape: Any = text("clinic_wire_patient(patients)")
    else:
        a = t.appointments
        mine = select(a.c.id).where(a.c.patient_id == pt.c.id, a.c.dentist_id == ident.dentist_id).exists()
        match = and_(pt.c.name.ilike(pattern, escape="\\"), mine)
        shape = func.jsonb_build_object("id", pt.c.id, "name", pt.c.name)
    async with app.db.read() as conn:
        rows = (await conn.execute(
            select(shape).select_from(pt).where(match).order_by(pt.c.name).limit(p.limit)
        )).scalars().all()
    return list(rows)


_PHONE = re.compile(r"\+?[0-9 ()./-]+")
_PHONE_DIGITS = (6, 15)  # a short extension-less local number up to E.164's maximum


def _field_errors(p: PatientCreateParams) -> dict[str, str]:
    """Per-field messages for what the type alone cannot say: a blank name, a phone that is not a number."""
    fields = {}
    if not " ".join(p.name.split()):
        fields["name"] = "must not be blank"
    if p.phone and p.phone.strip():
        digits = len(re.sub(r"\D", "", p.phone))
        if not _PHONE.fullmatch(p.phone.strip()) or not _PHONE_DIGITS[0] <= digits <= _PHONE_DIGITS[1]:
            fields["phone"] = "must be a phone number: 6 to 15 digits, with spaces and + ( ) - allowed"
    return fields


def _digits(phone: str | None) -> str:
    return re.sub(r"\D", "", phone or "")


async def _likely_duplicates(conn, name: str, phone: str | None, email: str | None,
                             date_of_birth: Any) -> list[dict[str, Any]]:
    """Existing patients that are probably the same person, each with `matched`: why they were picked.

    Same name (case and spacing ignored) with the same date of birth, or with either date unknown;
    or the same phone digits; or the same email (case ignored).
    """
    pt = t.patients
    same_name = func.lower(func.regexp_replace(func.btrim(pt.c.name), r"\s+", " ", "g")) == name.lower()
    if date_of_birth is not None:
        same_name = and_(same_name, or_(pt.c.date_of_birth.is_(None), pt.c.date_of_birth == date_of_birth))
    matches = [same_name]
    if _digits(phone):
        matches.append(func.regexp_replace(func.coalesce(pt.c.phone, ""), r"\D", "", "g") == _digits(phone))
    if email and email.strip():
        matches.append(func.lower(func.btrim(pt.c.email)) == email.strip().lower())
    rows = (await conn.execute(
        select(text("clinic_wire_patient(patients)")).select_from(pt).where(or_(*matches)).order_by(pt.c.name).limit(10)
    )).scalars().all()
    candidates = []
    for row in rows:
        matched = []
        if " ".join(row["name"].split()).lower() == name.lower():
            matched.append("name")
        if _digits(phone) and _digits(row.get("phone")) == _digits(phone):
            matched.append("phone")
        if email and (row.get("email") or "").strip().lower() == email.strip().lower():
            matched.append("email")
        candidates.append(dict(row, matched=matched))
    return candidates


async def patients_create(app, session, p: PatientCreateParams) -> dict[str, Any]:
    """Add a patient; unless `confirm_duplicate`, refuse with `possible_duplicate` and the candidates first."""
    ident = _require(session, "admin")
    fields = _field_errors(p)
    if fields:
        raise RpcError(ErrorCode.INVALID_PARAMS, "Invalid params", Reason.INVALID_PARAMS, fields=fields)
    await _rate_limit(app, ident)
    date_of_birth = _parse_date(p.date_of_birth) if p.date_of_birth else None
    async with app.db.transaction(ident.user_id) as conn:
        if not p.confirm_duplicate:
            candidates = await _likely_duplicates(conn, " ".join(p.name.split()), p.phone, p.email, date_of_birth)
            if candidates:
                raise RpcError.app(Reason.POSSIBLE_DUPLICATE,
                                   "This may be a patient who is already registered.", candidates=candidates)
        pid = (await conn.execute(insert(t.patients).values(
            name=p.name.strip() or p.name, phone=p.phone, email=p.email, date_of_birth=date_of_birth,
        ).returning(t.patients.c.id))).scalar_one()
        return (await conn.execute(text("SELECT clinic_wire_patient(x) FROM patients x WHERE id = :id"),
                                   {"id": pid})).scalar()
