"""The client under load: does the front desk's window stall while 1,000 events a second arrive?

It builds what a signed-in front desk has open (the real `EntityStore`, `Session`, `MainWindow` with
the admin view: day calendar, appointment list, details panel), loads a snapshot of N appointments,
shows the window offscreen at 1400x900 on a busy day, and then feeds `sync.event` frames from a
QTimer through the sync client's own frame path (JSON decode, `SyncClient._dispatch`, which applies
each event to the store and reports its latency) while a 5 ms probe timer measures how late the
event loop gets to it. No network and no server: only the client's main thread is measured.

    python -m server.bench.store_stall --appointments 10000 --events-per-second 1000 --seconds 5

The workload is pure and seeded (`make_workload`), so a test can fold the same events itself and
compare the result with the store's final rows.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["Workload", "fold_events", "make_workload", "run_store_bench"]

ZONE = ZoneInfo("Europe/London")
PROBE_MS = 5  # the probe timer's interval; a stall is how much later than this it fires
FEED_MS = 10  # the feeder's interval; each tick applies every event that has fallen due
STALL_MS = 50.0  # DESIGN.md: no UI stall over 50 ms
_PLACEHOLDER = "@@committed_at@@"
_CHECKED = ("version", "status", "start", "end", "dentist_id", "notes", "cancel_reason")  # fields in final_rows

_DENTISTS = ("Dr Sarah Smith", "Dr Raj Patel", "Dr Emily Chen", "Dr Tom O'Brien", "Dr Ana Lima")
_COLOURS = ("#3b82f6", "#10b981", "#f59e0b", "#8b5cf6", "#ef4444")
_TYPES = (  # id, name, minutes, colour, weight in the book
    (1, "Check-up", 30, "#60a5fa", 5),
    (2, "Cleaning", 45, "#34d399", 4),
    (3, "Filling", 60, "#fbbf24", 3),
    (4, "Root canal", 90, "#f87171", 1),
    (5, "Emergency", 15, "#fb7185", 1),
)
_FIRST = ("Alice", "Bob", "Carmen", "David", "Erin", "Farid", "Grace", "Hugo", "Isla", "Jamal", "Kate", "Liam",
          "Maya", "Noah", "Olga", "Priya", "Quentin", "Rosa", "Sam", "Tariq", "Uma", "Victor", "Wen", "Yusuf")
_LAST = ("Archer", "Brown", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jones", "Khan",
         "Lopez", "Murphy", "Nowak", "Okafor", "Patel", "Quinn", "Rossi", "Singh", "Taylor", "Usman", "Vega")
_NEXT_STATUS = {"scheduled": "confirmed", "confirmed": "checked_in", "checked_in": "in_chair", "in_chair": "completed"}
_NOTES = ("Prefers mornings", "Sensitive upper left", "Bring X-rays", "Called to confirm", "Anxious patient",
          "Insurance form pending", "Running 10 min late", "Needs interpreter")


def _instant(moment: datetime) -> str:
    """An instant as the server writes it (clinic_instant: UTC, milliseconds, +00:00)."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _weekdays_around(day: date, count: int) -> list[date]:
    """`count` weekdays: `day` first, then alternately earlier and later, so `day` is the busiest."""
    days = [day]
    back = forward = day
    while len(days) < count:
        forward += timedelta(days=1)
        while forward.weekday() >= 5:
            forward += timedelta(days=1)
        days.append(forward)
        if len(days) < count:
            back -= timedelta(days=1)
            while back.weekday() >= 5:
                back -= timedelta(days=1)
            days.append(back)
    return days


@dataclass
class Workload:
    """A snapshot and the events that follow it, as the server would send them."""

    snapshot: dict[str, list[dict[str, Any]]]
    seq: int  # the snapshot's feed position; the first event is seq + 1
    shown_day: date  # the busy day the window shows
    events: list[dict[str, Any]] = field(default_factory=list)  # sync.event params, committed_at unset


def make_workload(appointments: int, events: int, shown_day: date, *, dentists: int = 4, patients: int = 2_000,
                  shown_share: float = 0.1, seed: int = 1) -> Workload:
    """A clinic of `dentists` with `appointments` booked around `shown_day`, and `events` changes to them.

    Appointments fill each dentist's 09:00-17:00 on weekdays, the shown day first, then alternately
    the days before and after it. Events: 40 % status steps, 20 % notes, 15 % moves, 15 % new
    bookings, 10 % cancellations; `shown_share` of the changes to existing rows touch the shown day
    (the front desk's today, where the check-ins happen). New bookings and moves land on the other
    days, so the shown day keeps a real day's load (the server's exclusion constraints would refuse
    piling more onto it); a move picked for a shown-day row becomes a notes edit. Deterministic for a seed.
    """
    rnd = random.Random(seed)
    dentists = max(1, min(dentists, len(_DENTISTS)))
    created = _instant(datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc))
    directory: dict[str, list[dict[str, Any]]] = {
        "settings": [{"id": 1, "version": 1, "clinic_name": "DentalCare Connect", "timezone": "Europe/London",
                      "slot_minutes": 15, "min_notice_minutes": 120, "max_advance_days": 90, "late_cancel_hours": 24}],
        "dentist": [{"id": d + 1, "version": 1, "name": _DENTISTS[d], "user_id": 10 + d, "colour": _COLOURS[d],
                     "active": True} for d in range(dentists)],
        "appointment_type": [{"id": t, "version": 1, "name": name, "duration_minutes": minutes, "colour": colour,
                              "patient_bookable": t != 4, "active": True} for t, name, minutes, colour, _w in _TYPES],
        "patient": [{"id": p, "version": 1, "name": f"{_FIRST[p % len(_FIRST)]} {_LAST[(p // len(_FIRST)) % len(_LAST)]}",
                     "phone": f"+44 7700 9{p:05d}", "email": f"patient{p}@example.org", "date_of_birth": None,
                     "user_id": 1_000 + p} for p in range(1, patients + 1)],
        "chair": [{"id": c, "version": 1, "name": f"Chair {c}", "active": True} for c in range(1, dentists + 1)],
        "working_hours": [{"id": 100 * d + 10 * w + h, "version": 1, "dentist_id": d, "weekday": w,
                           "start": ("09:00", "13:30")[h], "end": ("13:00", "17:00")[h]}
                          for d in range(1, dentists + 1) for w in range(5) for h in (0, 1)],
        "schedule_exception": [],
    }
    patient_names = {row["id"]: row["name"] for row in directory["patient"]}
    type_ids = [t for t, *_ in _TYPES]
    type_weights = [w for *_, w in _TYPES]
    minutes_of = {t: m for t, _n, m, _c, _w in _TYPES}

    def row_for(appointment_id: int, dentist_id: int, start: datetime, type_id: int, status: str) -> dict[str, Any]:
        patient_id = rnd.randint(1, patients)
        return {
            "id": appointment_id, "version": 1, "patient_id": patient_id, "patient_name": patient_names[patient_id],
            "dentist_id": dentist_id, "chair_id": dentist_id, "type_id": type_id, "start": _instant(start),
            "end": _instant(start + timedelta(minutes=minutes_of[type_id])), "status": status,
            "source": rnd.choice(("front_desk", "front_desk", "patient", "dentist", "assistant")),
            "notes": rnd.choice(_NOTES) if rnd.random() < 0.2 else "",
            "cancel_reason": "Patient called" if status == "cancelled" else None,
            "created_at": created, "updated_at": created,
        }

    def status_on(day: date) -> str:
        if day < shown_day:
            return rnd.choices(("completed", "no_show", "cancelled"), (85, 5, 10))[0]
        if day == shown_day:
            return rnd.choice(("scheduled", "confirmed", "checked_in", "in_chair", "completed"))
        return rnd.choices(("scheduled", "confirmed", "cancelled"), (60, 35, 5))[0]

    rows: dict[int, dict[str, Any]] = {}
    days_used: list[date] = []
    for day in _weekdays_around(shown_day, 10_000):
        if len(rows) >= appointments:
            break
        days_used.append(day)
        for dentist_id in range(1, dentists + 1):
            moment = datetime.combine(day, datetime.min.time(), tzinfo=ZONE).replace(hour=9)
            close = moment.replace(hour=17)
            while len(rows) < appointments:
                type_id = rnd.choices(type_ids, type_weights)[0]
                if moment + timedelta(minutes=minutes_of[type_id]) > close:
                    break
                appointment_id = len(rows) + 1
                rows[appointment_id] = row_for(appointment_id, dentist_id, moment, type_id, status_on(day))
                moment += timedelta(minutes=minutes_of[type_id] + (15 if rnd.random() < 0.15 else 0))
    snapshot = dict(directory)
    snapshot["appointment"] = [dict(row) for row in rows.values()]
    workload = Workload(snapshot, seq=1_000, shown_day=shown_day)
    by_day: dict[date, list[int]] = {}
    for row in rows.values():
        by_day.setdefault(datetime.fromisoformat(row["start"]).astimezone(ZONE).date(), []).append(row["id"])
    days_used.sort()
    other_days = [day for day in days_used if day != shown_day] or [shown_day]

    def pick_target() -> int:
        if rnd.random() < shown_share and by_day.get(shown_day):
            return rnd.choice(by_day[shown_day])
        return rnd.randint(1, len(rows))

    def random_moment(day: date) -> datetime:
        return datetime.combine(day, datetime.min.time(), tzinfo=ZONE).replace(hour=9) + timedelta(
            minutes=15 * rnd.randrange(0, 28))

    now = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
    seq = workload.seq
    for n in range(events):
        seq += 1
        kind = rnd.choices(("status", "notes", "move", "create", "cancel"), (40, 20, 15, 15, 10))[0]
        stamp = _instant(now + timedelta(milliseconds=n))
        if kind == "create":
            appointment_id = len(rows) + 1
            day = rnd.choice(other_days)
            row = row_for(appointment_id, rnd.randint(1, dentists), random_moment(day), rnd.choice(type_ids),
                          "scheduled")
            row["created_at"] = row["updated_at"] = stamp
            rows[appointment_id] = row
            by_day.setdefault(day, []).append(appointment_id)
        else:
            previous = rows[pick_target()]
            row = dict(previous)
            status = row["status"]
            if kind == "status" and status in _NEXT_STATUS:
                row["status"] = _NEXT_STATUS[status]
            elif kind == "cancel" and status not in ("cancelled", "completed", "no_show"):
                row["status"], row["cancel_reason"] = "cancelled", rnd.choice(("Patient called", "Dentist ill"))
            elif kind == "move" and (day := datetime.fromisoformat(row["start"]).astimezone(ZONE).date()) != shown_day:
                start = random_moment(rnd.choice(other_days) if rnd.random() < 0.5 else day)
                row["start"] = _instant(start)
                row["end"] = _instant(start + timedelta(minutes=minutes_of[row["type_id"]]))
                row["dentist_id"] = rnd.randint(1, dentists)
            else:  # notes, or a step that does not apply to this row's status
                row["notes"] = f"{rnd.choice(_NOTES)} ({n})"
            row["version"] += 1
            row["updated_at"] = stamp
            rows[row["id"]] = row
        workload.events.append({"seq": seq, "entity": "appointment", "op": "upsert", "id": row["id"],
                                "data": dict(row), "committed_at": None})
    return workload


def fold_events(snapshot_rows: list[dict[str, Any]], events: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Appointment rows after the events, folded independently of the store (last version wins)."""
    rows = {int(row["id"]): row for row in snapshot_rows}
    for event in events:
        if event["entity"] == "appointment" and event["op"] == "upsert":
            data = event["data"]
            current = rows.get(int(data["id"]))
            if current is None or current["version"] < data["version"]:
                rows[int(data["id"])] = data
    return rows


# ------------------------------------------------------------------------------------------- the run


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    position = (len(sorted_values) - 1) * q
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def _shown_day(today: date) -> date:
    day = today
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def run_store_bench(appointments: int = 10_000, events_per_second: int = 1_000, seconds: float = 5.0, *,
                    tab: str = "calendar", seed: int = 1, sample: int = 50) -> dict[str, Any]:
    """Run the front desk's window under a stream of events; returns figures as a JSON-able dict.

    `tab` is what the admin view shows in front: "calendar" (the day view a front desk sees by
    default), "week" (the graphical Monday-to-Saturday view, every dentist) or "list" (the
    appointment table, filtered to the shown day). Meant for a fresh process (it creates the
    QApplication). Keys: events fed/applied and the rate
    achieved; the main loop's stalls from a 5 ms probe (`stall_max_ms`, `stall_p99_ms`,
    `stall_p50_ms`, `stalls_over_50ms`, every gap in `gaps_ms`); how late events were applied after
    falling due (`apply_delay_*_ms`); the snapshot load, window open and re-snapshot times; and
    `final_rows`, the store's rows of a sample of the changed appointments.
    """
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QTimer, Qt
    from PySide6.QtWidgets import QApplication

    from clinic_desktop.main_window import MainWindow
    from clinic_desktop.session import Session
    from clinic_desktop.store import Change
    from clinic_desktop.sync import ConnectionState

    app = QApplication.instance() or QApplication([sys.argv[0]])
    total = int(round(events_per_second * seconds))
    session = Session("ws://127.0.0.1:9/ws")  # never connected: frames are fed, not received
    shown_day = _shown_day(session.clock.today())
    started = time.perf_counter()
    workload = make_workload(appointments, total, shown_day, seed=seed)
    generate_s = time.perf_counter() - started
    frames = [json.dumps({"jsonrpc": "2.0", "method": "sync.event",
                          "params": {**event, "committed_at": _PLACEHOLDER}}, separators=(",", ":"))
              for event in workload.events]

    # Signed in as the front desk, subscribed: what sign-in leaves behind before the window opens.
    session.client.user = {"id": 1, "username": "frontdesk", "name": "Front Desk", "role": "admin",
                           "dentist_id": None, "patient_id": None}
    session.client.state = ConnectionState.CONNECTED
    started = time.perf_counter()
    session.store.load_snapshot(workload.snapshot, workload.seq)
    snapshot_load_ms = (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    window = MainWindow(session)
    window.resize(1400, 900)
    window.view.set_day(shown_day)  # type: ignore[attr-defined]
    if tab not in ("calendar", "week", "list"):
        raise ValueError(f"tab must be 'calendar', 'week' or 'list', not {tab!r}")
    window.view.show_week(tab == "week", remember=False)  # type: ignore[attr-defined]
    if tab == "list":
        window.view.tabs.setCurrentWidget(window.view.list_panel)  # type: ignore[attr-defined]
    window.show()
    for _ in range(3):
        app.processEvents()
    window_open_ms = (time.perf_counter() - started) * 1000
    calendar = window.view.current_grid()  # type: ignore[attr-defined]  # the day's or the week's grid
    on_shown_day = len(calendar.appointments_on(shown_day))

    applied = 0

    def count(change: Change) -> None:
        nonlocal applied
        if change.op != "reset" and change.committed_at is not None:
            applied += 1

    session.store.add_listener(count)
    paint_ms: list[float] = []
    original_paint = calendar.paintEvent

    def timed_paint(event: Any) -> None:
        started = time.perf_counter()
        original_paint(event)
        paint_ms.append((time.perf_counter() - started) * 1000)

    calendar.paintEvent = timed_paint  # type: ignore[method-assign]

    probe_times: list[float] = []
    delays: list[float] = []
    tick_costs: list[float] = []
    fed = 0
    t0 = 0.0
    wall0 = 0.0
    dispatch = session.client._dispatch  # the sync client's frame handler, as its reader calls it

    def on_probe() -> None:
        probe_times.append(time.perf_counter())

    def on_feed() -> None:
        nonlocal fed
        now = time.perf_counter()
        due = min(total, int((now - t0) * events_per_second) + 1)
        while fed < due:
            committed = datetime.fromtimestamp(wall0 + fed / events_per_second, timezone.utc)
            frame = frames[fed].replace(_PLACEHOLDER, committed.isoformat(timespec="milliseconds"), 1)
            dispatch(json.loads(frame))  # what SyncClient._read does with each text frame
            delays.append((now - (t0 + fed / events_per_second)) * 1000)
            fed += 1
        tick_costs.append((time.perf_counter() - now) * 1000)
        if fed >= total and now - t0 >= seconds:
            app.quit()

    probe = QTimer()
    probe.setTimerType(Qt.TimerType.PreciseTimer)
    probe.setInterval(PROBE_MS)
    probe.timeout.connect(on_probe)
    feeder = QTimer()
    feeder.setTimerType(Qt.TimerType.PreciseTimer)
    feeder.setInterval(FEED_MS)
    feeder.timeout.connect(on_feed)
    guard = QTimer()  # never hang the runner: quit long after the planned end whatever happens
    guard.setSingleShot(True)
    guard.timeout.connect(app.quit)

    t0 = time.perf_counter()
    wall0 = time.time()
    cpu0 = time.process_time()
    probe.start()
    feeder.start()
    guard.start(int((seconds + 60) * 1000))
    app.exec()
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    probe.stop()
    feeder.stop()
    guard.stop()

    gaps = [max(0.0, (b - a) * 1000 - PROBE_MS) for a, b in zip(probe_times, probe_times[1:])]
    ordered = sorted(gaps)
    ordered_delays = sorted(delays)

    touched = sorted({event["id"] for event in workload.events})
    rnd = random.Random(seed + 1)
    sample_ids = sorted(rnd.sample(touched, min(sample, len(touched)))) if touched else []
    final_rows = {str(i): {key: (session.store.get("appointment", i) or {}).get(key) for key in _CHECKED}
                  for i in sample_ids}

    # A new snapshot with the window open (what a resync after a long outage does): every model resets.
    # The list's proxy re-sorts lazily, on its next access: the next event, or opening the list tab.
    proxy = window.view.list_panel.proxy  # type: ignore[attr-defined]
    started = time.perf_counter()
    session.store.load_snapshot(workload.snapshot, workload.seq + total + 1)
    resnapshot_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    proxy.rowCount()
    resnapshot_resort_ms = (time.perf_counter() - started) * 1000

    window.close()
    window.deleteLater()
    app.processEvents()
    return {
        "appointments": appointments,
        "appointments_loaded": len(workload.snapshot["appointment"]),
        "dentists": len(workload.snapshot["dentist"]),
        "shown_day": shown_day.isoformat(),
        "tab": tab,
        "appointments_on_shown_day": on_shown_day,
        "events_per_second": events_per_second,
        "seconds": seconds,
        "events_fed": fed,
        "events_applied": applied,
        "achieved_rate": round(fed / elapsed, 1) if elapsed > 0 else 0.0,
        "elapsed_s": round(elapsed, 3),
        "cpu_share": round(cpu / elapsed, 3) if elapsed > 0 else 0.0,  # of one core; near 1.0 = saturated
        "probe_interval_ms": PROBE_MS,
        "probe_fires": len(probe_times),
        "stall_max_ms": round(ordered[-1], 2) if ordered else 0.0,
        "stall_p99_ms": round(_quantile(ordered, 0.99), 2),
        "stall_p50_ms": round(_quantile(ordered, 0.50), 2),
        "stalls_over_50ms": sum(1 for gap in gaps if gap > STALL_MS),
        "gaps_ms": [round(gap, 2) for gap in gaps],
        "apply_delay_p50_ms": round(_quantile(ordered_delays, 0.50), 2),
        "apply_delay_p99_ms": round(_quantile(ordered_delays, 0.99), 2),
        "apply_delay_max_ms": round(ordered_delays[-1], 2) if ordered_delays else 0.0,
        "feed_tick_max_ms": round(max(tick_costs), 2) if tick_costs else 0.0,
        "calendar_paints": len(paint_ms),
        "calendar_paint_p50_ms": round(_quantile(sorted(paint_ms), 0.5), 2),
        "calendar_paint_max_ms": round(max(paint_ms), 2) if paint_ms else 0.0,
        "feed_tick_p50_ms": round(_quantile(sorted(tick_costs), 0.5), 2),
        "calendar_repaints_requested": calendar.repaints_requested,
        "workload_generate_s": round(generate_s, 3),
        "snapshot_load_ms": round(snapshot_load_ms, 1),
        "window_open_ms": round(window_open_ms, 1),
        "resnapshot_ms": round(resnapshot_ms, 1),
        "resnapshot_resort_ms": round(resnapshot_resort_ms, 1),
        "seed": seed,
        "final_rows": final_rows,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m server.bench.store_stall", description=__doc__.splitlines()[0])
    parser.add_argument("--appointments", type=int, default=10_000)
    parser.add_argument("--events-per-second", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--tab", choices=["calendar", "week", "list"], default="calendar",
                        help="the admin view's tab in front during the run")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    result = run_store_bench(args.appointments, args.events_per_second, args.seconds, tab=args.tab, seed=args.seed)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
