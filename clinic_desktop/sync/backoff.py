"""Jittered exponential backoff between reconnect attempts."""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Delays of initial * factor**n, capped, with full jitter; `reset()` after a success.

    Full jitter (a uniform draw below the cap) spreads a thousand clients that lost the same
    server over the whole window instead of having them knock at the same instant.
    """

    def __init__(
        self,
        initial: float = 0.5,
        factor: float = 1.8,
        maximum: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        self.initial = initial
        self.factor = factor
        self.maximum = maximum
        self._rng = rng or random.Random()
        self.attempts = 0  # failures since the last success

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * self.factor**self.attempts)
        self.attempts += 1
        # Keep a small floor so a flapping server is not hammered in a tight loop.
        return max(0.05, self._rng.uniform(ceiling / 2, ceiling))

    def reset(self) -> None:
        self.attempts = 0
