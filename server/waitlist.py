"""The waitlist: requests for an earlier time, offers of freed times, and the race to accept one.

Who gets an offer is decided in the database (migration 0007): a trigger on `appointments` offers a
freed time to every active request it suits, in the transaction that freed it, whichever path freed it.
Who wins an offered time is decided there too: accepting is INSERTing the appointment, and the
appointments' exclusion constraints let exactly one such INSERT commit; the same trigger marks every
other open offer of that time `taken` in the winner's transaction, so it leaves every screen through
the feed. This module holds the pure parts (validating a request, describing an offer) and the few
statements around them (the accept transaction, expiry).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

__all__ = [
    "OfferGone",
    "RequestSpec",
    "accept_offer",
    "describe_offer",
    "expire_offers",
    "expiry_loop",
    "offer_gone_message",
    "offers_note",
    "open_offers_for_patient",
    "parse_day_time",
    "set_offer_minutes",
]

log = logging.getLogger(__name__)

END_OF_DAY = "24:00"


def parse_day_time(value: str, *, allow_end_of_day: bool = False) -> time:
    """ "HH:MM" as a time of day; "24:00" (the end of the day) only where an end is meant."""
    if allow_end_of_day and value == END_OF_DAY:
        return time.max
    try:
        hours, minutes = value.split(":")
        if len(hours) != 2 or len(minutes) != 2:
            raise ValueError
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError("must be a time like 09:30" + (" (or 24:00)" if allow_end_of_day else "")) from None


@dataclass(frozen=True)
class RequestSpec:
    """A waitlist request as asked for, checked: what suits the patient. Pure."""

    type_id: int
    dentist_ids: tuple[int, ...]
    weekdays: tuple[int, ...]
    day_start: time
    day_end: time  # time.max stands for 24:00
    earliest: date
    latest: date
    notes: str = ""

    @classmethod
    def build(cls, *, type_id: int, dentist_ids: list[int], weekdays: list[int], day_start: str, day_end: str,
              earliest: date, latest: date, today: date, notes: str = "") -> RequestSpec:
        """Check every field; raises ValueError with {field: message} as its argument."""
        fields: dict[str, str] = {}
        if not weekdays or any(not 0 <= d <= 6 for d in weekdays):
            fields["weekdays"] = "must list at least one weekday, 0 (Monday) to 6 (Sunday)"
        start = end = None
        try:
            start = parse_day_time(day_start)
        except ValueError as exc:
            fields["day_start"] = str(exc)
        try:
            end = parse_day_time(day_end, allow_end_of_day=True)
        except ValueError as exc:
            fields["day_end"] = str(exc)
        if start is not None and end is not None and not start < end:
            fields["day_end"] = "must be later than day_start"
        if earliest > latest:
            fields["latest"] = "must be on or after earliest"
        elif latest < today:
            fields["latest"] = "must not be in the past"
        if len(set(dentist_ids)) != len(dentist_ids):
            fields["dentist_ids"] = "must not repeat a dentist"
        if fields:
            raise ValueError(fields)
        assert start is not None and end is not None
        return cls(type_id=type_id, dentist_ids=tuple(dentist_ids), weekdays=tuple(sorted(set(weekdays))),
                   day_start=start, day_end=end, earliest=max(earliest, today), latest=latest, notes=notes)

    def sql_day_end(self) -> str:
        return "24:00" if self.day_end == time.max else self.day_end.strftime("%H:%M")


def describe_offer(offer: dict[str, Any], *, zone: ZoneInfo, type_name: str, dentist_name: str) -> str:
    """One line a patient understands: what, with whom, when, and until when they may take it. Pure."""
    start = datetime.fromisoformat(offer["start"]).astimezone(zone)
    expires = datetime.fromisoformat(offer["expires_at"]).astimezone(zone)
    return (f"{type_name} with {dentist_name} on {start:%a} {start.day} {start:%b} at {start:%H:%M} "
            f"(yours if you accept by {expires:%H:%M})")


class OfferGone(Exception):
    """The offer cannot be accepted any more; `offer` is its current row (or None if it is gone)."""

    def __init__(self, message: str, offer: dict[str, Any] | None) -> None:
        super().__init__(message)
        self.offer = offer


def offer_gone_message(status: str) -> str:
    """Why an offer can no longer be accepted, in words. Pure."""
    return {
        "taken": "Someone else accepted this time a moment before you. You stay on the waitlist.",
        "accepted": "This offer has already been accepted.",
        "expired": "This offer has expired. You stay on the waitlist.",
        "declined": "You declined this offer.",
        "withdrawn": "This offer was withdrawn: the time is no longer available to you.",
    }.get(status, "This offer is no longer open.")


_OFFER_SQL = """
SELECT clinic_wire_waitlist_offer(o)::text AS row, o.expires_at > now() AS live, o.start_at > now() AS ahead,
       r.status AS request_status
FROM waitlist_offers o JOIN waitlist_requests r ON r.id = o.request_id WHERE o.id = $1
"""

_INSERT_SQL = """
INSERT INTO appointments (patient_id, dentist_id, chair_id, type_id, start_at, end_at, status, source, notes,
                          created_by, updated_by)
SELECT o.patient_id, o.dentist_id, o.chair_id, o.type_id, o.start_at, o.end_at, 'scheduled', $2,
       'Booked from the waitlist', $3, $3
FROM waitlist_offers o WHERE o.id = $1
RETURNING id, clinic_wire_appointment(appointments)::text AS row
"""


async def read_offer(conn: asyncpg.Connection | asyncpg.Pool, offer_id: int) -> dict[str, Any] | None:
    raw = await conn.fetchrow(_OFFER_SQL, offer_id)
    return json.loads(raw["row"]) if raw is not None else None


async def accept_offer(pool: asyncpg.Pool, offer_id: int, *, user_id: int, patient_id: int | None,
                       source: str) -> dict[str, Any]:
    """Book the offered time for the offer's patient, in one transaction; {appointment, offer}.

    `patient_id`: the caller's own patient record (a patient may accept only their own offers), or
    None for staff. Raises LookupError (no such offer, or not the caller's) or OfferGone; an
    exclusion violation (asyncpg.ExclusionViolationError) means another acceptance won the time.
    """
    async with pool.acquire() as conn:
        async with conn.transaction():
            await conn.execute("SELECT set_config('clinic.user_id', $1, true), "
                               "set_config('clinic.accepting_offer', $2, true)", str(user_id), str(offer_id))
            found = await conn.fetchrow(_OFFER_SQL, offer_id)
            if found is None:
                raise LookupError(offer_id)
            offer = json.loads(found["row"])
            if patient_id is not None and offer["patient_id"] != patient_id:
                raise LookupError(offer_id)
            if offer["status"] != "open":
                raise OfferGone(offer_gone_message(offer["status"]), offer)
            if not found["live"]:
                raise OfferGone(offer_gone_message("expired"), offer)
            if not found["ahead"] or found["request_status"] != "active":
                raise OfferGone(offer_gone_message("withdrawn"), offer)
            # The decision: this INSERT commits for exactly one of the offers of this time (exclusion
            # constraints); its trigger marks every other open offer of the time `taken`.
            booked = await conn.fetchrow(_INSERT_SQL, offer_id, source, user_id)
            accepted = await conn.fetchval(
                "UPDATE waitlist_offers SET status = 'accepted', appointment_id = $2 "
                "WHERE id = $1 AND status = 'open' AND expires_at > now() "
                "RETURNING clinic_wire_waitlist_offer(waitlist_offers)::text", offer_id, booked["id"])
            if accepted is None:  # expired or withdrawn between the read and the write: roll back the booking
                current = await read_offer(conn, offer_id)
                raise OfferGone(offer_gone_message(current["status"] if current else ""), current)
            await conn.execute("UPDATE waitlist_requests SET status = 'booked', appointment_id = $2 "
                               "WHERE id = $1 AND status = 'active'", offer["request_id"], booked["id"])
    return {"appointment": json.loads(booked["row"]), "offer": json.loads(accepted)}


async def expire_offers(pool: asyncpg.Pool) -> int:
    """Mark open offers past their time `expired` (each change goes out through the feed)."""
    return int(await pool.fetchval("SELECT clinic_waitlist_expire()"))


async def set_offer_minutes(pool: asyncpg.Pool, minutes: int) -> None:
    """Write the server's `waitlist_offer_minutes` where the database's offer trigger reads it."""
    await pool.execute("UPDATE clinic_settings SET waitlist_offer_minutes = $1 WHERE waitlist_offer_minutes <> $1",
                       minutes)


async def open_offers_for_patient(pool: asyncpg.Pool, patient_id: int) -> list[dict[str, Any]]:
    """The patient's open offers, soonest first, each with its type and dentist names."""
    rows = await pool.fetch(
        "SELECT clinic_wire_waitlist_offer(o)::text AS row, t.name AS type_name, d.name AS dentist_name, "
        "(SELECT timezone FROM clinic_settings) AS timezone "
        "FROM waitlist_offers o JOIN appointment_types t ON t.id = o.type_id JOIN dentists d ON d.id = o.dentist_id "
        "WHERE o.patient_id = $1 AND o.status = 'open' AND o.expires_at > now() ORDER BY o.start_at", patient_id)
    return [{**json.loads(r["row"]), "type_name": r["type_name"], "dentist_name": r["dentist_name"],
             "timezone": r["timezone"]} for r in rows]


def offers_note(offers: list[dict[str, Any]]) -> str:
    """What the assistant adds to its reply while a patient has open waitlist offers ("" for none). Pure."""
    if not offers:
        return ""
    lines = [describe_offer(o, zone=ZoneInfo(o["timezone"]), type_name=o["type_name"], dentist_name=o["dentist_name"])
             for o in offers]
    head = "Good news from the waitlist: an earlier time is free for you" if len(lines) == 1 else \
        "Good news from the waitlist: earlier times are free for you"
    return f"{head}: " + "; ".join(lines) + ". Accept it in the offer banner at the top of your screen."


async def expiry_loop(pool_factory: Any, every_seconds: float) -> None:
    """Every few seconds, expire lapsed offers (any instance may; the statement is idempotent)."""
    while True:
        await asyncio.sleep(every_seconds)
        try:
            count = await expire_offers(await pool_factory())
            if count:
                log.info("expired %d waitlist offer(s)", count)
        except Exception as exc:  # the database may be restarting: try again next time
            log.warning("expiring waitlist offers failed: %s", type(exc).__name__)
