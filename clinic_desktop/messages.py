"""Server error reasons translated into words a receptionist (or a patient) understands."""

from __future__ import annotations

from datetime import date
from typing import Any

from server.protocol import ErrorCode, Reason, RpcError

__all__ = ["STATUS_LABELS", "describe_error", "format_birth_date", "patient_details"]

_REASON_TEXT: dict[str, str] = {
    Reason.UNAUTHENTICATED: "Your session has ended. Please sign in again.",
    Reason.FORBIDDEN: "You are not allowed to do that.",
    Reason.NOT_FOUND: "That item no longer exists. It may have been removed by someone else.",
    Reason.INVALID_PARAMS: "Some details are missing or not valid.",
    Reason.SLOT_UNAVAILABLE: "That time has just been taken. Please pick another slot.",
    Reason.OUTSIDE_WORKING_HOURS: "That time is outside the dentist's working hours.",
    Reason.TOO_SOON: "That is too soon to book online. Please pick a later time or call the clinic.",
    Reason.TOO_FAR: "That is too far ahead to book yet. Please pick an earlier date.",
    Reason.VERSION_CONFLICT: "Someone else changed this appointment a moment ago. Please check it and try again.",
    Reason.INVALID_TRANSITION: "The appointment cannot change to that status from where it is now.",
    Reason.RATE_LIMITED: "Too many changes in a short time. Please wait a moment and try again.",
    Reason.TOO_MANY_BOOKINGS: "You already hold the most upcoming appointments you can book yourself. "
                              "Please cancel one first, or call the clinic.",
    Reason.POSSIBLE_DUPLICATE: "This may be a patient who is already registered.",
    Reason.INTERNAL: "Something went wrong on the server. Please try again.",
}

# Reasons whose server message names the precise cause in plain words ("An appointment can't be
# marked a no-show before it starts.", "Appointments starting within 24 hours can't be changed
# online; ..."): shown as sent, since the generic sentence above would hide what to do about it.
_SERVER_WORDS = frozenset({
    Reason.FORBIDDEN, Reason.NOT_FOUND, Reason.SLOT_UNAVAILABLE, Reason.OUTSIDE_WORKING_HOURS, Reason.TOO_SOON,
    Reason.TOO_FAR, Reason.INVALID_TRANSITION, Reason.TOO_MANY_BOOKINGS,
})

# The booking rules speak of "the patient" to everyone; a patient reading about themself hears "you".
_PATIENT_WORDS = (
    ("The patient already has an appointment", "You already have an appointment"),
)

STATUS_LABELS: dict[str, str] = {
    "scheduled": "Scheduled",
    "confirmed": "Confirmed",
    "checked_in": "Checked in",
    "in_chair": "In chair",
    "completed": "Completed",
    "cancelled": "Cancelled",
    "no_show": "No-show",
    "busy": "Busy",
}


def describe_error(error: BaseException, *, role: str | None = None) -> str:
    """One sentence for any failure of an operation, never a stack trace or an internal code.

    The server's own sentence is used where it names the precise cause; `role` "patient" words it
    for the person it is about.
    """
    if isinstance(error, RpcError):
        if error.reason is not None:
            if error.reason in _SERVER_WORDS and error.message.strip():
                text = error.message.strip()
                if role == "patient":
                    for staff, patient in _PATIENT_WORDS:
                        text = text.replace(staff, patient)
                return text
            text = _REASON_TEXT.get(error.reason, error.message)
            if error.reason == Reason.INVALID_PARAMS:
                fields = error.extra.get("fields") or {}
                if fields:
                    details = "; ".join(f"{name}: {message}" for name, message in fields.items())
                    text = f"{text} ({details})"
            if error.reason == Reason.RATE_LIMITED and error.extra.get("retry_after"):
                text = f"Too many changes in a short time. Please try again in {int(error.extra['retry_after'])} s."
            return text
        if error.code == ErrorCode.METHOD_NOT_FOUND:
            return "This feature is not available on this clinic server."
        return "The server did not understand the request. Please try again."
    if isinstance(error, (ConnectionError, OSError)):
        return "The connection to the clinic server was lost. Nothing was saved; please try again when online."
    if isinstance(error, TimeoutError):
        return "The clinic server did not answer in time. Please check whether the change was saved."
    return "Something went wrong. Please try again."


def format_birth_date(value: str | None) -> str:
    """"4 Mar 1980" for the wire's ISO date, "" when unknown: the same spelling in every patient picker."""
    if not value:
        return ""
    try:
        born = date.fromisoformat(value)
    except ValueError:
        return value
    return f"{born.day} {born:%b %Y}"


def patient_details(patient: dict[str, Any]) -> str:
    """"born 4 Mar 1980 · 07700 900123 · dana@example.org": what tells two namesakes apart at a glance."""
    born = format_birth_date(patient.get("date_of_birth"))
    parts = [f"born {born}" if born else "birth date unknown", patient.get("phone"), patient.get("email")]
    return " · ".join(str(part) for part in parts if part)
