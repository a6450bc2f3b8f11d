"""The bench's charts: each function writes a 1000x600 PNG that matplotlib reads back, with and without data."""

from __future__ import annotations

import random
from pathlib import Path

import matplotlib.image
import pytest

from server.bench import plots


def _read_back(path: Path) -> None:
    assert path.stat().st_size > 10_000, "an almost empty PNG: nothing was drawn"
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (600, 1000)
    assert image.std() > 0.01  # not a blank canvas


def test_each_chart_is_a_readable_png(tmp_path: Path) -> None:
    """Latency CDF, latency vs rate, memory per connection and store stalls each render from run-shaped data."""
    rnd = random.Random(7)
    plots.latency_cdf(tmp_path / "cdf.png", {
        "clinic-server": [rnd.lognormvariate(1.0, 0.6) for _ in range(2000)] + [0.0],
        "broadcaster peer": [rnd.lognormvariate(3.0, 0.8) for _ in range(2000)],
    })
    rows = [{"rate_per_min": rate, "p50_ms": 2 + rate / 10_000, "p99_ms": 10 + rate / 1_000,
             "max_ms": 30 + rate / 500, "system": system}
            for rate in (1_000, 10_000, 20_000) for system in ("clinic-server", "peer")]
    plots.latency_vs_rate(tmp_path / "rate.png", rows)
    plots.memory_per_connection(tmp_path / "memory.png", [
        {"connections": n, "rss_mib": 60 + n * 0.02, "kib_per_connection": 20 + 1_000 / n} for n in (100, 1_000, 10_000)])
    gaps = [abs(rnd.gauss(0.5, 1.0)) for _ in range(990)] + [rnd.uniform(10, 80) for _ in range(10)]
    plots.store_stall(tmp_path / "stall.png", {"appointments": 10_000, "events_per_second": 1_000, "gaps_ms": gaps,
                                               "stall_max_ms": max(gaps), "stall_p99_ms": 30.0, "stall_p50_ms": 0.5,
                                               "stalls_over_50ms": sum(g > 50 for g in gaps)})
    for name in ("cdf", "rate", "memory", "stall"):
        _read_back(tmp_path / f"{name}.png")


@pytest.mark.parametrize("chart", ["cdf", "rate", "stall"])
def test_a_chart_without_data_still_renders(tmp_path: Path, chart: str) -> None:
    """A run that produced no samples (e.g. every client failed) still yields a chart, not an exception."""
    path = tmp_path / f"{chart}.png"
    if chart == "cdf":
        plots.latency_cdf(path, {"clinic-server": []})
    elif chart == "rate":
        plots.latency_vs_rate(path, [])
    else:
        plots.store_stall(path, {})
    assert matplotlib.image.imread(path).shape[:2] == (600, 1000)
