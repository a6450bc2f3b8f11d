"""`appointment_types.create` and `appointment_types.update`: the treatments the clinic books, set up by the admin.

A type has a name, a colour (the fill of its blocks on every schedule and in the legend), a length, whether
patients may book it online, and a recall interval. Every open screen follows a change through the feed.
A new length applies to bookings made from then on: an existing appointment keeps the start and end it was
booked with (appointments store their own end).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, StrictBool, StrictInt, StrictStr
from sqlalchemy import insert, text, update

from .. import booking as rules
from ..db import tables as t
from ..db.database import sqlstate_of
from ..protocol import ErrorCode, Reason, RpcError
from .common import (
    UNIQUE_VIOLATION,
    Id,
    Params,
    _booking_error,
    _rate_limit,
    _require,
    _settings,
)
from .schedule import _clean_name  # the same rule as a chair's name: spaces folded, never blank

__all__ = ["TypeCreateParams", "TypeUpdateParams", "appointment_types_create", "appointment_types_update"]

_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
_CONFLICT = "Someone else changed this appointment type a moment ago. Here is the latest."


class TypeCreateParams(Params):
    name: StrictStr = Field(min_length=1, max_length=100)
    duration_minutes: StrictInt
    colour: StrictStr = Field(default="#7fb3d5", max_length=20)
    patient_bookable: StrictBool = True
    # null: the type brings no recall; 1-120 as the database's CHECK on appointment_types.recall_months
    recall_months: StrictInt | None = Field(default=None, ge=1, le=120)


class TypeUpdateParams(Params):
    """Only the fields sent change; `recall_months` may be sent as null to stop the type's recall."""

    id: Id
    version: Id
    name: StrictStr | None = Field(default=None, min_length=1, max_length=100)
    duration_minutes: StrictInt | None = None
    colour: StrictStr | None = Field(default=None, max_length=20)
    patient_bookable: StrictBool | None = None
    recall_months: StrictInt | None = Field(default=None, ge=1, le=120)


def _invalid(field: str, message: str) -> RpcError:
    return RpcError(ErrorCode.INVALID_PARAMS, "Invalid params", Reason.INVALID_PARAMS, fields={field: message})


def _clean_colour(colour: str) -> str:
    """`#rrggbb` in lower case, or a field error a person can act on."""
    if not _COLOUR.fullmatch(colour.strip()):
        raise _invalid("colour", "must be a colour written #rrggbb, e.g. #58d68d")
    return colour.strip().lower()


async def _checked_duration(conn, minutes: int) -> int:
    """A length in whole slot steps, from one step to 8 hours: the rule a custom appointment length follows."""
    try:
        rules.check_duration(await _settings(conn), minutes)
    except rules.BookingError as exc:
        raise _booking_error(exc) from None
    return minutes


async def _type_row(conn, type_id: int) -> dict[str, Any] | None:
    return (await conn.execute(text("SELECT clinic_wire_appointment_type(x) FROM appointment_types x WHERE id = :id"),
                               {"id": type_id})).scalar()


def _name_taken(name: str) -> RpcError:
    return RpcError.app(Reason.INVALID_PARAMS, f"There is already an appointment type called {name!r}.",
                        fields={"name": "already used by another appointment type"})


async def appointment_types_create(app, session, p: TypeCreateParams) -> dict[str, Any]:
    """Add a type; it is bookable at once (online too when `patient_bookable`)."""
    ident = _require(session, "admin")
    name, colour = _clean_name(p.name), _clean_colour(p.colour)
    await _rate_limit(app, ident)
    try:
        async with app.db.transaction(ident.user_id) as conn:
            await _checked_duration(conn, p.duration_minutes)
            type_id = (await conn.execute(insert(t.appointment_types).values(
                name=name, duration_minutes=p.duration_minutes, colour=colour, patient_bookable=p.patient_bookable,
                recall_months=p.recall_months, active=True,
            ).returning(t.appointment_types.c.id))).scalar_one()
            return await _type_row(conn, type_id)  # type: ignore[return-value]  # just inserted
    except RpcError:
        raise
    except Exception as exc:
        if sqlstate_of(exc) == UNIQUE_VIOLATION:
            raise _name_taken(name) from None
        raise


async def appointment_types_update(app, session, p: TypeUpdateParams) -> dict[str, Any]:
    """Change a type on the version the admin saw; `version_conflict` with the current row otherwise."""
    ident = _require(session, "admin")
    values: dict[str, Any] = {}
    for field in p.model_fields_set - {"id", "version"}:
        value = getattr(p, field)
        if value is None and field != "recall_months":
            raise _invalid(field, "must not be null")
        if field == "name":
            value = _clean_name(value)
        elif field == "colour":
            value = _clean_colour(value)
        values[field] = value
    await _rate_limit(app, ident)
    ty = t.appointment_types
    try:
        async with app.db.transaction(ident.user_id) as conn:
            current = await _type_row(conn, p.id)
            if current is None:
                raise RpcError.app(Reason.NOT_FOUND, "That appointment type does not exist.", fields={"id": "unknown"})
            if current["version"] != p.version:
                raise RpcError.app(Reason.VERSION_CONFLICT, _CONFLICT, current=current)
            if "duration_minutes" in values:
                await _checked_duration(conn, values["duration_minutes"])
            if not values:
                return current
            changed = (await conn.execute(update(ty).where(ty.c.id == p.id, ty.c.version == p.version)
                                          .values(**values).returning(ty.c.id))).first()
            if changed is None:  # changed between our read and our write
                raise RpcError.app(Reason.VERSION_CONFLICT, _CONFLICT, current=await _type_row(conn, p.id))
            return await _type_row(conn, p.id)  # type: ignore[return-value]  # just updated
    except RpcError:
        raise
    except Exception as exc:
        if sqlstate_of(exc) == UNIQUE_VIOLATION:
            raise _name_taken(values.get("name", "")) from None
        raise
