"""Instants on the wire (ISO 8601, UTC) shown in the clinic's zone (the settings entity `timezone`)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["ClinicClock", "parse_instant", "qdate_to_date"]


def qdate_to_date(qdate: object) -> date:
    """A QDate (or anything with year/month/day methods) as a date; typed, unlike QDate.toPython()."""
    return date(qdate.year(), qdate.month(), qdate.day())  # type: ignore[attr-defined]


@lru_cache(maxsize=65536)
def parse_instant(text: str) -> datetime:
    """Parse an ISO 8601 instant with offset (a trailing Z is accepted); cached, models ask often."""
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


class ClinicClock:
    """Converts between instants and the clinic's wall clock; the zone follows the settings row."""

    def __init__(self, zone_name: str = "Europe/London") -> None:
        self.zone = ZoneInfo("UTC")
        self.set_zone(zone_name)

    def set_zone(self, zone_name: str | None) -> None:
        try:
            self.zone = ZoneInfo(zone_name or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            self.zone = ZoneInfo("UTC")

    def now(self) -> datetime:
        return datetime.now(self.zone)

    def today(self) -> date:
        return self.now().date()

    def local(self, instant: str | datetime) -> datetime:
        value = parse_instant(instant) if isinstance(instant, str) else instant
        return value.astimezone(self.zone)

    def local_date(self, instant: str | datetime) -> date:
        return self.local(instant).date()

    def at(self, day: date, wall: time | str) -> datetime:
        """The instant of a wall-clock time on a date in the clinic's zone (DST-safe via zoneinfo)."""
        if isinstance(wall, str):
            hours, minutes = wall.split(":")[:2]
            wall = time(int(hours), int(minutes))
        return datetime.combine(day, wall, tzinfo=self.zone)

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        start = datetime.combine(day, time(0), tzinfo=self.zone)
        return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone)

    def format_time(self, instant: str | datetime) -> str:
        return self.local(instant).strftime("%H:%M")

    def format_day(self, day: date) -> str:
        return day.strftime("%a %d %b %Y")

    def format_when(self, instant: str | datetime) -> str:
        return self.local(instant).strftime("%a %d %b, %H:%M")

    @staticmethod
    def to_wire(value: datetime) -> str:
        return value.astimezone(timezone.utc).isoformat()
