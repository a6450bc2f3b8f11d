"""The rates scenario's summary: the highest rate each system held within the p99 bound, nothing lost."""

from __future__ import annotations

from server.bench.runner import rates_held


def _step(system: str, rate: int, p99: float, lost: int = 0, achieved: int | None = None) -> dict:
    return {"system": system, "offered_per_min": rate, "rate_per_min": rate if achieved is None else achieved,
            "p99_ms": p99, "lost_total": lost}


def test_the_highest_rate_held_stops_at_the_first_step_that_broke_the_bound() -> None:
    steps = [_step("ours", 10_000, 40.0), _step("ours", 5_000, 20.0), _step("ours", 20_000, 140.0),
             # a later step back under the bound does not count: the rate was not held on the way up
             _step("ours", 40_000, 90.0),
             _step("node", 5_000, 60.0), _step("node", 10_000, 30.0, lost=3)]
    assert rates_held(steps) == {"ours": 10_000, "node": 5_000}


def test_the_rate_held_is_what_the_writer_achieved_not_what_it_aimed_at() -> None:
    steps = [_step("ours", 20_000, 60.0, achieved=18_837), _step("ours", 40_000, 61.0, achieved=19_381),
             _step("ours", 80_000, 79.0, achieved=16_701)]
    assert rates_held(steps) == {"ours": 19_381}


def test_a_system_that_never_held_the_bound_holds_zero() -> None:
    assert rates_held([_step("node", 2_500, 25_000.0)]) == {"node": 0}
    assert rates_held([_step("ours", 2_500, 101.0)], p99_ms=100.0) == {"ours": 0}
