"""Double-clicking a free spot in the front desk's calendar books there: that dentist, day and time preselected."""

from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import QPoint, Qt

from clinic_desktop.admin import day_calendar_view as calendar_module
from clinic_desktop.booking.booking_dialog import BookingDialog
from clinic_desktop.clinic_clock import parse_instant
from qt_async import until
from scripted_server import ScriptedServer
from scripted_windows import open_scripted_window, slot_at


def test_double_clicking_a_free_spot_preselects_that_time(qt_async, qtbot) -> None:
    """A double-click 7 minutes into 14:00 in Dr Patel's column opens the booking dialog with 14:00 selected."""
    server = ScriptedServer()
    server.slots = [slot_at(2, 13, 2), slot_at(2, 14, 2), slot_at(2, 15, 2)]

    async def scenario() -> None:
        await server.start()
        window = await open_scripted_window(server, "frontdesk", qtbot)
        clock = window.session.clock
        day = clock.today() + timedelta(days=2)
        window.view.set_day(day)
        calendar = window.view.calendar
        calendar.grab()
        first, _last, column_width, per_minute = calendar._geometry()
        column = [d["id"] for d in calendar.dentists()].index(2)
        x = calendar_module._GUTTER + column_width * column + column_width / 2
        y = calendar_module._HEADER + (14 * 60 + 7 - first * 60) * per_minute
        point = QPoint(int(x), int(y))
        assert calendar.appointment_at(point) == 0  # a free spot
        qtbot.mouseDClick(calendar, Qt.MouseButton.LeftButton, pos=point)
        await until(lambda: window.view.findChildren(BookingDialog), what="the booking dialog")
        dialog = window.view.findChildren(BookingDialog)[0]
        await until(lambda: dialog.picker.current_slot() is not None, what="a preselected time")
        chosen = dialog.picker.current_slot()
        assert chosen["dentist_id"] == 2
        assert parse_instant(chosen["start"]) == clock.at(day, "14:00")
        dialog.close()
        await window.session.close()
        await server.stop()

    qt_async.run(scenario())
