"""`chairs.*`, `dentists.set_default_chair` and `blockouts.*`: the rooms and the typed blocks on the schedule.

Chairs (operatories) are the admin's to name and retire; a retired chair keeps its past appointments but
takes no new ones. Each dentist may have a default chair, which a booking or a move to that dentist gets
when it names none. Blockouts are typed blocks of time (meeting, emergency reserve, new patients only,
lunch…) on one dentist's schedule, one chair, or the whole clinic; their type says whether online and
assistant bookings may use the time (see server/booking/rules.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictBool, StrictStr, field_validator
from sqlalchemy import insert, select, text, update

from ..db import tables as t
from ..db.database import sqlstate_of
from ..protocol import Reason, RpcError
from .common import (
    UNIQUE_VIOLATION,
    Id,
    IdParams,
    Params,
    _chair_exists,
    _dentist_exists,
    _in_window,
    _parse_instant,
    _rate_limit,
    _require,
    delete_owned_row,
)

__all__ = [
    "BlockoutAddParams", "ChairCreateParams", "ChairUpdateParams", "DefaultChairParams",
    "blockouts_add", "blockouts_delete", "chairs_create", "chairs_update", "dentists_set_default_chair",
]


class ChairCreateParams(Params):
    name: StrictStr = Field(min_length=1, max_length=100)
    active: StrictBool = True


class ChairUpdateParams(Params):
    id: Id
    version: Id
    name: StrictStr | None = Field(default=None, min_length=1, max_length=100)
    active: StrictBool | None = None


class DefaultChairParams(Params):
    dentist_id: Id
    chair_id: Id | None = None  # null: no default chair


class BlockoutAddParams(Params):
    type_id: Id
    start: StrictStr
    end: StrictStr
    dentist_id: Id | None = None  # null: every dentist
    chair_id: Id | None = None  # null: any chair
    note: StrictStr = Field(default="", max_length=1000)

    @field_validator("start", "end")
    @classmethod
    def _inst(cls, v: str) -> str:
        _parse_instant(v)
        return v


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise RpcError(-32602, "Invalid params", Reason.INVALID_PARAMS, fields={"name": "must not be blank"})
    return cleaned


async def _chair_row(conn, chair_id: int) -> dict[str, Any]:
    return (await conn.execute(text("SELECT clinic_wire_chair(c) FROM chairs c WHERE id = :id"),
                               {"id": chair_id})).scalar_one()


def _name_taken(name: str) -> RpcError:
    return RpcError.app(Reason.INVALID_PARAMS, f"There is already a chair called {name!r}.",
                        fields={"name": "already used by another chair"})


async def chairs_create(app, session, p: ChairCreateParams) -> dict[str, Any]:
    ident = _require(session, "admin")
    await _rate_limit(app, ident)
    name = _clean_name(p.name)
    try:
        async with app.db.transaction(ident.user_id) as conn:
            cid = (await conn.execute(insert(t.chairs).values(name=name, active=p.active)
                                      .returning(t.chairs.c.id))).scalar_one()
            return await _chair_row(conn, cid)
    except Exception as exc:
        if sqlstate_of(exc) == UNIQUE_VIOLATION:
            raise _name_taken(name) from None
        raise


async def chairs_update(app, session, p: ChairUpdateParams) -> dict[str, Any]:
    """Rename or retire (active=false) a chair, on the version the admin saw."""
    ident = _require(session, "admin")
    await _rate_limit(app, ident)
    values: dict[str, Any] = {}
    if p.name is not None:
        values["name"] = _clean_name(p.name)
    if p.active is not None:
        values["active"] = p.active
    c = t.chairs
    try:
        async with app.db.transaction(ident.user_id) as conn:
            found = (await conn.execute(select(c.c.version).where(c.c.id == p.id))).first()
            if found is None:
                raise RpcError.app(Reason.NOT_FOUND, "That chair does not exist.", fields={"id": "unknown"})
            if found.version != p.version:
                raise RpcError.app(Reason.VERSION_CONFLICT, "Someone else changed this chair a moment ago. Here is the latest.",
                                   current=await _chair_row(conn, p.id))
            if values:
                await conn.execute(update(c).where(c.c.id == p.id).values(**values))
            return await _chair_row(conn, p.id)
    except RpcError:
        raise
    except Exception as exc:
        if sqlstate_of(exc) == UNIQUE_VIOLATION:
            raise _name_taken(values.get("name", "")) from None
        raise


async def dentists_set_default_chair(app, session, p: DefaultChairParams) -> dict[str, Any]:
    ident = _require(session, "admin")
    await _rate_limit(app, ident)
    async with app.db.transaction(ident.user_id) as conn:
        await _dentist_exists(conn, p.dentist_id)
        await _chair_exists(conn, p.chair_id)
        d = t.dentists
        await conn.execute(update(d).where(d.c.id == p.dentist_id).values(default_chair_id=p.chair_id))
        return (await conn.execute(text("SELECT clinic_wire_dentist(d) FROM dentists d WHERE id = :id"),
                                   {"id": p.dentist_id})).scalar_one()


async def blockouts_add(app, session, p: BlockoutAddParams) -> dict[str, Any]:
    """Block time on a dentist's schedule (a dentist: their own only), a chair, or the whole clinic."""
    ident = _require(session, "admin", "dentist")
    if ident.role == "dentist" and p.dentist_id != ident.dentist_id:
        raise RpcError.app(Reason.FORBIDDEN, "You can block time on your own schedule only.")
    await _rate_limit(app, ident)
    start, end = _parse_instant(p.start), _parse_instant(p.end)
    _in_window(app, start=start, end=end)
    if start >= end:
        raise RpcError(-32602, "Invalid params", Reason.INVALID_PARAMS, fields={"end": "must be after start"})
    longest = app.config.blockout_max_days
    if (end - start).total_seconds() > longest * 86400:
        raise RpcError(-32602, "Invalid params", Reason.INVALID_PARAMS,
                       fields={"end": f"a blockout may last at most {longest} days; use days off for longer"})
    async with app.db.transaction(ident.user_id) as conn:
        if p.dentist_id is not None:
            await _dentist_exists(conn, p.dentist_id)
        await _chair_exists(conn, p.chair_id)
        if (await conn.execute(select(t.blockout_types.c.id).where(t.blockout_types.c.id == p.type_id))).first() is None:
            raise RpcError.app(Reason.NOT_FOUND, "That kind of blockout does not exist.", fields={"type_id": "unknown"})
        bid = (await conn.execute(insert(t.blockouts).values(
            dentist_id=p.dentist_id, chair_id=p.chair_id, type_id=p.type_id, start_at=start, end_at=end,
            note=p.note.strip(), created_by=ident.user_id,
        ).returning(t.blockouts.c.id))).scalar_one()
        return (await conn.execute(text("SELECT clinic_wire_blockout(b) FROM blockouts b WHERE id = :id"),
                                   {"id": bid})).scalar_one()


async def blockouts_delete(app, session, p: IdParams) -> dict[str, Any]:
    return await delete_owned_row(app, session, t.blockouts, p.id, missing="That blockout does not exist.",
                                  not_yours="You can remove blocks from your own schedule only.")
