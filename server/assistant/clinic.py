"""The clinic as the logged-in user sees it, reached only through RPC calls (never the database).

Every read and write goes through the `call` the server hands in, which re-enters its own
dispatcher for the same session, so ownership, working hours, notice and rate limits all apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Awaitable, Callable
from zoneinfo import ZoneInfo

from server.protocol import OCCUPYING_STATUSES, Reason, RpcError

from .conversation import Slot
from .parsing import WEEKDAYS, When

__all__ = ["Call", "Directory", "Clinic", "fmt_when", "fmt_day", "fmt_asked"]

Call = Callable[[str, dict[str, Any]], Awaitable[Any]]

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_SEARCH_CHUNK_DAYS = 14


def fmt_day(d: date, today: date | None = None) -> str:
    """'Tuesday 1 December' (or 'today' / 'tomorrow' next to it)."""
    text = f"{WEEKDAYS[d.weekday()].capitalize()} {d.day} {_MONTHS[d.month - 1]}"
    if today is not None and d == today:
        return f"{text} (today)"
    if today is not None and d == today + timedelta(days=1):
        return f"{text} (tomorrow)"
    return text


def fmt_when(local: datetime, today: date | None = None) -> str:
    """'Tuesday 1 December at 14:00'."""
    return f"{fmt_day(local.date(), today)} at {local:%H:%M}"


_TIME_PART_WORDS = {"morning", "afternoon", "evening", "lunchtime", "lunch time", "late afternoon", "early morning"}


def fmt_asked(when: When | None) -> str:
    """What the user asked for, as a phrase to slot into a sentence: "on Monday 30 November in the morning"."""
    if when is None:
        return ""
    parts = []
    for word in when.words:
        if word in _TIME_PART_WORDS:
            parts.append(f"in the {word}")
        elif word[:1].isupper() and word.split()[0].lower() in WEEKDAYS:
            parts.append(f"on {word}")
        elif word.startswith(("the week of", "the day after")):
            parts.append(f"in {word}" if word.startswith("the week") else word)
        elif word[:1].isupper():
            parts.append(f"in {word}")
        else:
            parts.append(word)
    return " ".join(parts)


@dataclass(frozen=True)
class Directory:
    """Dentists, appointment types and clinic settings from `directory.get`."""

    tz: ZoneInfo
    slot_minutes: int
    min_notice_minutes: int
    max_advance_days: int
    late_cancel_hours: int
    dentists: list[dict[str, Any]]
    types: list[dict[str, Any]]

    @classmethod
    def from_rpc(cls, result: dict[str, Any]) -> Directory:
        settings = result.get("settings") or {}
        return cls(
            tz=ZoneInfo(settings.get("timezone") or "Europe/London"),
            slot_minutes=int(settings.get("slot_minutes") or 15),
            min_notice_minutes=int(settings.get("min_notice_minutes") or 0),
            max_advance_days=int(settings.get("max_advance_days") or 90),
            late_cancel_hours=int(settings.get("late_cancel_hours") or 0),
            dentists=[d for d in result.get("dentists", []) if d.get("active", True)],
            types=list(result.get("appointment_types", [])),
        )

    def dentist_name(self, dentist_id: int | None) -> str:
        for d in self.dentists:
            if d["id"] == dentist_id:
                return str(d["name"])
        return "the dentist"

    def type_by_id(self, type_id: int | None) -> dict[str, Any] | None:
        return next((t for t in self.types if t["id"] == type_id), None)

    def type_name(self, type_id: int | None) -> str:
        t = self.type_by_id(type_id)
        return str(t["name"]) if t else "appointment"


class Clinic:
    """One turn's view of the clinic for one user: directory, slots, appointments, writes."""

    def __init__(self, call: Call, user: dict[str, Any], now: datetime, patient_id: int | None) -> None:
        self._call = call
        self.user = user
        self.now = now.astimezone(timezone.utc)  # aware; the clinic zone comes from the directory
        self.patient_id = patient_id  # whose appointments: the patient themself, or the one staff chose
        self._directory: Directory | None = None

    @property
    def is_patient(self) -> bool:
        return self.user.get("role") == "patient"

    async def directory(self) -> Directory:
        if self._directory is None:
            self._directory = Directory.from_rpc(await self._call("directory.get", {}))
        return self._directory

    async def local_now(self) -> datetime:
        """Now as a naive wall-clock time in the clinic's zone (what "tomorrow" is relative to)."""
        tz = (await self.directory()).tz
        return self.now.astimezone(tz).replace(tzinfo=None)

    async def bookable_types(self) -> list[dict[str, Any]]:
        types = (await self.directory()).types
        return [t for t in types if t.get("patient_bookable", True)] if self.is_patient else types

    # ------------------------------------------------------------------ slots

    async def _slots_between(self, type_id: int, dentist_id: int | None, first: date, last: date) -> list[Slot]:
        params: dict[str, Any] = {"type_id": type_id, "from": first.isoformat(), "to": last.isoformat()}
        if dentist_id is not None:
            params["dentist_id"] = dentist_id
        if not self.is_patient and self.patient_id is not None:
            params["patient_id"] = self.patient_id
        try:
            rows = await self._call("slots.find", params)
        except RpcError as exc:
            if exc.reason in (Reason.TOO_FAR, Reason.TOO_SOON, Reason.OUTSIDE_WORKING_HOURS):
                return []
            raise
        return [Slot(int(r["dentist_id"]), str(r["start"]), str(r["end"]), type_id) for r in rows]

    async def find_slots(
        self,
        type_id: int,
        dentist_id: int | None,
        when: When | None,
        *,
        earliest: bool = False,
        exclude_start: str | None = None,
    ) -> list[Slot]:
        """Real free slots fitting `when`, soonest first; the window is searched in chunks."""
        directory = await self.directory()
        local_now = await self.local_now()
        today = local_now.date()
        horizon = today + timedelta(days=directory.max_advance_days)
        window = when or When()
        first = max(window.start or today, today)
        last = min(window.end or horizon, horizon)
        notice = timedelta(minutes=directory.min_notice_minutes if self.is_patient else 0)
        found: list[Slot] = []
        chunk_start = first
        while chunk_start <= last:
            chunk_end = min(chunk_start + timedelta(days=_SEARCH_CHUNK_DAYS - 1), last)
            for slot in await self._slots_between(type_id, dentist_id, chunk_start, chunk_end):
                start = datetime.fromisoformat(slot.start)
                if start < self.now + notice or slot.start == exclude_start:
                    continue
                if window.accepts(slot.local_start(directory.tz)):
                    found.append(slot)
            if found and (earliest or window.start is None or len(found) >= 20):
                break
            chunk_start = chunk_end + timedelta(days=1)
        found.sort(key=lambda s: (datetime.fromisoformat(s.start), s.dentist_id))
        return found

    # ------------------------------------------------------------------ appointments

    async def my_appointments(self) -> list[dict[str, Any]]:
        """The upcoming appointments of the patient served (or a dentist's own), soonest first."""
        directory = await self.directory()
        local_now = await self.local_now()
        params: dict[str, Any] = {
            "from": local_now.date().isoformat(),
            "to": (local_now.date() + timedelta(days=max(directory.max_advance_days, 365))).isoformat(),
        }
        role = self.user.get("role")
        if role != "patient" and self.patient_id is not None:
            params["patient_id"] = self.patient_id
        elif role == "dentist":
            params["dentist_id"] = self.user.get("dentist_id")
        try:
            rows = await self._call("appointments.list", params)
        except RpcError as exc:
            if exc.reason != Reason.INVALID_PARAMS:
                raise
            params["to"] = (local_now.date() + timedelta(days=directory.max_advance_days)).isoformat()
            rows = await self._call("appointments.list", params)
        mine = []
        for row in rows:
            if row.get("busy") or row.get("status") not in OCCUPYING_STATUSES or row.get("status") == "completed":
                continue
            if self.patient_id is not None and row.get("patient_id") != self.patient_id:
                continue
            if self.patient_id is None and row.get("dentist_id") != self.user.get("dentist_id"):
                continue
            if datetime.fromisoformat(row["end"]) <= self.now:
                continue
            mine.append(row)
        mine.sort(key=lambda r: datetime.fromisoformat(r["start"]))
        return mine

    async def book(self, slot: Slot, idempotency_key: str) -> dict[str, Any]:
        params: dict[str, Any] = {
            "dentist_id": slot.dentist_id,
            "type_id": slot.type_id,
            "start": slot.start,
            "idempotency_key": idempotency_key,
        }
        if not self.is_patient:
            params["patient_id"] = self.patient_id
        result: dict[str, Any] = await self._call("appointments.create", params)
        return result

    async def move(self, appointment: dict[str, Any], slot: Slot) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "appointments.update",
            {"id": appointment["id"], "version": appointment["version"], "start": slot.start,
             "dentist_id": slot.dentist_id},
        )
        return result

    async def cancel(self, appointment: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "appointments.cancel", {"id": appointment["id"], "reason": "Cancelled through the booking assistant"}
        )
        return result

    async def search_patients(self, query: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await self._call("patients.search", {"query": query, "limit": 5})
        return rows
