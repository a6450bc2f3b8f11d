"""How waitlist rows read on screen: days, times, dates, an offer. Pure (no Qt)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..clinic_clock import ClinicClock

__all__ = ["days_text", "hours_text", "offer_text", "open_offers"]

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def days_text(weekdays: Iterable[int]) -> str:
    days = sorted(set(weekdays))
    if days == list(range(7)):
        return "Any day"
    if days == list(range(5)):
        return "Weekdays"
    return ", ".join(_DAY_NAMES[d] for d in days)


def hours_text(row: dict[str, Any]) -> str:
    start, end = row.get("day_start", "00:00"), row.get("day_end", "24:00")
    if start == "00:00" and end == "24:00":
        return "Any time"
    if start == "00:00":
        return f"Before {end}"
    if end == "24:00":
        return f"After {start}"
    return f"{start}–{end}"


def open_offers(rows: Iterable[dict[str, Any]], clock: ClinicClock, *, patient_id: int | None = None,
                request_id: int | None = None) -> list[dict[str, Any]]:
    """Open offers not yet past their time, soonest first (optionally one patient's or one request's)."""
    now = clock.now()
    out = [o for o in rows if o.get("status") == "open" and clock.local(o["expires_at"]) > now
           and (patient_id is None or o.get("patient_id") == patient_id)
           and (request_id is None or o.get("request_id") == request_id)]
    return sorted(out, key=lambda o: (o["start"], o["id"]))


def offer_text(offer: dict[str, Any], clock: ClinicClock, *, type_name: str, dentist_name: str) -> str:
    return (f"{type_name} with {dentist_name}, {clock.format_when(offer['start'])}–{clock.format_time(offer['end'])}"
            f" · open until {clock.format_time(offer['expires_at'])}")
