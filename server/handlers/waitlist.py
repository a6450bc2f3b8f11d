"""`waitlist.*`: put a request on the waitlist, take it off, accept or decline an offer.

Offers themselves are made by the database when a time frees up (migration 0007) and reach the front
desk and the patient through the feed (kinds `waitlist_request`, `waitlist_offer`).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from pydantic import Field, StrictInt, StrictStr, field_validator

from .. import waitlist
from ..db.database import sqlstate_of
from ..protocol import ErrorCode, Reason, RpcError
from .common import (
    EXCLUSION_VIOLATION,
    UNIQUE_VIOLATION,
    Id,
    Params,
    _in_window,
    _parse_date,
    _rate_limit,
    _require,
)

__all__ = [
    "OfferParams",
    "WaitlistAddParams",
    "WaitlistRemoveParams",
    "waitlist_accept",
    "waitlist_add",
    "waitlist_decline",
    "waitlist_remove",
]


class WaitlistAddParams(Params):
    patient_id: Id | None = None  # staff: whose request; a patient: themself (may be omitted)
    type_id: Id
    dentist_ids: list[Id] = Field(default_factory=list, max_length=50)
    weekdays: list[StrictInt] = Field(default_factory=lambda: [0, 1, 2, 3, 4, 5, 6], max_length=7)
    day_start: StrictStr = "00:00"
    day_end: StrictStr = "24:00"
    earliest: StrictStr | None = None  # default: today
    latest: StrictStr | None = None  # default: as far ahead as the clinic books
    notes: StrictStr = Field(default="", max_length=1000)

    @field_validator("earliest", "latest")
    @classmethod
    def _dates(cls, v: str | None) -> str | None:
        if v is not None:
            _parse_date(v)
        return v


class WaitlistRemoveParams(Params):
    id: Id
    version: Id


class OfferParams(Params):
    offer_id: Id


def _invalid(fields: dict[str, str]) -> RpcError:
    return RpcError(ErrorCode.INVALID_PARAMS, "Invalid params", Reason.INVALID_PARAMS, fields=fields)


async def waitlist_add(app, session, p: WaitlistAddParams) -> dict[str, Any]:
    """A new active request; one per patient and treatment."""
    ident = _require(session, "admin", "patient")
    await _rate_limit(app, ident)
    if ident.role == "patient":
        if p.patient_id is not None and p.patient_id != ident.patient_id:
            raise RpcError.app(Reason.FORBIDDEN, "You can only put yourself on the waitlist.")
        patient_id = ident.patient_id
        if patient_id is None:
            raise RpcError.app(Reason.FORBIDDEN, "This account has no patient record.")
    elif p.patient_id is None:
        raise _invalid({"patient_id": "required for staff"})
    else:
        patient_id = p.patient_id
    pool = await app.db.pool()
    settings = await pool.fetchrow("SELECT timezone, max_advance_days FROM clinic_settings")
    today = datetime.now(ZoneInfo(settings["timezone"])).date()
    earliest = _parse_date(p.earliest) if p.earliest else today
    latest = _parse_date(p.latest) if p.latest else today + timedelta(days=settings["max_advance_days"])
    _in_window(app, earliest=earliest, latest=latest)
    try:
        spec = waitlist.RequestSpec.build(type_id=p.type_id, dentist_ids=p.dentist_ids, weekdays=p.weekdays,
                                          day_start=p.day_start, day_end=p.day_end, earliest=earliest,
                                          latest=latest, today=today, notes=p.notes)
    except ValueError as exc:
        raise _invalid(exc.args[0]) from None
    found = await pool.fetchrow(
        "SELECT (SELECT t.active FROM appointment_types t WHERE t.id = $1) AS type_active,"
        " (SELECT t.patient_bookable FROM appointment_types t WHERE t.id = $1) AS bookable,"
        " EXISTS (SELECT 1 FROM patients WHERE id = $2) AS patient,"
        " (SELECT count(*) FROM dentists WHERE id = ANY($3::int[]) AND active) AS dentists",
        spec.type_id, patient_id, list(spec.dentist_ids))
    if not found["type_active"]:
        raise RpcError.app(Reason.NOT_FOUND, "That treatment type does not exist.", fields={"type_id": "unknown"})
    if ident.role == "patient" and not found["bookable"]:
        raise RpcError.app(Reason.FORBIDDEN, "Please call the clinic to be put on the waitlist for that treatment.")
    if not found["patient"]:
        raise RpcError.app(Reason.NOT_FOUND, "That patient does not exist.", fields={"patient_id": "unknown"})
    if found["dentists"] != len(spec.dentist_ids):
        raise RpcError.app(Reason.NOT_FOUND, "That dentist does not exist.", fields={"dentist_ids": "unknown"})
    try:
        raw = await pool.fetchval(
            "WITH actor AS (SELECT set_config('clinic.user_id', $10, true)) "
            "INSERT INTO waitlist_requests (patient_id, type_id, dentist_ids, weekdays, day_start, day_end, earliest, "
            "latest, notes, created_by) SELECT $1, $2, $3, $4, $5::time, $6::text::time, $7, $8, $9, $11 FROM actor "
            "RETURNING clinic_wire_waitlist_request(waitlist_requests)::text",
            patient_id, spec.type_id, list(spec.dentist_ids), list(spec.weekdays), spec.day_start,
            spec.sql_day_end(), spec.earliest, spec.latest, spec.notes, str(ident.user_id), ident.user_id)
    except asyncpg.UniqueViolationError:
        raise _invalid({"type_id": "this patient is already on the waitlist for that treatment"}) from None
    return json.loads(raw)


async def waitlist_remove(app, session, p: WaitlistRemoveParams) -> dict[str, Any]:
    """Take a request off the waitlist (its open offers are withdrawn with it), on the version the user saw."""
    ident = _require(session, "admin", "patient")
    await _rate_limit(app, ident)
    pool = await app.db.pool()
    raw = await pool.fetchval("SELECT clinic_wire_waitlist_request(r)::text FROM waitlist_requests r WHERE id = $1", p.id)
    row = json.loads(raw) if raw else None
    if row is None or (ident.role == "patient" and row["patient_id"] != ident.patient_id):
        raise RpcError.app(Reason.NOT_FOUND, "That waitlist request does not exist.")
    if row["version"] != p.version:
        raise RpcError.app(Reason.VERSION_CONFLICT, "Someone else changed this waitlist request a moment ago.",
                           current=row)
    if row["status"] != "active":
        return row
    raw = await pool.fetchval(
        "UPDATE waitlist_requests SET status = 'removed' WHERE id = $1 AND version = $2 "
        "RETURNING clinic_wire_waitlist_request(waitlist_requests)::text", p.id, p.version)
    if raw is None:
        current = await pool.fetchval("SELECT clinic_wire_waitlist_request(r)::text FROM waitlist_requests r "
                                      "WHERE id = $1", p.id)
        raise RpcError.app(Reason.VERSION_CONFLICT, "Someone else changed this waitlist request a moment ago.",
                           current=json.loads(current) if current else None)
    return json.loads(raw)


def _source(role: str) -> str:
    return "patient" if role == "patient" else "front_desk"


async def waitlist_accept(app, session, p: OfferParams) -> dict[str, Any]:
    """Accept an offer: book its time. The first acceptance wins; the others are told the time was taken."""
    ident = _require(session, "admin", "patient")
    await _rate_limit(app, ident)
    pool = await app.db.pool()
    try:
        return await waitlist.accept_offer(pool, p.offer_id, user_id=ident.user_id,
                                           patient_id=ident.patient_id if ident.role == "patient" else None,
                                           source=_source(ident.role))
    except LookupError:
        raise RpcError.app(Reason.NOT_FOUND, "That offer does not exist.") from None
    except waitlist.OfferGone as exc:
        raise RpcError.app(Reason.SLOT_UNAVAILABLE, str(exc), offer=exc.offer) from None
    except Exception as exc:
        if sqlstate_of(exc) not in (EXCLUSION_VIOLATION, UNIQUE_VIOLATION):
            raise
        if getattr(exc, "constraint_name", "") == "appointments_no_patient_overlap":
            message = "You already have an appointment at that time."
        else:
            message = waitlist.offer_gone_message("taken")
        raise RpcError.app(Reason.SLOT_UNAVAILABLE, message, offer=await waitlist.read_offer(pool, p.offer_id)) from None


async def waitlist_decline(app, session, p: OfferParams) -> dict[str, Any]:
    """Say no to an offer (the request stays on the waitlist); an offer no longer open is returned as it is."""
    ident = _require(session, "admin", "patient")
    await _rate_limit(app, ident)
    pool = await app.db.pool()
    offer = await waitlist.read_offer(pool, p.offer_id)
    if offer is None or (ident.role == "patient" and offer["patient_id"] != ident.patient_id):
        raise RpcError.app(Reason.NOT_FOUND, "That offer does not exist.")
    raw = await pool.fetchval(
        "UPDATE waitlist_offers SET status = 'declined' WHERE id = $1 AND status = 'open' "
        "RETURNING clinic_wire_waitlist_offer(waitlist_offers)::text", p.offer_id)
    return json.loads(raw) if raw else (await waitlist.read_offer(pool, p.offer_id) or offer)
