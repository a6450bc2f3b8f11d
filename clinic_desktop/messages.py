"""Server error reasons translated into words a receptionist (or a patient) understands."""

from __future__ import annotations

from server.protocol import ErrorCode, Reason, RpcError

__all__ = ["describe_error", "STATUS_LABELS", "NEXT_STATUSES"]

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
    Reason.INTERNAL: "Something went wrong on the server. Please try again.",
}

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

# Which status buttons make sense from each status (a hint for enabling controls; the server decides).
NEXT_STATUSES: dict[str, frozenset[str]] = {
    "scheduled": frozenset({"confirmed", "checked_in", "cancelled", "no_show"}),
    "confirmed": frozenset({"checked_in", "cancelled", "no_show"}),
    "checked_in": frozenset({"in_chair", "no_show", "cancelled"}),
    "in_chair": frozenset({"completed"}),
}


def describe_error(error: BaseException) -> str:
    """One sentence for any failure of an operation, never a stack trace or an internal code."""
    if isinstance(error, RpcError):
        if error.reason is not None:
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
