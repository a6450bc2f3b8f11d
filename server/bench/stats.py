"""Figures across repeated runs: each metric's median, min and max, and a side-by-side table of systems.

Runs alternate (ours, Node.js peer, broadcaster peer, floor; then again), so a machine that is slower for
a while slows every system's run of that round, and the median of three says more than any one run.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["SPREAD_METRICS", "comparison_table", "spread", "summarise"]

# Per-run figures that get a median, min and max (a run may lack some: the floor has no writer).
SPREAD_METRICS = ("p50_ms", "p90_ms", "p99_ms", "max_ms", "rate_per_min", "events_written", "deliveries",
                  "writer_call_p50_ms", "writer_call_p99_ms",
                  "send_p50_us", "send_p99_us", "send_mean_us", "fanout_p50_ms", "fanout_p99_ms")
# Per-run counts that must be 0 in every run: reported as totals over the runs.
TOTALS = ("lost_total", "duplicated_total", "unexpected_total", "clients_disconnected")


def spread(values: Sequence[float]) -> dict[str, float] | None:
    """{"median", "min", "max", "runs"} of the finite values, None when there are none."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return None
    return {"median": statistics.median(finite), "min": min(finite), "max": max(finite), "runs": len(finite)}


def summarise(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Each SPREAD_METRICS figure's spread over `runs`, and the TOTALS summed over them."""
    out: dict[str, Any] = {"runs": len(runs)}
    for metric in SPREAD_METRICS:
        figure = spread([r[metric] for r in runs if metric in r])
        if figure is not None:
            out[metric] = figure
    for metric in TOTALS:
        out[metric] = sum(int(r.get(metric, 0)) for r in runs)
    return out


def _cell(figure: Mapping[str, float] | None, digits: int = 1) -> str:
    if figure is None:
        return "-"
    if figure["runs"] == 1:
        return f"{figure['median']:.{digits}f}"
    return f"{figure['median']:.{digits}f} ({figure['min']:.{digits}f}-{figure['max']:.{digits}f})"


def comparison_table(systems: Mapping[str, Mapping[str, Any]], floor: str = "floor") -> list[tuple[str, str]]:
    """Rows for the console: per system its latency medians (min-max) and p99 as a multiple of the floor's."""
    floor_p99 = (systems.get(floor) or {}).get("p99_ms", {}).get("median")
    rows = []
    for name, s in systems.items():
        p99 = (s.get("p99_ms") or {}).get("median")
        times = f", {p99 / floor_p99:.1f}x the floor's p99" if p99 is not None and floor_p99 and name != floor else ""
        rows.append((name, f"p50 {_cell(s.get('p50_ms'))} / p99 {_cell(s.get('p99_ms'))} / max {_cell(s.get('max_ms'))} ms"
                           f"{times}; lost {s['lost_total']}, duplicated {s['duplicated_total']}"))
        if "send_p50_us" in s:
            rows.append((f"{name}: one send", f"p50 {_cell(s['send_p50_us'])} us, mean {_cell(s.get('send_mean_us'))} us; "
                                              f"one fan-out p50 {_cell(s.get('fanout_p50_ms'), 2)} ms, "
                                              f"p99 {_cell(s.get('fanout_p99_ms'), 2)} ms"))
    return rows
