"""The relay's pacing under load: after a fan-out it waits as long as that fan-out took (times
`fanout_pause_ratio`), so changes arriving meanwhile share one write per client."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from server import relay as relay_module
from server.relay import ChangeRow, Relay


class SteppingClock:
    """monotonic() for the relay: each reading returns the next of `readings` (then the last again)."""

    def __init__(self, *readings: float) -> None:
        self.readings = list(readings)

    def __call__(self) -> float:
        return self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]


def _row(seq: int) -> ChangeRow:
    return ChangeRow(seq, "appointment", "update", seq, {"id": seq, "status": "scheduled"},
                     datetime.now(timezone.utc))


@pytest.mark.parametrize(("took", "ratio", "interval", "expected"), [
    (0.008, 1.0, 0.0, 100.016),    # an 8 ms fan-out is followed by 8 ms without one
    (0.008, 0.5, 0.0, 100.012),
    (0.008, 0.0, 0.0, 100.008),    # no pause: the next may start as soon as this one ends
    (0.008, 1.0, 0.020, 100.020),  # the least spacing from start to start wins when it is the longer
    (0.080, 1.0, 0.0, 100.090),    # an 80 ms fan-out (10,000 clients) pauses only the 10 ms cap
])
def test_the_next_fan_out_waits_for_the_pause_its_predecessor_earned(monkeypatch, took, ratio, interval,
                                                                     expected) -> None:
    relay = Relay("postgresql://unused", fanout_interval=interval, fanout_pause_ratio=ratio, fanout_pause_max=0.010)
    monkeypatch.setattr(relay_module.time, "monotonic", SteppingClock(100.0, 100.0 + took))
    relay._fan_out([_row(1), _row(2)])
    assert relay.position == 2
    assert relay._next_fanout == pytest.approx(expected)

