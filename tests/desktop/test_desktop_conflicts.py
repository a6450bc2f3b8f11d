"""Two front desks on one real server: a move sends the version its dialog opened with, a conflict asks, a nudge fits.

With CLINIC_UPDATE_SCREENSHOTS=1 the conflict dialog is saved to docs/screenshots/conflict-dialog.png.
"""

from __future__ import annotations

import asyncio
import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication, QWidget
from qt_async import until
from scripted_windows import open_window

from clinic_desktop.booking.booking_dialog import BookingDialog
from clinic_desktop.booking.conflict_dialog import ConflictDialog
from clinic_desktop.clinic_clock import parse_instant
from clinic_desktop.main_window import MainWindow
from clinic_desktop.sync import Backoff

pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


async def save_screenshot(widget: QWidget, name: str, tmp_path: Path) -> Path:
    """Grab `widget` as shown (after pending layout) into tmp_path, or docs/screenshots when updating them."""
    folder = DOCS if os.environ.get("CLINIC_UPDATE_SCREENSHOTS") == "1" else tmp_path
    for _ in range(3):
        QApplication.sendPostedEvents()
        await asyncio.sleep(0.05)
    path = folder / name
    image = widget.grab()
    assert not image.isNull() and image.save(str(path))
    return path


async def _open(url: str, qtbot) -> MainWindow:
    return await open_window(url, "frontdesk", qtbot, backoff=Backoff(initial=0.2, maximum=1.0))


def _weekday_ahead(window: MainWindow, days: int) -> date:
    day = window.session.clock.today() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


async def _book(window: MainWindow, day: date, type_name: str, *, nudge_room: bool = False) -> dict[str, Any]:
    """A new patient's appointment with Dr Smith on `day` (with 30 free minutes after it when `nudge_room`)."""
    store = window.session.store
    type_id = next(row["id"] for row in store.rows("appointment_type") if row["name"] == type_name)
    smith = next(row["id"] for row in store.rows("dentist") if "Smith" in row["name"])
    patient = await window.session.call("patients.create", name=f"Conflict Test {type_name}", confirm_duplicate=True)
    slots = await window.session.call("slots.find", type_id=type_id, dentist_id=smith, patient_id=patient["id"],
                                      **{"from": day.isoformat(), "to": day.isoformat()})
    free = [parse_instant(slot["start"]) for slot in slots]
    step = timedelta(minutes=15)
    start = next(s for s in free if not nudge_room or (s + step in free and s + 2 * step in free))
    return await window.session.call("appointments.create", dentist_id=smith, type_id=type_id,
                                     start=start.isoformat(), patient_id=patient["id"])


def _open_move(window: MainWindow, appointment_id: int) -> BookingDialog:
    row = window.session.store.get("appointment", appointment_id)
    dialog = BookingDialog(window.session, window.operations, appointment=row, parent=window.view)
    dialog.open()
    return dialog


async def _server_row(window: MainWindow, appointment_id: int) -> dict[str, Any]:
    return next(r for r in await window.session.call("appointments.list") if r["id"] == appointment_id)


async def _a_opens_move_then_b_moves(qtbot, url: str):
    """Desk A opens Move… on an appointment; desk B moves it elsewhere; A picks a third time and confirms."""
    desk_a, desk_b = await _open(url, qtbot), await _open(url, qtbot)
    day = _weekday_ahead(desk_a, 3)
    booked = await _book(desk_a, day, "Check-up")
    await until(lambda: desk_b.session.store.get("appointment", booked["id"]) is not None, what="B sees it")
    dialog = _open_move(desk_a, booked["id"])
    await until(lambda: len(dialog.picker.slots()) > 3, what="move slots in A's dialog")
    starts = [s for s in dialog.picker.slots() if parse_instant(s["start"]) != parse_instant(booked["start"])]
    theirs_slot, mine_slot = starts[0], starts[-1]

    moved = await desk_b.operations.update_appointment(
        desk_b.session.store.get("appointment", booked["id"]), {"start": theirs_slot["start"]})
    assert moved is not None
    theirs_time = desk_a.session.clock.format_when(theirs_slot["start"])
    # A's open dialog follows the change live ("currently …"), but keeps the version it opened with.
    await until(lambda: f"currently {theirs_time}" in dialog.patient_label.text(), what="A's header to update")
    assert dialog.picker.select_slot(mine_slot)
    dialog.confirm_button.click()
    await until(lambda: isinstance(desk_a.operations.conflict_dialog, ConflictDialog)
                and desk_a.operations.conflict_dialog.isVisible(), what="the conflict dialog")
    return desk_a, desk_b, dialog, booked, theirs_slot, mine_slot


def test_a_stale_move_shows_the_conflict_and_keep_theirs_leaves_their_time(qt_async, qtbot, server, tmp_path) -> None:
    """A confirms a move on the version it saw: the conflict dialog shows both times; "Keep theirs" keeps B's."""

    async def scenario() -> None:
        desk_a, desk_b, dialog, booked, theirs_slot, mine_slot = await _a_opens_move_then_b_moves(qtbot, server.ws_url)
        conflict = desk_a.operations.conflict_dialog
        clock = desk_a.session.clock
        seen, theirs, mine = conflict.cells["time"]
        assert seen.startswith(clock.format_when(booked["start"]))
        assert theirs.startswith(clock.format_when(theirs_slot["start"]))
        assert mine.startswith(clock.format_when(mine_slot["start"]))
        await save_screenshot(conflict, "conflict-dialog.png", tmp_path)

        conflict.keep_theirs_button.click()
        await until(lambda: not dialog.isVisible(), what="the move dialog to close")
        row = await _server_row(desk_a, booked["id"])
        assert parse_instant(row["start"]) == parse_instant(theirs_slot["start"])
        assert row["version"] == booked["version"] + 1
        for window in (desk_a, desk_b):
            window.close()
            await window.session.close()

    qt_async.run(scenario(), timeout=180)


def test_a_stale_move_apply_mine_anyway_moves_it_to_my_time(qt_async, qtbot, server) -> None:
    """After the conflict dialog, "Apply mine anyway" re-sends on the current version: A's time wins, knowingly."""

    async def scenario() -> None:
        desk_a, desk_b, dialog, booked, _theirs_slot, mine_slot = await _a_opens_move_then_b_moves(
            qtbot, server.ws_url)
        desk_a.operations.conflict_dialog.apply_mine_button.click()
        await until(lambda: not dialog.isVisible(), what="the move dialog to close after the move")
        row = await _server_row(desk_a, booked["id"])
        assert parse_instant(row["start"]) == parse_instant(mine_slot["start"])
        assert row["version"] == booked["version"] + 2
        await until(lambda: parse_instant(desk_b.session.store.get("appointment", booked["id"])["start"])
                    == parse_instant(mine_slot["start"]), what="B to see A's time")
        for window in (desk_a, desk_b):
            window.close()
            await window.session.close()

    qt_async.run(scenario(), timeout=180)


def test_move_can_nudge_by_fifteen_and_thirty_minutes(qt_async, qtbot, server) -> None:
    """The Move dialog offers times overlapping the appointment's own slot; a 15-minute nudge is saved."""

    async def scenario() -> None:
        desk = await _open(server.ws_url, qtbot)
        booked = await _book(desk, _weekday_ahead(desk, 4), "Filling", nudge_room=True)
        await until(lambda: desk.session.store.get("appointment", booked["id"]) is not None, what="the booking")
        dialog = _open_move(desk, booked["id"])
        start = parse_instant(booked["start"])
        nudges = {start + timedelta(minutes=15), start + timedelta(minutes=30)}
        await until(lambda: nudges <= {parse_instant(s["start"]) for s in dialog.picker.slots()},
                    what="15 and 30 minute nudges offered")
        nudge = next(s for s in dialog.picker.slots() if parse_instant(s["start"]) == start + timedelta(minutes=15))
        assert dialog.picker.select_slot(nudge)
        dialog.confirm_button.click()
        await until(lambda: not dialog.isVisible(), what="the move")
        row = await _server_row(desk, booked["id"])
        assert parse_instant(row["start"]) == start + timedelta(minutes=15)
        desk.close()
        await desk.session.close()

    qt_async.run(scenario(), timeout=180)

