"""`patients.*`: search, quick-add and edit (each with a duplicate check first), one record, its history, merge."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, StrictBool, StrictInt, StrictStr, field_validator
from sqlalchemy import and_, func, insert, or_, select, text

from ..db import tables as t
from ..db.database import sqlstate_of
from ..protocol import ErrorCode, Reason, RpcError
from .lists import add_months
from .common import (
    EXCLUSION_VIOLATION,
    UNIQUE_VIOLATION,
    Id,
    Params,
    _parse_date,
    _rate_limit,
    _require,
    _settings,
)


class PatientSearchParams(Params):
    query: StrictStr = Field(max_length=200)
    limit: StrictInt = Field(default=20, ge=1, le=200)


Contact = Literal["phone", "sms", "email", "post"]


class PatientCreateParams(Params):
    name: StrictStr = Field(min_length=1, max_length=200)
    phone: StrictStr | None = Field(default=None, max_length=50)
    email: StrictStr | None = Field(default=None, max_length=200)
    date_of_birth: StrictStr | None = None
    address: StrictStr = Field(default="", max_length=500)
    preferred_contact: Contact = "phone"
    medical_alerts: StrictStr = Field(default="", max_length=2000)
    notes: StrictStr = Field(default="", max_length=4000)
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


def _field_errors(p: Any) -> dict[str, str]:
    """Per-field messages for what the type alone cannot say: a blank name, a phone that is not a number."""
    fields = {}
    if p.name is not None and not " ".join(p.name.split()):
        fields["name"] = "must not be blank"
    if p.phone and p.phone.strip():
        digits = len(re.sub(r"\D", "", p.phone))
        if not _PHONE.fullmatch(p.phone.strip()) or not _PHONE_DIGITS[0] <= digits <= _PHONE_DIGITS[1]:
            fields["phone"] = "must be a phone number: 6 to 15 digits, with spaces and + ( ) - allowed"
    return fields


def _digits(phone: str | None) -> str:
    return re.sub(r"\D", "", phone or "")


async def _likely_duplicates(conn, name: str, phone: str | None, email: str | None,
                             date_of_birth: Any, exclude_id: int | None = None) -> list[dict[str, Any]]:
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
    where = or_(*matches) if exclude_id is None else and_(or_(*matches), pt.c.id != exclude_id)
    rows = (await conn.execute(
        select(text("clinic_wire_patient(patients)")).select_from(pt).where(where).order_by(pt.c.name).limit(10)
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
            address=p.address.strip(), preferred_contact=p.preferred_contact, medical_alerts=p.medical_alerts.strip(),
            notes=p.notes.strip(),
        ).returning(t.patients.c.id))).scalar_one()
        return (await conn.execute(text("SELECT clinic_wire_patient(x) FROM patients x WHERE id = :id"),
                                   {"id": pid})).scalar()


# --------------------------------------------------------------------------- one record, edit, history, merge

_WIRE = "SELECT clinic_wire_patient(x) FROM patients x WHERE id = :id"
_CONFLICT = "Someone else changed this patient a moment ago. Here is the latest."


class PatientUpdateParams(Params):
    """Only the fields sent change; `date_of_birth`, `phone` and `email` may be sent as null to clear them."""

    id: Id
    version: Id
    name: StrictStr | None = Field(default=None, min_length=1, max_length=200)
    phone: StrictStr | None = Field(default=None, max_length=50)
    email: StrictStr | None = Field(default=None, max_length=200)
    date_of_birth: StrictStr | None = None
    address: StrictStr | None = Field(default=None, max_length=500)
    preferred_contact: Contact | None = None
    medical_alerts: StrictStr | None = Field(default=None, max_length=2000)
    notes: StrictStr | None = Field(default=None, max_length=4000)
    confirm_duplicate: StrictBool = False

    @field_validator("date_of_birth")
    @classmethod
    def _dob(cls, v: str | None) -> str | None:
        if v is not None:
            _parse_date(v)
        return v


class PatientHistoryParams(Params):
    patient_id: Id
    before: StrictStr | None = Field(default=None, max_length=100)  # the `next` of the previous page
    limit: StrictInt = Field(default=50, ge=1)


class PatientMergeParams(Params):
    keep_id: Id
    keep_version: Id
    merge_id: Id
    merge_version: Id


async def _patient(conn, patient_id: int) -> dict[str, Any]:
    row = (await conn.execute(text(_WIRE), {"id": patient_id})).scalar()
    if row is None:
        raise RpcError.app(Reason.NOT_FOUND, "That patient does not exist.", fields={"id": "unknown"})
    return row


_RECALL_SQL = """
SELECT t.id AS type_id, t.name AS type_name, t.recall_months,
       (SELECT max(a.start_at) FROM appointments a
         WHERE a.patient_id = :pid AND a.type_id = t.id AND a.status = 'completed') AS last_at,
       (SELECT min(a.start_at) FROM appointments a
         WHERE a.patient_id = :pid AND a.type_id = t.id
           AND a.status IN ('scheduled','confirmed','checked_in','in_chair') AND a.start_at > now() - interval '1 day') AS next_at
FROM appointment_types t WHERE t.recall_months IS NOT NULL AND t.active ORDER BY t.id
"""


async def patient_recall(conn, patient_id: int, zone) -> list[dict[str, Any]]:
    """Per recall type: the last completed visit, when the next is due (last + the type's interval), the next booked."""
    out = []
    for r in (await conn.execute(text(_RECALL_SQL), {"pid": patient_id})).all():
        last = r.last_at.astimezone(zone).date() if r.last_at else None
        out.append({"type_id": r.type_id, "type_name": r.type_name, "recall_months": r.recall_months,
                    "last": last.isoformat() if last else None,
                    "due": add_months(last, r.recall_months).isoformat() if last else None,
                    "next_booked": r.next_at.isoformat() if r.next_at else None})
    return out


async def patients_get(app, session, p) -> dict[str, Any]:
    """One patient with their recall dates and the merges into this record."""
    _require(session, "admin")
    async with app.db.read() as conn:
        patient = await _patient(conn, p.id)
        zone = (await _settings(conn)).zone
        merges = (await conn.execute(text(
            "SELECT merged_id, merged_row->>'name' AS name, merged_at FROM patient_merges WHERE kept_id = :id "
            "ORDER BY id"), {"id": p.id})).all()
        recall = await patient_recall(conn, p.id, zone)
    return {"patient": patient, "recall": recall,
            "merged_from": [{"id": m.merged_id, "name": m.name, "at": m.merged_at.isoformat()} for m in merges]}


async def patients_update(app, session, p: PatientUpdateParams) -> dict[str, Any]:
    """Edit on the version the user saw; a change of name, phone, email or birth date is checked for duplicates."""
    ident = _require(session, "admin")
    fields = _field_errors(p)
    if fields:
        raise RpcError(ErrorCode.INVALID_PARAMS, "Invalid params", Reason.INVALID_PARAMS, fields=fields)
    await _rate_limit(app, ident)
    sent = p.model_fields_set - {"id", "version", "confirm_duplicate"}
    values: dict[str, Any] = {}
    for name in sent:
        value = getattr(p, name)
        if name in ("name", "address", "medical_alerts", "notes"):
            if value is None:
                raise RpcError(ErrorCode.INVALID_PARAMS, "Invalid params", Reason.INVALID_PARAMS,
                               fields={name: "must not be null"})
            value = " ".join(value.split()) if name == "name" else value.strip()
        elif name == "preferred_contact":
            if value is None:
                raise RpcError(ErrorCode.INVALID_PARAMS, "Invalid params", Reason.INVALID_PARAMS,
                               fields={name: "must be phone, sms, email or post"})
        elif name == "date_of_birth":
            value = _parse_date(value) if value else None
        else:
            value = value.strip() or None if value is not None else None
        values[name] = value
    async with app.db.transaction(ident.user_id) as conn:
        current = await _patient(conn, p.id)
        if current["version"] != p.version:
            raise RpcError.app(Reason.VERSION_CONFLICT, _CONFLICT, current=current)
        if not values:
            return current
        identity = {"name", "phone", "email", "date_of_birth"} & set(values)
        if identity and not p.confirm_duplicate:
            merged = {**current, **{k: v for k, v in values.items()}}
            dob = merged.get("date_of_birth")
            dob = _parse_date(dob) if isinstance(dob, str) else dob
            candidates = await _likely_duplicates(conn, merged["name"], values.get("phone", current.get("phone")),
                                                  values.get("email", current.get("email")), dob, exclude_id=p.id)
            if candidates:
                raise RpcError.app(Reason.POSSIBLE_DUPLICATE,
                                   "This may be a patient who is already registered.", candidates=candidates)
        pt = t.patients
        changed = (await conn.execute(
            pt.update().where(pt.c.id == p.id, pt.c.version == p.version).values(**values).returning(pt.c.id)
        )).first()
        if changed is None:  # changed between our read and our write
            raise RpcError.app(Reason.VERSION_CONFLICT, _CONFLICT, current=await _patient(conn, p.id))
        return await _patient(conn, p.id)


def _cursor(value: str | None) -> tuple[datetime, int] | None:
    if value is None:
        return None
    try:
        when, _, ident = value.rpartition("|")
        return datetime.fromisoformat(when), int(ident)
    except ValueError:
        raise RpcError(ErrorCode.INVALID_PARAMS, "Invalid params", Reason.INVALID_PARAMS,
                       fields={"before": "must be the `next` of a previous page"}) from None


_HISTORY_SQL = """
SELECT clinic_wire_appointment(a) || jsonb_build_object(
         'type_name', (SELECT t.name FROM appointment_types t WHERE t.id = a.type_id),
         'dentist_name', (SELECT d.name FROM dentists d WHERE d.id = a.dentist_id)) AS row,
       a.start_at, a.id
FROM appointments a
WHERE a.patient_id = :pid AND (CAST(:before_at AS timestamptz) IS NULL OR (a.start_at, a.id) < (:before_at, :before_id))
ORDER BY a.start_at DESC, a.id DESC
LIMIT :limit
"""


async def patients_history(app, session, p: PatientHistoryParams) -> dict[str, Any]:
    """Every appointment of the patient, newest first, a page at a time (older than the feed's window too)."""
    _require(session, "admin")
    if p.limit > app.config.history_page_max:
        raise RpcError(ErrorCode.INVALID_PARAMS, "Invalid params", Reason.INVALID_PARAMS,
                       fields={"limit": f"must be at most {app.config.history_page_max}"})
    before = _cursor(p.before)
    async with app.db.read() as conn:
        await _patient(conn, p.patient_id)
        total = (await conn.execute(text("SELECT count(*) FROM appointments WHERE patient_id = :pid"),
                                    {"pid": p.patient_id})).scalar_one()
        rows = (await conn.execute(text(_HISTORY_SQL), {
            "pid": p.patient_id, "before_at": before[0] if before else None, "before_id": before[1] if before else 0,
            "limit": p.limit + 1})).all()
    more = len(rows) > p.limit
    rows = rows[:p.limit]
    last = rows[-1] if rows else None
    return {"items": [r.row for r in rows], "total": total,
            "next": f"{last.start_at.isoformat()}|{last.id}" if more and last is not None else None}


_REFERENCES_SQL = """
SELECT c.conrelid::regclass::text AS tbl, a.attname AS col
FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
WHERE c.contype = 'f' AND c.confrelid = 'patients'::regclass AND array_length(c.conkey, 1) = 1
  AND c.conrelid NOT IN ('appointments'::regclass, 'patient_merges'::regclass, 'patients'::regclass)
"""


def _joined(a: str, b: str) -> str:
    a, b = (a or "").strip(), (b or "").strip()
    if not b or b in a:
        return a
    return f"{a}\n{b}" if a else b


async def patients_merge(app, session, p: PatientMergeParams) -> dict[str, Any]:
    """Merge `merge_id` into `keep_id`: its appointments (and their history) and anything else that names it
    move to the kept record, its details fill the kept record's blanks (alerts and notes are joined), its
    sign-in moves if the kept record has none, then it is removed. One transaction, audited in patient_merges."""
    ident = _require(session, "admin")
    if p.keep_id == p.merge_id:
        raise RpcError(ErrorCode.INVALID_PARAMS, "Invalid params", Reason.INVALID_PARAMS,
                       fields={"merge_id": "must be another patient than keep_id"})
    await _rate_limit(app, ident)
    pt = t.patients
    try:
        async with app.db.transaction(ident.user_id) as conn:
            keep, gone = await _patient(conn, p.keep_id), await _patient(conn, p.merge_id)
            for row, version in ((keep, p.keep_version), (gone, p.merge_version)):
                if row["version"] != version:
                    raise RpcError.app(Reason.VERSION_CONFLICT, _CONFLICT, current=row)
            if keep.get("user_id") and gone.get("user_id"):
                raise RpcError(ErrorCode.INVALID_PARAMS, "Invalid params", Reason.INVALID_PARAMS, fields={
                    "merge_id": "both patients have their own sign-in; one of the logins must be removed first"})
            # The first write takes the feed lock, then the row (the order every writer follows).
            freed = (await conn.execute(pt.update().where(pt.c.id == p.merge_id, pt.c.version == p.merge_version)
                                        .values(user_id=None).returning(pt.c.id))).first()
            if freed is None:
                raise RpcError.app(Reason.VERSION_CONFLICT, _CONFLICT, current=await _patient(conn, p.merge_id))
            moved = (await conn.execute(text(
                "UPDATE appointments SET patient_id = :keep, updated_by = :uid WHERE patient_id = :gone RETURNING id"),
                {"keep": p.keep_id, "gone": p.merge_id, "uid": ident.user_id})).scalars().all()
            for table, column in (await conn.execute(text(_REFERENCES_SQL))).all():
                quoted_col = '"' + column.replace('"', '""') + '"'
                await conn.execute(text(f"UPDATE {table} SET {quoted_col} = :keep WHERE {quoted_col} = :gone"),
                                   {"keep": p.keep_id, "gone": p.merge_id})
            values = {
                "user_id": keep.get("user_id") or gone.get("user_id"),
                "medical_alerts": _joined(keep.get("medical_alerts"), gone.get("medical_alerts")),
                "notes": _joined(keep.get("notes"), gone.get("notes")),
            }
            for name in ("phone", "email", "address"):
                if not keep.get(name) and gone.get(name):
                    values[name] = gone[name]
            if not keep.get("date_of_birth") and gone.get("date_of_birth"):
                values["date_of_birth"] = _parse_date(gone["date_of_birth"])
            kept = (await conn.execute(pt.update().where(pt.c.id == p.keep_id, pt.c.version == p.keep_version)
                                       .values(**values).returning(pt.c.id))).first()
            if kept is None:
                raise RpcError.app(Reason.VERSION_CONFLICT, _CONFLICT, current=await _patient(conn, p.keep_id))
            await conn.execute(pt.delete().where(pt.c.id == p.merge_id))
            await conn.execute(insert(t.patient_merges).values(
                kept_id=p.keep_id, merged_id=p.merge_id, merged_row=gone, appointment_ids=list(moved),
                merged_by=ident.user_id))
            return await _patient(conn, p.keep_id)
    except RpcError:
        raise
    except Exception as exc:
        state = sqlstate_of(exc)
        if state == EXCLUSION_VIOLATION:
            raise RpcError(ErrorCode.INVALID_PARAMS, "Invalid params", Reason.INVALID_PARAMS, fields={
                "merge_id": "both patients are booked at the same time; cancel one of those appointments first"}) from None
        if state == UNIQUE_VIOLATION:
            raise RpcError(ErrorCode.INVALID_PARAMS, "Invalid params", Reason.INVALID_PARAMS, fields={
                "merge_id": "both patients hold an entry that may exist only once per patient; remove one first"}) from None
        raise
