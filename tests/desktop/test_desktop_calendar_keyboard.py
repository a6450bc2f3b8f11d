"""The front desk's calendar without a mouse: arrows between blocks and slots, Enter, Delete, view shortcuts, tab order.

On the scripted peer: three appointments on 1 Dec 2026 (09:30 Dr Patel, 10:00 Dr Smith, 10:30 Dr Patel).
"""

from __future__ import annotations

from datetime import date

from calendar_drive import isolate_calendar_settings
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget
from qt_async import until
from scripted_server import ScriptedServer
from scripted_windows import open_scripted_window

from clinic_desktop.booking.booking_dialog import BookingDialog
from clinic_desktop.booking.cancel_dialog import CancelDialog

DAY = date(2026, 12, 1)


async def _focused_calendar(server: ScriptedServer, qtbot):
    window = await open_scripted_window(server, "frontdesk", qtbot)
    view = window.view
    view.set_day(DAY)
    window.raise_()
    window.activateWindow()
    await until(window.isActiveWindow, what="the window to be active")
    view.calendar.setFocus()
    await until(view.calendar.hasFocus, what="the calendar to have the focus")
    view.calendar.grab()
    return window, view, view.calendar


def test_arrows_move_between_blocks_and_free_slots(qt_async, qtbot, tmp_path, monkeypatch) -> None:
    """Down leaves a block for the slot after it, Right lands on the block there, Up walks slot by slot onto the next."""
    isolate_calendar_settings(monkeypatch, tmp_path)
    server = ScriptedServer()

    async def scenario() -> None:
        await server.start()
        window, view, calendar = await _focused_calendar(server, qtbot)
        view.select_appointment(2)  # 10:00 with Dr Smith (first column)
        qtbot.keyClick(calendar, Qt.Key.Key_Down)
        assert calendar.selected_id == 0 and calendar.cursor_slot == (0, 10 * 60 + 30)
        assert view.details.current() is None  # the details panel follows the keyboard
        qtbot.keyClick(calendar, Qt.Key.Key_Right)
        assert calendar.selected_id == 3  # 10:30 with Dr Patel
        assert view.details.current()["id"] == 3
        for expected in (0, 0, 1):  # 10:15 free, 10:00 free, 09:45 inside the 09:30 block
            qtbot.keyClick(calendar, Qt.Key.Key_Up)
            assert calendar.selected_id == expected
        qtbot.keyClick(calendar, Qt.Key.Key_Left)
        assert calendar.selected_id == 0 and calendar.cursor_slot == (0, 9 * 60 + 30)
        await window.session.close()
        await server.stop()

    qt_async.run(scenario())


def test_enter_opens_and_delete_asks_before_cancelling(qt_async, qtbot, tmp_path, monkeypatch) -> None:
    """Enter on a block opens it (the move dialog), Enter on a free slot books there, Delete asks to cancel."""
    isolate_calendar_settings(monkeypatch, tmp_path)
    server = ScriptedServer()

    async def scenario() -> None:
        await server.start()
        window, view, calendar = await _focused_calendar(server, qtbot)
        view.select_appointment(2)
        qtbot.keyClick(calendar, Qt.Key.Key_Return)
        await until(lambda: view.findChildren(BookingDialog), what="the appointment's dialog")
        dialog = view.findChildren(BookingDialog)[0]
        assert dialog.isVisible() and dialog.windowTitle() == "Move appointment"
        dialog.close()
        dialog.deleteLater()

        calendar.setFocus()
        qtbot.keyClick(calendar, Qt.Key.Key_Delete)
        await until(lambda: view.findChildren(CancelDialog), what="the cancel confirmation")
        confirm = view.findChildren(CancelDialog)[0]
        assert confirm.isVisible()
        assert "appointments.cancel" not in server.methods()  # nothing cancelled before the user confirms
        confirm.close()
        confirm.deleteLater()

        calendar.setFocus()
        qtbot.keyClick(calendar, Qt.Key.Key_Down)  # the free slot after 10:00–10:30
        assert calendar.selected_id == 0
        qtbot.keyClick(calendar, Qt.Key.Key_Return)
        await until(lambda: [d for d in view.findChildren(BookingDialog) if d.isVisible()], what="the booking dialog")
        booking = next(d for d in view.findChildren(BookingDialog) if d.isVisible())
        assert booking.windowTitle() == "New appointment"
        booking.close()
        await window.session.close()
        await server.stop()

    qt_async.run(scenario())


def test_view_shortcuts_switch_and_the_columns_choice_is_remembered(qt_async, qtbot, tmp_path, monkeypatch) -> None:
    """Ctrl+2 week, Ctrl+1 day, Ctrl+4 by chair; a new window on this workstation opens by chair."""
    settings_file = isolate_calendar_settings(monkeypatch, tmp_path)
    server = ScriptedServer()

    async def scenario() -> None:
        await server.start()
        window, view, calendar = await _focused_calendar(server, qtbot)
        assert view.current_grid() is view.calendar and view.day_view_button.isChecked()
        qtbot.keyClick(calendar, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
        assert view.current_grid() is view.week and view.week_view_button.isChecked()
        assert view.day_label.text().startswith("30 Nov – Sat 05 Dec 2026")
        view.week.setFocus()
        qtbot.keyClick(view.week, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
        assert view.current_grid() is view.calendar
        qtbot.keyClick(calendar, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
        assert calendar.by_chair and view.week.by_chair and view.by_chair_button.isChecked()
        assert next(column.title for column in calendar.columns()) == "Chair 1"
        assert settings_file.exists()
        await window.session.close()

        again = await open_scripted_window(server, "frontdesk", qtbot)
        assert again.view.calendar.by_chair and again.view.by_chair_button.isChecked()
        again.activateWindow()
        await until(again.isActiveWindow, what="the new window to be active")
        again.view.calendar.setFocus()
        qtbot.keyClick(again.view.calendar, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
        assert not again.view.calendar.by_chair
        await again.session.close()
        await server.stop()

    qt_async.run(scenario())


def test_tab_goes_through_the_toolbar_then_the_calendar_pinboard_and_details(qt_async, qtbot, tmp_path, monkeypatch) -> None:
    """The focus chain: toolbar left to right, the calendar, then the pinboard, then the appointment's actions."""
    isolate_calendar_settings(monkeypatch, tmp_path)
    server = ScriptedServer()

    async def scenario() -> None:
        await server.start()
        window = await open_scripted_window(server, "frontdesk", qtbot)
        view = window.view
        chain: list[QWidget] = []
        widget: QWidget = view.previous_week_button
        for _ in range(200):
            chain.append(widget)
            widget = widget.nextInFocusChain()
            if widget is view.previous_week_button:
                break
        wanted = [view.previous_week_button, view.today_button, view.week_view_button, view.by_chair_button,
                  view.new_button, view.calendar, view.pinboard, view.details.action_widgets()[0]]
        positions = [chain.index(w) for w in wanted]
        assert positions == sorted(positions)
        assert all(w.focusPolicy() & Qt.FocusPolicy.TabFocus for w in (view.calendar, view.pinboard))
        await window.session.close()
        await server.stop()

    qt_async.run(scenario())
