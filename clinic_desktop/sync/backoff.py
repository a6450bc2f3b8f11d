"""Jittered exponential backoff between reconnect attempts."""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Delays drawn uniformly from [ceiling / 2, ceiling] (never below `floor`), where the ceiling is
    min(maximum, initial * factor**n); `reset()` after a success.

    "Equal jitter": the random half spreads the clinic's desktops that lost the same server over the
    window instead of having them knock at the same instant, and the fixed half keeps any one of them
    from trying more often than the schedule (the fault suite counts attempts against it). The
    ceiling is low because the server is on the clinic's LAN: once it answers again, every app is
    back within `maximum` seconds (plus the connect itself).
    """

    def __init__(
        self,
        initial: float = 0.5,
        factor: float = 1.8,
        maximum: float = 3.0,
        rng: random.Random | None = None,
        floor: float = 0.05,
    ) -> None:
        self.initial = initial
        self.factor = factor
        self.maximum = maximum
        # A small floor so a flapping server is not hammered in a tight loop.
        self.floor = floor
        self._rng = rng or random.Random()
        self.attempts = 0  # failures since the last success

    def ceiling(self) -> float:
        """The longest the next delay can be."""
        # The exponent stops growing once past the cap: a night-long outage must not overflow the float.
        grown = self.initial
        for _ in range(self.attempts):
            if grown >= self.maximum:
                break
            grown *= self.factor
        return max(self.floor, min(self.maximum, grown))

    def next_delay(self) -> float:
        ceiling = self.ceiling()
        self.attempts += 1
        return self._rng.uniform(max(self.floor, ceiling / 2), ceiling)

    def reset(self) -> None:
        self.attempts = 0
