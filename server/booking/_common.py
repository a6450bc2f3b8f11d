"""Small helpers shared by the booking modules: roles and human-readable times."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from server.protocol import Reason

from .errors import BookingError

ROLES = frozenset({"admin", "dentist", "patient"})


def require_role(role: str) -> None:
    """Fail closed on a role the rules do not know, rather than treating it as staff."""
    if role not in ROLES:
        raise BookingError(Reason.FORBIDDEN, "You are not allowed to do that.")


def require_aware(name: str, value: datetime) -> None:
    """Refuse a naive instant where an aware one is required: a programming error, not a user's."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def when(instant: datetime, zone: ZoneInfo) -> str:
    """An instant as the clinic says it, e.g. "09:30 on Monday 6 April 2026"."""
    local = instant.astimezone(zone)
    return f"{local:%H:%M} on {local:%A} {local.day} {local:%B %Y}"


def clock(instant: datetime, zone: ZoneInfo) -> str:
    """The local wall-clock time of an instant, e.g. "09:30"."""
    return f"{instant.astimezone(zone):%H:%M}"


def span(minutes: int) -> str:
    """A duration in the words a receptionist would use: "2 hours", "90 minutes", "1 hour"."""
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour" if hours == 1 else f"{hours} hours"
    return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"
