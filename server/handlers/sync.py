"""`sync.subscribe`'s params (the subscription itself is server/subscription.py) and `directory.get`."""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictInt, StrictStr
from sqlalchemy import text

from .common import (
    NoParams,
    Params,
    _require,
)


class SubscribeParams(Params):
    since: StrictInt | None = Field(default=None, ge=0, le=2**62)
    epoch: StrictStr | None = Field(default=None, max_length=64)  # the feed epoch `since` belongs to


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
