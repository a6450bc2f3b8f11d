"""The views against a scripted peer: live slot lists, chat buttons, offline banner, operations, toasts."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import Qt

from clinic_desktop.admin.day_calendar_view import DayCalendarView
from clinic_desktop.booking.booking_dialog import BookingDialog
from clinic_desktop.credential_store import CredentialStore
from clinic_desktop.login.login_window import LoginWindow
from desktop_factories import appointment
from qt_async import until
from scripted_server import ScriptedServer
from scripted_windows import open_scripted_window, slot_at

LONDON = ZoneInfo("Europe/London")


def test_patient_slot_list_requeries_live_and_reports_a_taken_slot(qt_async, qtbot) -> None:
    """An appointment event re-queries slots.find; a selected slot that vanished is reported and unselected."""
    server = ScriptedServer()
    server.slots = [slot_at(1, 9), slot_at(1, 10), slot_at(1, 11)]

    async def scenario() -> None:
        await server.start()
        window = await open_scripted_window(server, "alice", qtbot)
        picker = window.view.picker
        await until(lambda: len(picker.slots()) == 3, what="first slots")
        assert picker.select_slot(server.slots[1])
        assert window.view.book_button.isEnabled()
        queries = picker.queries
        taken = server.slots.pop(1)
        await server.push("appointment", {"id": 77, "version": 1, "dentist_id": 1, "chair_id": None,
                                          "start": taken["start"], "end": taken["end"], "status": "busy",
                                          "busy": True})
        await until(lambda: picker.queries > queries and len(picker.slots()) == 2, what="re-query")
        assert picker.current_slot() is None
        assert "just been taken" in picker.status_label.text()
        assert not window.view.book_button.isEnabled()
        await window.session.close()
        await server.stop()

    qt_async.run(scenario())


def test_booking_failure_is_translated_and_the_button_comes_back(qt_async, qtbot) -> None:
    """slot_unavailable reads as a sentence; the Book button is disabled in flight and re-enabled after."""
    server = ScriptedServer()
    server.slots = [slot_at(1, 9)]
    server.fail["appointments.create"] = "slot_unavailable"
    server.held.add("appointments.create")

    async def scenario() -> None:
        await server.start()
        window = await open_scripted_window(server, "alice", qtbot)
        view = window.view
        await until(lambda: len(view.picker.slots()) == 1)
        view.picker.select_slot(server.slots[0])
        server.hold.clear()
        view.book_button.click()
        await until(lambda: "appointments.create" in server.methods(), what="the request")
        assert not view.book_button.isEnabled()
        server.hold.set()
        await until(lambda: view.book_message.text() != "", what="the failure")
        assert view.book_message.text() == "That time has just been taken. Please pick another slot."
        await until(lambda: view.book_button.isEnabled() or view.picker.current_slot() is None)
        await window.session.close()
        await server.stop()

    qt_async.run(scenario())


def test_chat_offers_slots_as_buttons_that_confirm_by_option_number(qt_async, qtbot) -> None:
    """The assistant's slots become buttons; clicking the second sends "book option 2"."""
    server = ScriptedServer()
    server.slots = [slot_at(2, 9), slot_at(2, 10, 2), slot_at(2, 11)]

    async def scenario() -> None:
        await server.start()
        window = await open_scripted_window(server, "alice", qtbot)
        chat = window.view.chat
        chat.input.setText("a check-up on Thursday")
        chat.send_button.click()
        await until(lambda: len(chat.offered) == 3, what="offered slots")
        button = chat.findChild(type(chat.send_button), "chatSlot2")
        assert "Dr Raj Patel" in button.text()
        button.click()
        await until(lambda: "Done! You are booked." in chat.transcript_text(), what="confirmation")
        texts = [params["text"] for method, params in server.calls if method == "assistant.message"]
        assert texts == ["a check-up on Thursday", "book option 2"]
        assert [p.get("conversation_id") for m, p in server.calls if m == "assistant.message"] == [None, "c1"]
        await window.session.close()
        await server.stop()

    qt_async.run(scenario())


def test_offline_shows_banner_disables_writes_and_queues_nothing(qt_async, qtbot) -> None:
    """When the link drops: status "reconnecting", a banner, write buttons off; back online, all restored."""
    server = ScriptedServer()

    async def scenario() -> None:
        await server.start()
        window = await open_scripted_window(server, "frontdesk", qtbot)
        view = window.view
        assert window.banner.isHidden() and view.new_button.isEnabled()
        await server.stop()
        await until(lambda: window.indicator.state == "reconnecting", what="reconnecting")
        assert window.banner.isVisible() and "nothing is being saved" in window.banner.text()
        assert not view.new_button.isEnabled() and view.open_booking() is None
        result = await window.operations.run("appointments.cancel", {"id": 1})
        assert result is None and "offline" in window.operations.last_error.lower()
        assert "appointments.cancel" not in server.methods()
        await server.start()
        await until(lambda: window.indicator.state == "connected", what="reconnected")
        assert window.banner.isHidden() and view.new_button.isEnabled()
        await window.session.close()
        await server.stop()

    qt_async.run(scenario())


def test_dentist_gets_a_toast_for_a_new_booking_and_latency_is_shown(qt_async, qtbot) -> None:
    """A booking for this dentist made elsewhere pops a toast and updates "last sync" in the status bar."""
    server = ScriptedServer()

    async def scenario() -> None:
        await server.start()
        window = await open_scripted_window(server, "drsmith", qtbot)
        start = datetime.combine(datetime.now(LONDON).date() + timedelta(days=1), time(15, 0), tzinfo=LONDON)
        await server.push("appointment", appointment(300, dentist_id=1, patient_id=2, start=start))
        await until(lambda: window.last_toast.startswith("New booking: Bob Brown"), what="toast")
        assert window.indicator.latency_label.text().startswith("last sync")
        await server.push("appointment", appointment(301, dentist_id=2, patient_id=2, start=start))
        await until(lambda: window.session.store.get("appointment", 301) is not None)
        assert "301" not in window.last_toast and window.last_toast.startswith("New booking: Bob Brown")
        await window.session.close()
        await server.stop()

    qt_async.run(scenario())


def test_wrong_password_is_said_plainly_and_no_keychain_is_survived(qt_async, qtbot) -> None:
    """A refused login says so; with "remember me" and no OS keychain, sign-in still works (nothing remembered)."""
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # no OS keychain, whatever this machine has
    server = ScriptedServer()

    async def scenario() -> None:
        await server.start()
        login = LoginWindow(credentials=CredentialStore(service="DentalCare Connect test"))
        qtbot.addWidget(login)
        login.set_server(server.url)
        login.username_edit.setText("alice")
        login.password_edit.setText("wrong")
        assert await login.sign_in() is None
        assert login.message_label.text() == "Wrong username or password."
        login.password_edit.setText("demo")
        login.remember_check.setChecked(True)
        session = await login.sign_in()
        assert session is not None and session.role == "patient"
        assert CredentialStore(service="DentalCare Connect test").load(server.url, "alice") is None
        await session.close()
        await server.stop()

    try:
        qt_async.run(scenario())
    finally:
        keyring.set_keyring(previous)


def test_calendar_repaints_only_for_its_day_and_hit_tests_blocks(qtbot, store, clock) -> None:
    """A change on another day does not repaint the calendar; a click on a block selects that appointment."""
    day = datetime.now(LONDON).date() + timedelta(days=3)
    calendar = DayCalendarView(store, clock)
    qtbot.addWidget(calendar)
    calendar.resize(900, 700)
    calendar.set_day(day)
    calendar.show()
    start = datetime.combine(day, time(10, 0), tzinfo=LONDON)
    store.upsert("appointment", appointment(1, start=start, dentist_id=2))
    assert calendar.repaints_requested == 1
    store.upsert("appointment", appointment(2, start=start + timedelta(days=1)))
    assert calendar.repaints_requested == 1
    assert calendar.visible_appointment_ids() == {1}
    calendar.grab()  # paint, which lays out the blocks
    with qtbot.waitSignal(calendar.appointment_selected) as blocker:
        rect = next(rect for rect, appointment_id in calendar._blocks if appointment_id == 1)
        qtbot.mouseClick(calendar, Qt.MouseButton.LeftButton, pos=rect.center().toPoint())
    assert blocker.args == [1]
    store.upsert("appointment", appointment(1, version=2, start=start + timedelta(days=1), dentist_id=2))
    assert calendar.visible_appointment_ids() == set() and calendar.repaints_requested == 2


@pytest.mark.parametrize("role", ["frontdesk", "drsmith", "alice"])
def test_each_role_gets_its_view_and_shortcuts_navigate(qt_async, qtbot, role: str) -> None:
    """Every role opens its own view; Ctrl+Right / Ctrl+T move the day (or the booking window) and back."""
    server = ScriptedServer()

    async def scenario() -> None:
        await server.start()
        window = await open_scripted_window(server, role, qtbot)
        view = window.view
        expected = {"frontdesk": "AdminView", "drsmith": "DentistView", "alice": "PatientView"}[role]
        assert type(view).__name__ == expected
        today = window.session.clock.today()
        current = (lambda: view.day) if role != "alice" else (lambda: view.picker.date_edit.date().toPython())
        window.activateWindow()
        await until(window.isActiveWindow, timeout=5, what="an active window")
        view.setFocus()
        qtbot.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
        assert current() == today + timedelta(days=1)
        qtbot.keyClick(view, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
        assert current() == today
        await window.session.close()
        await server.stop()

    qt_async.run(scenario())


def test_front_desk_books_through_search_and_quick_add(qt_async, qtbot) -> None:
    """Search finds Bob; quick-add creates a new patient; Book sends one create with an idempotency key."""
    server = ScriptedServer()
    server.slots = [slot_at(1, 9), slot_at(1, 10, 2)]

    async def scenario() -> None:
        await server.start()
        window = await open_scripted_window(server, "frontdesk", qtbot)
        dialog = window.view.open_booking()
        dialog.patient_search.setText("bo")
        await until(lambda: dialog.patient_results.count() == 1, what="search results")
        dialog.patient_results.setCurrentRow(0)
        assert dialog.patient_label.text().startswith("Booking for: Bob Brown")
        dialog.new_name.setText("Carol Carter")
        dialog.new_phone.setText("07700 900123")
        dialog.add_patient_button.click()
        await until(lambda: "Carol Carter" in dialog.patient_label.text(), what="quick-added patient")
        await until(lambda: len(dialog.picker.slots()) == 2, what="slots")
        assert not dialog.confirm_button.isEnabled()
        dialog.picker.select_slot(server.slots[1])
        assert dialog.confirm_button.isEnabled()
        dialog.notes.setText("First visit")
        finished: list[int] = []
        dialog.finished.connect(finished.append)
        dialog.confirm_button.click()
        await until(lambda: finished, what="the dialog to close after booking")
        creates = [params for method, params in server.calls if method == "appointments.create"]
        assert len(creates) == 1 and creates[0]["notes"] == "First visit" and creates[0]["idempotency_key"]
        booked = next(r for r in window.session.store.rows("appointment") if r["patient_name"] == "Carol Carter")
        assert window.view.calendar.selected_id == booked["id"]
        assert booked["id"] in window.view.calendar.visible_appointment_ids()
        await window.session.close()
        await server.stop()

    qt_async.run(scenario())


def test_moving_sends_update_with_the_current_version(qt_async, qtbot) -> None:
    """Move… offers slots for the same type and sends appointments.update with the row's current version."""
    server = ScriptedServer()
    server.slots = [slot_at(2, 14)]

    async def scenario() -> None:
        await server.start()
        window = await open_scripted_window(server, "frontdesk", qtbot)
        await server.push("appointment", appointment(2, version=4, status="confirmed"))
        await until(lambda: window.session.store.get("appointment", 2)["version"] == 4)
        window.view.select_appointment(2)
        assert window.view.details.move_button.isEnabled()
        window.view.details.move_button.click()
        dialog = window.view.findChild(BookingDialog)
        await until(lambda: dialog is not None and len(dialog.picker.slots()) == 1, what="move slots")
        assert not dialog.picker.type_combo.isEnabled()
        dialog.picker.select_slot(server.slots[0])
        await dialog.confirm()
        update = next(params for method, params in server.calls if method == "appointments.update")
        assert update["id"] == 2 and update["version"] == 4 and update["start"] == server.slots[0]["start"]
        await window.session.close()
        await server.stop()

    qt_async.run(scenario())


def test_slot_list_ignores_changes_outside_its_window(qt_async, qtbot) -> None:
    """A booking for another dentist or another week does not re-query; one in the shown days does."""
    server = ScriptedServer()
    server.slots = [slot_at(1, 9)]

    async def scenario() -> None:
        await server.start()
        window = await open_scripted_window(server, "alice", qtbot)
        picker = window.view.picker
        picker.set_dentist(1)
        await until(lambda: len(picker.slots()) == 1 and not picker._debounce.isActive() and not picker._querying,
                    what="first slots")
        queries = picker.queries
        far = datetime.combine(datetime.now(LONDON).date() + timedelta(days=30), time(9, 0), tzinfo=LONDON)
        await server.push("appointment", appointment(401, dentist_id=1, start=far))
        near = datetime.combine(datetime.now(LONDON).date() + timedelta(days=1), time(15, 0), tzinfo=LONDON)
        await server.push("appointment", appointment(402, dentist_id=2, start=near))
        await until(lambda: window.session.store.get("appointment", 402) is not None)
        assert not picker._debounce.isActive() and picker.queries == queries
        await server.push("appointment", appointment(403, dentist_id=1, start=near))
        await until(lambda: picker.queries > queries, what="a re-query for the shown days")
        await window.session.close()
        await server.stop()

    qt_async.run(scenario())


def test_version_conflict_shows_the_current_row(qt_async, qtbot) -> None:
    """A stale update is refused in words, and the row someone else saved replaces the stale one."""
    server = ScriptedServer()

    async def scenario() -> None:
        await server.start()
        window = await open_scripted_window(server, "frontdesk", qtbot)
        current = appointment(2, version=7, status="checked_in")
        server.fail["appointments.update"] = {"reason": "version_conflict", "current": current}
        result = await window.operations.run("appointments.update", {"id": 2, "version": 1, "status": "confirmed"})
        assert result is None
        assert window.last_toast == "Someone else changed this appointment a moment ago. Please check it and try again."
        assert window.session.store.get("appointment", 2)["status"] == "checked_in"
        await window.session.close()
        await server.stop()

    qt_async.run(scenario())
