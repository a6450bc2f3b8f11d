"""The appointment status state machine and who may move an appointment along it."""

from __future__ import annotations

from datetime import datetime

from server.protocol import OCCUPYING_STATUSES, STATUSES, Reason

from ._common import require_role
from .errors import BookingError

__all__ = ["FINAL", "OCCUPYING", "TRANSITIONS", "check_transition"]

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


def check_transition(old: str, new: str, *, role: str, start: datetime, now: datetime) -> None:
    """Raise BookingError unless `role` may change an appointment's status from `old` to `new`."""
    require_role(role)
    for status in (old, new):
        if status not in _LABELS:
            message = f"{status!r} is not an appointment status."
            raise BookingError(Reason.INVALID_PARAMS, message, {"status": message})
    if old == new:
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
