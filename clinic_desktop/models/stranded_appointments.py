"""Which of the user's upcoming appointments lie outside their dentist's working time, kept live from the store.

A day off or shortened hours saved over booked appointments leaves them "stranded": they need
rebooking. The rule is the server's own (`server.booking.stranded_ids`, pure), applied to the
store's appointments, working hours and exceptions, so the flag clears the moment an appointment
is moved into working time or cancelled, on every screen, with no extra message from the server.
No Qt: views and models listen to it.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from datetime import datetime, time
from typing import Any

from server.booking import NEEDS_TIME, BusyInterval, ClinicSettings, ScheduleException, WorkingPeriod, stranded_ids

from ..clinic_clock import ClinicClock, parse_instant
from ..store import Change, EntityStore

__all__ = ["StrandedAppointments"]

StrandedListener = Callable[[set[int], Change], None]
_HOURS_KINDS = ("working_hours", "schedule_exception", "settings")

_shared: weakref.WeakKeyDictionary[EntityStore, StrandedAppointments] = weakref.WeakKeyDictionary()


def _wall(text: str) -> time:
    """A wire "HH:MM" as a time; "24:00" (the end of the day) is midnight, as WorkingPeriod means it."""
    hours, minutes = (int(part) for part in text.split(":")[:2])
    return time(0) if hours >= 24 else time(hours, minutes)


class StrandedAppointments:
    """The ids of stranded appointments, recomputed per appointment on its change and wholly on an hours change."""

    @classmethod
    def of(cls, store: EntityStore, clock: ClinicClock) -> StrandedAppointments:
        """The one tracker of this store, shared by the calendar, the lists and the tables."""
        tracker = _shared.get(store)
        if tracker is None:
            tracker = _shared[store] = cls(store, clock)
        return tracker

    def __init__(self, store: EntityStore, clock: ClinicClock) -> None:
        self._store = store
        self._clock = clock
        self._ids: set[int] = set()
        self._listeners: list[StrandedListener] = []
        # Built from the store on first use after an hours change: the rules' value types.
        self._rules: tuple[ClinicSettings, list[WorkingPeriod], list[ScheduleException]] | None = None
        self._recompute_all()
        store.add_listener(self._on_store_changed)

    # -- reading -----------------------------------------------------------------------------

    def ids(self) -> set[int]:
        return set(self._ids)

    def __contains__(self, appointment_id: object) -> bool:
        return appointment_id in self._ids

    def rows(self) -> list[dict[str, Any]]:
        """The stranded appointments in start order (what the "Needs rebooking" list shows)."""
        rows = (self._store.get("appointment", i) for i in self._ids)
        return sorted((row for row in rows if row is not None), key=lambda row: parse_instant(row["start"]))

    def add_listener(self, listener: StrandedListener) -> None:
        """`listener(changed_ids, cause)` after appointments join or leave the set because of the store change `cause`.

        The tracker listens to the store from before any view that asks for it, so when the cause is
        the appointment itself, a listener's own store listener still runs after and may rely on that.
        """
        self._listeners.append(listener)

    def remove_listener(self, listener: StrandedListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    # -- computing ---------------------------------------------------------------------------

    def _rules_now(self) -> tuple[ClinicSettings, list[WorkingPeriod], list[ScheduleException]]:
        if self._rules is None:
            zone = self._store.settings().get("timezone") or self._clock.zone.key
            hours = []
            for row in self._store.rows("working_hours"):
                try:
                    hours.append(WorkingPeriod(dentist_id=row["dentist_id"], weekday=row["weekday"],
                                               start=_wall(row["start"]), end=_wall(row["end"])))
                except (KeyError, ValueError):
                    continue  # a malformed row cannot make anyone's time working time
            exceptions = []
            for row in self._store.rows("schedule_exception"):
                try:
                    exceptions.append(ScheduleException(dentist_id=row.get("dentist_id"), start=parse_instant(row["start"]),
                                                        end=parse_instant(row["end"]), kind=row["kind"]))
                except (KeyError, ValueError):
                    continue
            self._rules = (ClinicSettings(timezone=zone), hours, exceptions)
        return self._rules

    def _candidates(self, rows: Iterable[dict[str, Any]], now: datetime) -> list[BusyInterval]:
        """Upcoming appointments the user sees in full that still wait for their time."""
        out = []
        for row in rows:
            if row.get("busy") or row.get("status") not in NEEDS_TIME or row.get("override"):
                continue  # booked outside the hours on purpose (a staff override): not stranded
            start, end = parse_instant(row["start"]), parse_instant(row["end"])
            if end > now and end >= start:
                out.append(BusyInterval(start=start, end=end, dentist_id=row.get("dentist_id"), appointment_id=row["id"]))
        return out

    def _stranded(self, rows: Iterable[dict[str, Any]]) -> set[int]:
        candidates = self._candidates(rows, self._clock.now())
        if not candidates:
            return set()
        settings, hours, exceptions = self._rules_now()
        return set(stranded_ids(settings, candidates, hours, exceptions))

    def _recompute_all(self, cause: Change | None = None) -> None:
        self._rules = None
        new = self._stranded(self._store.rows("appointment"))
        changed = new ^ self._ids
        self._ids = new
        if cause is not None and changed:
            self._notify(changed, cause)

    def _on_store_changed(self, change: Change) -> None:
        if change.kind == "appointment":
            if change.op == "reset":
                self._recompute_all(change)
                return
            assert change.row is not None
            appointment_id = change.row["id"]
            was = appointment_id in self._ids
            now = change.op != "remove" and bool(self._stranded([change.row]))
            if now != was:
                (self._ids.add if now else self._ids.discard)(appointment_id)
                self._notify({appointment_id}, change)
        elif change.kind in _HOURS_KINDS:
            self._recompute_all(change)

    def _notify(self, changed: set[int], cause: Change) -> None:
        for listener in list(self._listeners):
            listener(changed, cause)
