"""The clinic-wide booking settings: time zone, slot grid and the patient booking windows."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["ClinicSettings"]


@dataclass(frozen=True, slots=True)
class ClinicSettings:
    """How the clinic books: every rule that is a number lives here, read from the settings row."""

    timezone: str = "Europe/London"
    slot_minutes: int = 15  # start times fall on this grid (local wall clock, counted from midnight)
    min_notice_minutes: int = 120  # patients only: the earliest start is now + this
    max_advance_days: int = 90  # patients only: the latest start is now + this
    late_cancel_hours: int = 24  # patients cannot cancel or move online within this window

    def __post_init__(self) -> None:
        """Reject settings that would make every later calculation meaningless."""
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc
        if self.slot_minutes <= 0:
            raise ValueError("slot_minutes must be positive")
        if self.min_notice_minutes < 0 or self.max_advance_days < 0 or self.late_cancel_hours < 0:
            raise ValueError("booking windows must not be negative")

    @property
    def zone(self) -> ZoneInfo:
        """The clinic's IANA zone (ZoneInfo caches instances, so this is cheap to call often)."""
        return ZoneInfo(self.timezone)
