"""The dentist's screen against a real server: Go → New appointment books, the day box says what it shows,
and the selection (with what it showed) is left behind when the day changes."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from PySide6.QtGui import QAction

from clinic_desktop.booking.booking_dialog import BookingDialog
from clinic_desktop.main_window import MainWindow
from clinic_desktop.sync import Backoff
from qt_async import until
from scripted_windows import open_window

pytestmark = pytest.mark.slow


async def _open(url: str, username: str, qtbot) -> MainWindow:
    return await open_window(url, username, qtbot, backoff=Backoff(initial=0.2, maximum=1.0))


def _weekday_ahead(window: MainWindow, days: int) -> date:
    day = window.session.clock.today() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def test_go_new_appointment_opens_booking_in_the_dentists_own_diary(qt_async, qtbot, server) -> None:
    """Go → "New appointment" (Ctrl+N) opens the booking dialog for Dr Smith on the day shown, not "jump to today"."""

    async def scenario() -> None:
        dentist = await _open(server.ws_url, "drsmith", qtbot)
        day = _weekday_ahead(dentist, 4)
        dentist.view.set_day(day)
        action = next(a for a in dentist.findChildren(QAction) if a.text() == "New appointment")
        assert action.shortcut().toString() == "Ctrl+N"
        action.trigger()
        await until(lambda: dentist.view.findChildren(BookingDialog), what="the booking dialog")
        dialog = dentist.view.findChildren(BookingDialog)[0]
        assert dialog.isVisible() and dialog.windowTitle() == "New appointment"
        assert dialog.picker.dentist_id() == dentist.session.dentist_id
        assert dialog.picker.date_edit.date().toPython() == day
        assert dentist.view.day == day  # it did not jump to today
        dialog.close()
        dentist.close()
        await dentist.session.close()

    qt_async.run(scenario(), timeout=120)


def test_day_box_title_and_selection_follow_the_day(qt_async, qtbot, server) -> None:
    """The day's box is titled "My appointments on <day>"; after "Day ›" the old selection and its words are gone."""

    async def scenario() -> None:
        admin = await _open(server.ws_url, "frontdesk", qtbot)
        dentist = await _open(server.ws_url, "drsmith", qtbot)
        day = _weekday_ahead(dentist, 3)
        slots = await admin.session.call("slots.find", type_id=1, dentist_id=1, patient_id=2,
                                         **{"from": day.isoformat(), "to": day.isoformat()})
        booked = await admin.operations.run("appointments.create", {
            "dentist_id": 1, "type_id": 1, "start": slots[0]["start"], "patient_id": 2})
        assert booked is not None
        view = dentist.view
        view.set_day(day)
        title = view.day_box.title()
        assert "Chair" not in title and title == f"My appointments on {dentist.session.clock.format_day(day)}"
        await until(lambda: view.select_appointment(booked["id"]), what="the booking in the dentist's day")
        assert view.selection_label.text().startswith("Bob Green")
        assert view.timeline.selected_id == booked["id"]
        assert view.status_buttons["checked_in"].isEnabled()

        view.next_day_button.click()
        assert view.day == day + timedelta(days=1)
        assert view.selected_id() is None and view.timeline.selected_id == 0
        assert "Bob Green" not in view.selection_label.text()
        assert not any(button.isEnabled() for button in view.status_buttons.values())
        assert view.day_box.title().endswith(dentist.session.clock.format_day(day + timedelta(days=1)))
        for window in (admin, dentist):
            window.close()
            await window.session.close()

    qt_async.run(scenario(), timeout=120)
