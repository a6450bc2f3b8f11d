"""PNG charts of a bench run (matplotlib, Agg backend: no display needed), 1000x600 px.

Each function takes plain lists and dicts, as the runner keeps them in its JSON result, and writes
one PNG to `path`. Dashed lines mark the targets of DESIGN.md ("Targets").
"""

from __future__ import annotations

import math

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: the bench runs headless

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

__all__ = ["latency_cdf", "latency_vs_rate", "memory_per_connection", "store_stall"]

_SIZE = (10.0, 6.0)  # inches at 100 dpi: 1000x600 px
_DPI = 100
_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
_TARGET = "#555555"


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile by linear interpolation between closest ranks (values sorted, non-empty)."""
    position = (len(sorted_values) - 1) * q
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def _ms(value: float, _pos: object = None) -> str:
    return f"{value:g}"


def _figure(title: str) -> tuple[Figure, Any]:
    fig, ax = plt.subplots(figsize=_SIZE, dpi=_DPI)
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.35)
    return fig, ax


def _save(fig: Figure, path: Path | str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)


def _target_line(ax: Any, y: float, label: str) -> None:
    ax.axhline(y, color=_TARGET, linestyle="--", linewidth=1.2)
    ax.annotate(label, xy=(1.0, y), xycoords=("axes fraction", "data"), xytext=(-4, 3),
                textcoords="offset points", ha="right", va="bottom", fontsize=9, color=_TARGET,
                bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "alpha": 0.9, "edgecolor": "none"})


def latency_cdf(path: Path | str, series: Mapping[str, Sequence[float]]) -> None:
    """Cumulative distribution of latencies (ms) per labelled series, log x; p50 and p99 marked."""
    fig, ax = _figure("Commit-to-client latency, cumulative distribution")
    plotted = False
    labelled: dict[float, list[float]] = {0.50: [], 0.99: []}  # where each quantile's labels already are
    for n, (label, values) in enumerate(series.items()):
        data = sorted(float(v) for v in values)
        if not data:
            continue
        colour = _COLOURS[n % len(_COLOURS)]
        floor = max(min(v for v in data if v > 0) if any(v > 0 for v in data) else 0.01, 0.01)
        xs = [max(v, floor) for v in data]  # a log axis cannot show 0 ms
        ys = [(i + 1) / len(data) for i in range(len(data))]
        p50, p99 = _quantile(data, 0.50), _quantile(data, 0.99)
        ax.step(xs, ys, where="post", color=colour, linewidth=1.8,
                label=f"{label}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, n={len(data):,}")
        for q, value, marker in ((0.50, p50, "o"), (0.99, p99, "s")):
            x = max(value, floor)
            ax.plot([x], [q], marker=marker, color=colour, markersize=7, zorder=3)
            if all(abs(math.log10(x / other)) > 0.45 for other in labelled[q]):  # else they overprint: the legend says it
                labelled[q].append(x)
                ax.annotate(f"p{int(q * 100)} {value:.1f}", xy=(x, q), xytext=(6, -12),
                            textcoords="offset points", fontsize=9, color=colour)
        plotted = True
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(_ms))
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("fraction of events delivered within")
    ax.set_ylim(0, 1.02)
    for q in (0.5, 0.99):
        ax.axhline(q, color=_TARGET, linestyle=":", linewidth=0.8)
    if plotted:
        ax.legend(loc="lower right")
    else:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center")
    _save(fig, path)


def latency_vs_rate(path: Path | str, rows: Sequence[Mapping[str, Any]]) -> None:
    """p50 and p99 latency (ms) against the rate written (events/min), one pair of lines per system."""
    fig, ax = _figure("Latency against the rate of changes")
    systems: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        systems.setdefault(str(row.get("system") or "clinic-server"), []).append(row)
    for n, (system, points) in enumerate(systems.items()):
        points = sorted(points, key=lambda r: float(r["rate_per_min"]))
        colour = _COLOURS[n % len(_COLOURS)]
        rates = [float(r["rate_per_min"]) for r in points]
        ax.plot(rates, [float(r["p50_ms"]) for r in points], color=colour, marker="o", linewidth=1.8,
                label=f"{system} p50")
        ax.plot(rates, [float(r["p99_ms"]) for r in points], color=colour, marker="s", linewidth=1.8,
                linestyle="-.", label=f"{system} p99")
        if all("max_ms" in r for r in points):
            ax.scatter(rates, [float(r["max_ms"]) for r in points], color=colour, marker="x", s=40,
                       label=f"{system} max")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(_ms))
    # In the legend, not written on the chart: a label there would hide the highest rate's points.
    ax.axhline(25.0, color=_TARGET, linestyle="--", linewidth=1.2, label="target: p99 25 ms")
    ax.axhline(200.0, color=_TARGET, linestyle=(0, (6, 3, 1, 3)), linewidth=1.2, label="reference claim: 200 ms")
    ax.set_xlabel("changes written (events per minute, as achieved by the writer)")
    ax.set_ylabel("commit-to-client latency (ms, log scale)")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    highest = max([200.0, *(float(r.get("max_ms", r["p99_ms"])) for r in rows)])
    ax.set_ylim(top=highest * 6)  # headroom on the log axis: the legend sits above the data
    ax.legend(loc="upper left", ncol=2)
    _save(fig, path)


def memory_per_connection(path: Path | str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Per-connection memory (KiB, bars) and the server's RSS (MiB, line) against open connections."""
    fig, ax = _figure("Memory held per idle connection")
    points = sorted(rows, key=lambda r: int(r["connections"]))
    labels = [f"{int(r['connections']):,}" for r in points]
    positions = list(range(len(points)))
    kib = [float(r["kib_per_connection"]) for r in points]
    bars = ax.bar(positions, kib, color=_COLOURS[0], width=0.6, label="KiB per connection")
    for bar, value in zip(bars, kib):
        ax.annotate(f"{value:.1f}", xy=(bar.get_x() + bar.get_width() / 2, value), xytext=(0, 3),
                    textcoords="offset points", ha="center", va="bottom", fontsize=9)
    _target_line(ax, 30.0, "target 30 KiB")
    ax.set_xticks(positions, labels)
    ax.set_xlabel("open connections")
    ax.set_ylabel("memory per connection (KiB)")
    ax.set_ylim(0, max([30.0, *kib]) * 1.25)
    rss = ax.twinx()
    rss.plot(positions, [float(r["rss_mib"]) for r in points], color=_COLOURS[1], marker="o", linewidth=1.8,
             label="server RSS (MiB)")
    rss.set_ylabel("server resident memory (MiB)")
    rss.set_ylim(bottom=0)
    handles = [bars, *rss.get_lines()]
    ax.legend(handles, [h.get_label() for h in handles], loc="upper left")
    _save(fig, path)


def store_stall(path: Path | str, result: Mapping[str, Any]) -> None:
    """Histogram of the UI loop's stalls (ms over the probe's 5 ms) during a store run; 50 ms marked."""
    gaps = [float(g) for g in result.get("gaps_ms") or []]
    summary = (f"max {float(result.get('stall_max_ms', 0)):.1f} ms, p99 {float(result.get('stall_p99_ms', 0)):.1f} ms, "
               f"p50 {float(result.get('stall_p50_ms', 0)):.1f} ms, {int(result.get('stalls_over_50ms', 0))} over 50 ms")
    view = {"week": "week view", "list": "list"}.get(str(result.get("tab")), "day view")
    title = (f"Client UI stalls ({view}): {int(result.get('appointments', 0)):,} appointments, "
             f"{int(result.get('events_per_second', 0)):,} events/s\n{summary}")
    fig, ax = _figure(title)
    if gaps:
        top = max(max(gaps), 60.0)
        bins = [i * top / 60 for i in range(61)]
        ax.hist(gaps, bins=bins, color=_COLOURS[0], edgecolor="white", linewidth=0.5)
        ax.set_yscale("log")
        ax.set_xlim(0, top * 1.02)
    else:
        ax.text(0.5, 0.5, "no probe data", transform=ax.transAxes, ha="center", va="center")
    ax.axvline(50.0, color=_TARGET, linestyle="--", linewidth=1.2)
    ax.annotate("target: no stall over 50 ms", xy=(50.0, 0.97), xycoords=("data", "axes fraction"),
                xytext=(-4, 0), textcoords="offset points", ha="right", va="top", fontsize=9, color=_TARGET,
                bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "alpha": 0.9, "edgecolor": "none"})
    ax.set_xlabel("stall: gap between 5 ms probe ticks minus 5 ms (ms)")
    ax.set_ylabel("probe ticks (log scale)")
    _save(fig, path)
