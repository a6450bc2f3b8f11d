"""The appointment status state machine and who may move an appointment along it."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from server.protocol import OCCUPYING_STATUSES, STATUSES, Reason

from ._common import require_role
from .errors import BookingError

__all__ = ["FINAL", "OCCUPYING", "TRANSITIONS", "UNDO", "check_transition", "next_statuses", "undo_statuses"]

# Statuses that hold the dentist, patient and chair (the database's exclusion constraints agree).
OCCUPYING: frozenset[str] = OCCUPYING_STATUSES

# Allowed moves; any status not listed as a key is final.
TRANSITIONS: dict[str, frozenset[str]] = {
    "scheduled": frozenset({"confirmed", "checked_in", "cancelled", "no_show"}),
    "confirmed": frozenset({"checked_in", "cancelled", "no_show"}),
    "checked_in": frozenset({"in_chair", "no_show", "cancelled"}),
    "in_chair": frozenset({"completed"}),
}
FINAL = frozenset(STATUSES) - TRANSITIONS.keys()

# A mistaken check-in, seating, completion or no-show taken back: staff only, on the appointment's own
# (clinic-local) day, and audited like every change (the appointment_history trigger records it).
UNDO: dict[str, frozenset[str]] = {
    "checked_in": frozenset({"scheduled", "confirmed"}),
    "in_chair": frozenset({"checked_in"}),
    "completed": frozenset({"in_chair"}),
    "no_show": frozenset({"scheduled", "confirmed"}),
}

# Patients manage their own bookings from home: they may confirm or cancel, nothing more.
_PATIENT_MAY = frozenset({("scheduled", "confirmed")}) | {
    (old, "cancelled") for old, targets in TRANSITIONS.items() if "cancelled" in targets
}

_LABELS = {
    "scheduled": "scheduled",
    "confirmed": "confirmed",
    "checked_in": "checked in",
    "in_chair": "in the chair",
    "completed": "completed",
    "cancelled": "cancelled",
    "no_show": "a no-show",
}


def check_transition(old: str, new: str, *, role: str, start: datetime, now: datetime, zone: tzinfo = UTC) -> None:
    """Raise BookingError unless `role` may change an appointment's status from `old` to `new`.

    `zone` is the clinic's time zone: an undo is allowed only on the appointment's local day.
    """
    require_role(role)
    for status in (old, new):
        if status not in _LABELS:
            message = f"{status!r} is not an appointment status."
            raise BookingError(Reason.INVALID_PARAMS, message, {"status": message})
    if old == new:
        return
    if new in UNDO.get(old, frozenset()):
        if role == "patient":
            raise BookingError(Reason.FORBIDDEN, "Only the clinic can undo a status change.")
        if now.astimezone(zone).date() != start.astimezone(zone).date():
            raise BookingError(
                Reason.INVALID_TRANSITION,
                f"The appointment is {_LABELS[old]}; a status change can only be undone on the day of the appointment.",
            )
        return
    if new not in TRANSITIONS.get(old, frozenset()):
        if old in FINAL:
            message = f"The appointment is already {_LABELS[old]} and can't be changed."
        else:
            message = f"An appointment that is {_LABELS[old]} can't be marked {_LABELS[new]}."
        raise BookingError(Reason.INVALID_TRANSITION, message)
    if role == "patient" and (old, new) not in _PATIENT_MAY:
        raise BookingError(
            Reason.FORBIDDEN, "Patients can only confirm or cancel their appointments."
        )
    if new == "no_show" and now < start:
        raise BookingError(
            Reason.INVALID_TRANSITION,
            "An appointment can't be marked a no-show before it starts.",
        )


def _allowed(old: str, targets: frozenset[str], role: str, start: datetime, now: datetime, zone: tzinfo) -> list[str]:
    out = []
    for new in STATUSES:
        if new in targets:
            try:
                check_transition(old, new, role=role, start=start, now=now, zone=zone)
            except BookingError:
                continue
            out.append(new)
    return out


def next_statuses(old: str, *, role: str, start: datetime, now: datetime, zone: tzinfo = UTC) -> list[str]:
    """The statuses `role` may move an appointment on to right now, in workflow order (menus offer these)."""
    return _allowed(old, TRANSITIONS.get(old, frozenset()), role, start, now, zone)


def undo_statuses(old: str, *, role: str, start: datetime, now: datetime, zone: tzinfo = UTC) -> list[str]:
    """The statuses `role` may take an appointment back to right now (an undo), in workflow order."""
    return _allowed(old, UNDO.get(old, frozenset()), role, start, now, zone)
