"""The status changes a menu may offer for one appointment: exactly what the server's state machine allows now.

The server's rules (`server.booking.next_statuses` / `undo_statuses`, pure) decide, so a menu never
offers a change the server would refuse (in chair before arriving, a no-show before the start) and
offers the same-day undo of a mistaken check-in, seating, completion or no-show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.booking import next_statuses, undo_statuses

from ..clinic_clock import ClinicClock, parse_instant

__all__ = ["StatusChoices", "status_choices"]


@dataclass(frozen=True, slots=True)
class StatusChoices:
    """`forward`: the next steps (cancelling has its own dialog, so it is left out); `undo`: the way back."""

    forward: tuple[str, ...] = ()
    undo: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.forward or self.undo)


def status_choices(row: dict[str, Any] | None, role: str, clock: ClinicClock) -> StatusChoices:
    """What `role` may set on `row` right now (nothing for a busy block or a missing row)."""
    if row is None or row.get("busy") or not row.get("status"):
        return StatusChoices()
    rules = {"role": role, "start": parse_instant(row["start"]), "now": clock.now(), "zone": clock.zone}
    forward = tuple(s for s in next_statuses(row["status"], **rules) if s != "cancelled")
    return StatusChoices(forward, tuple(undo_statuses(row["status"], **rules)))
