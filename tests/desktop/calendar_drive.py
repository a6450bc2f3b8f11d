"""Helpers for the calendar tests: desks on a real server, bookings at chosen times, mouse drags on the grid."""

from __future__ import annotations

import asyncio
import os
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QPointF, QSettings, Qt
from PySide6.QtWidgets import QApplication, QWidget
from scripted_windows import open_window

from clinic_desktop.admin.calendar_grid import CalendarGrid
from clinic_desktop.clinic_clock import parse_instant
from clinic_desktop.main_window import MainWindow
from clinic_desktop.sync import Backoff

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def isolate_calendar_settings(monkeypatch, tmp_path: Path) -> Path:
    """Point the workstation's calendar choices at a file of this test's own (never the user's settings)."""
    from clinic_desktop.admin import admin_view

    path = tmp_path / "calendar.ini"
    monkeypatch.setattr(admin_view, "calendar_settings", lambda: QSettings(str(path), QSettings.Format.IniFormat))
    return path


async def open_desk(url: str, qtbot, username: str = "frontdesk") -> MainWindow:
    window = await open_window(url, username, qtbot, backoff=Backoff(initial=0.2, maximum=1.0))
    window.resize(1400, 900)
    return window


def weekday_ahead(window: MainWindow, days: int) -> date:
    """A Monday-to-Friday day `days` or more ahead (far enough ahead that the demo left it empty)."""
    day = window.session.clock.today() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def ids_by_name(window: MainWindow, kind: str) -> dict[str, int]:
    return {row["name"]: row["id"] for row in window.session.store.rows(kind)}


async def book(window: MainWindow, day: date, at: str, *, dentist: str = "Smith", type_name: str = "Check-up",
               chair_id: int | None = None, patient: str | None = None) -> dict[str, Any]:
    """A new patient's appointment at `at` (clinic time) on `day`, with `dentist`, in `chair_id`."""
    store = window.session.store
    type_id = next(row["id"] for row in store.rows("appointment_type") if row["name"] == type_name)
    dentist_id = next(row["id"] for row in store.rows("dentist") if dentist in row["name"])
    created = await window.session.call("patients.create", name=patient or f"Drag Test {day} {at} {dentist}",
                                        confirm_duplicate=True)
    params: dict[str, Any] = {"dentist_id": dentist_id, "type_id": type_id, "patient_id": created["id"],
                              "start": window.session.clock.to_wire(window.session.clock.at(day, at))}
    if chair_id is not None:
        params["chair_id"] = chair_id
    booked = await window.operations.run("appointments.create", params)
    assert booked is not None, window.operations.last_error
    return booked


async def settle(rounds: int = 3) -> None:
    for _ in range(rounds):
        QApplication.sendPostedEvents()
        await asyncio.sleep(0.05)


def point_at(grid: CalendarGrid, column: int, moment: datetime, *, dy: float = 0.0) -> QPoint:
    """The middle of `column` at `moment` (plus `dy` px), in the grid's coordinates."""
    first, _last, column_width, per_minute = grid._geometry()
    local = grid._clock.local(moment)
    y = grid._y_of_minute(local.hour * 60 + local.minute, first, per_minute) + dy
    return QPoint(int(grid.gutter + column_width * column + column_width / 2), int(y))


def column_of(grid: CalendarGrid, day: date, *, dentist_id: int | None = None, chair_id: int | None = None) -> int:
    for index, column in enumerate(grid.columns()):
        if column.day == day and (column.chair_id == chair_id if grid.by_chair else column.dentist_id == dentist_id):
            return index
    raise AssertionError(f"no column for {day} {dentist_id=} {chair_id=}")


def mouse_drag(qtbot, widget: QWidget, start: QPoint, end: QPoint, *, steps: int = 6, release: bool = True) -> None:
    """Press at `start`, move in steps to `end` (anywhere, even off the widget), release there."""
    qtbot.mousePress(widget, Qt.MouseButton.LeftButton, pos=start)
    for step in range(1, steps + 1):
        t = step / steps
        qtbot.mouseMove(widget, pos=QPoint(int(start.x() + (end.x() - start.x()) * t),
                                          int(start.y() + (end.y() - start.y()) * t)))
    if release:
        qtbot.mouseRelease(widget, Qt.MouseButton.LeftButton, pos=end)


def grab_point(grid: CalendarGrid, appointment_id: int) -> QPoint:
    """Where a user takes a block to move it: a little below its top, in the middle."""
    rect = grid.block_rect(appointment_id)
    assert rect is not None, f"appointment {appointment_id} is not on the grid"
    return QPointF(rect.center().x(), rect.top() + min(8.0, rect.height() / 3)).toPoint()


def move_target(grid: CalendarGrid, appointment_id: int, column: int, start: datetime) -> tuple[QPoint, QPoint]:
    """Press and release points that drag the block so that it starts at `start` in `column`."""
    row = grid._store.get("appointment", appointment_id)
    press = grab_point(grid, appointment_id)
    first, _last, _width, per_minute = grid._geometry()
    old = grid._clock.local(parse_instant(row["start"]))
    grab_px = press.y() - grid._y_of_minute(old.hour * 60 + old.minute, first, per_minute)
    return press, point_at(grid, column, start, dy=grab_px)


async def save_screenshot(widget: QWidget, name: str, tmp_path: Path) -> Path:
    """Saved to docs/screenshots with CLINIC_UPDATE_SCREENSHOTS=1, else to the test's temporary directory."""
    folder = DOCS if os.environ.get("CLINIC_UPDATE_SCREENSHOTS") == "1" else tmp_path
    await settle()
    path = folder / name
    image = widget.grab()
    assert not image.isNull() and image.save(str(path))
    return path
