"""Is a dragged appointment's target free? The proposal a drag draws, judged from the local store.

Pure (no Qt): the same rules the server applies before its exclusion constraints, worded for the
outline under the pointer. The server still decides; this only tells the receptionist, while
dragging, whether the drop will be refused and why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from server.booking import (
    ClinicSettings,
    ScheduleException,
    WorkingPeriod,
    working_intervals,
)

from ..clinic_clock import ClinicClock, parse_instant
from ..store import EntityStore

__all__ = ["MOVABLE", "Proposal", "Verdict", "changes_for", "check_drop"]

MOVABLE = frozenset({"scheduled", "confirmed"})  # what the server lets a move or resize change
OCCUPYING = frozenset({"scheduled", "confirmed", "checked_in", "in_chair", "completed"})


@dataclass(frozen=True, slots=True)
class Proposal:
    """Where the appointment would go: its new start and end, dentist and chair."""

    appointment_id: int
    start: datetime
    end: datetime
    dentist_id: int
    chair_id: int | None


@dataclass(frozen=True, slots=True)
class Verdict:
    """Free or not, with a short reason for the outline (and a note, e.g. over a blockout)."""

    free: bool
    reason: str
    note: str = ""


def _wall(text: str) -> time:
    hours, minutes = (int(part) for part in text.split(":")[:2])
    return time(0) if hours >= 24 else time(hours, minutes)


def _working(store: EntityStore, clock: ClinicClock, dentist_id: int, start: datetime) -> list[tuple[datetime, datetime]]:
    hours = []
    for row in store.rows("working_hours"):
        if row.get("dentist_id") != dentist_id:
            continue
        try:
            hours.append(WorkingPeriod(dentist_id=dentist_id, weekday=row["weekday"], start=_wall(row["start"]),
                                       end=_wall(row["end"])))
        except (KeyError, ValueError):
            continue
    exceptions = []
    for row in store.rows("schedule_exception"):
        if row.get("dentist_id") not in (None, dentist_id):
            continue
        try:
            exceptions.append(ScheduleException(dentist_id=row.get("dentist_id"), start=parse_instant(row["start"]),
                                                end=parse_instant(row["end"]), kind=row["kind"]))
        except (KeyError, ValueError):
            continue
    settings = ClinicSettings(timezone=store.settings().get("timezone") or clock.zone.key)
    return working_intervals(settings, dentist_id, clock.local_date(start), hours, exceptions)


def _name(store: EntityStore, kind: str, entity_id: Any, fallback: str) -> str:
    return str((store.get(kind, entity_id) or {}).get("name") or fallback)


def check_drop(store: EntityStore, clock: ClinicClock, row: dict[str, Any], proposal: Proposal, *,
               others: Iterable[dict[str, Any]], now: datetime) -> Verdict:
    """Judge `proposal` for appointment `row` against `others` (the appointments on the target day)."""
    if row.get("status") not in MOVABLE:
        return Verdict(False, "Only a scheduled or confirmed appointment can be moved.")
    if proposal.end <= proposal.start:
        return Verdict(False, "An appointment needs at least one slot.")
    if proposal.start < now:
        return Verdict(False, f"{clock.format_when(proposal.start)} has already passed.")
    if clock.local_date(proposal.start) != clock.local_date(proposal.end - timedelta(microseconds=1)):
        return Verdict(False, "An appointment cannot run past midnight.")
    dentist = _name(store, "dentist", proposal.dentist_id, "The dentist")
    chair = _name(store, "chair", proposal.chair_id, "That chair")
    patient_id = row.get("patient_id")
    span = f"{clock.format_time(proposal.start)}–{clock.format_time(proposal.end)}"
    for other in others:
        if other["id"] == row["id"] or other.get("status") not in OCCUPYING:
            continue
        start, end = parse_instant(other["start"]), parse_instant(other["end"])
        if not (start < proposal.end and proposal.start < end):
            continue
        when = f"{clock.format_time(start)}–{clock.format_time(end)}"
        if other.get("dentist_id") == proposal.dentist_id:
            return Verdict(False, f"{dentist} is busy {when}.")
        if proposal.chair_id is not None and other.get("chair_id") == proposal.chair_id:
            return Verdict(False, f"{chair} is taken {when}.")
        if patient_id is not None and other.get("patient_id") == patient_id:
            who = row.get("patient_name") or "The patient"
            return Verdict(False, f"{who} has another appointment {when}.")
    if not any(lo <= proposal.start and proposal.end <= hi for lo, hi in _working(store, clock, proposal.dentist_id,
                                                                                  proposal.start)):
        return Verdict(False, f"Outside {dentist}'s working hours.")
    note = ""
    for blockout in store.rows("blockout"):
        if blockout.get("dentist_id") not in (None, proposal.dentist_id) or (
                blockout.get("chair_id") is not None and blockout.get("chair_id") != proposal.chair_id):
            continue
        if parse_instant(blockout["start"]) < proposal.end and proposal.start < parse_instant(blockout["end"]):
            kind = _name(store, "blockout_type", blockout.get("type_id"), "Blockout")
            note = f"Over a blockout: {kind}"
            break
    where = dentist if proposal.chair_id is None else f"{dentist}, {chair}"
    return Verdict(True, f"Free: {span}, {where}", note)


def changes_for(row: dict[str, Any], proposal: Proposal) -> dict[str, Any]:
    """The `appointments.update` fields that differ between `row` and `proposal` (empty: nothing moved)."""
    changes: dict[str, Any] = {}
    start, end = parse_instant(row["start"]), parse_instant(row["end"])
    if proposal.start != start:
        changes["start"] = ClinicClock.to_wire(proposal.start)
    if proposal.dentist_id != row.get("dentist_id"):
        changes["dentist_id"] = proposal.dentist_id
    if proposal.chair_id is not None and proposal.chair_id != row.get("chair_id"):
        changes["chair_id"] = proposal.chair_id
    if proposal.end - proposal.start != end - start:
        changes["duration_minutes"] = int((proposal.end - proposal.start).total_seconds() // 60)
    return changes
