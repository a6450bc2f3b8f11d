"""The booking dialog and the patient's booking panel against the real server: free times, preselection, messages."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from qt_async import until
from scripted_server import ScriptedServer
from scripted_windows import open_scripted_window, open_window, slot_at

from clinic_desktop.booking.booking_dialog import BookingDialog
from clinic_desktop.booking.cancel_dialog import CancelDialog
from clinic_desktop.clinic_clock import parse_instant
from clinic_desktop.main_window import MainWindow
from clinic_desktop.sync import Backoff
from clinic_desktop.widgets.error_label import ERROR_TEXT

pytestmark = pytest.mark.slow


async def _open(url: str, username: str, qtbot) -> MainWindow:
    return await open_window(url, username, qtbot, backoff=Backoff(initial=0.2, maximum=1.0))


async def _close(*windows: MainWindow) -> None:
    for window in windows:
        window.close()
        await window.session.close()


def _day(window: MainWindow, ahead: int = 3) -> date:
    day = window.session.clock.today() + timedelta(days=ahead)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _ids(window: MainWindow) -> tuple[int, int, int]:
    """(Check-up type, Dr Smith, Dr Patel)."""
    store = window.session.store
    checkup = next(r["id"] for r in store.rows("appointment_type") if r["name"] == "Check-up")
    smith = next(r["id"] for r in store.rows("dentist") if "Smith" in r["name"])
    patel = next(r["id"] for r in store.rows("dentist") if "Patel" in r["name"])
    return checkup, smith, patel


async def _free(window: MainWindow, type_id: int, dentist_id: int, day: date, **extra: Any) -> list[dict[str, Any]]:
    return await window.session.call("slots.find", type_id=type_id, dentist_id=dentist_id,
                                     **{"from": day.isoformat(), "to": day.isoformat()}, **extra)


async def _common_start(window: MainWindow, type_id: int, day: date, patient_id: int) -> str:
    """A start free with both dentists (and for the patient)."""
    _, smith, patel = _ids(window)
    patels = {parse_instant(s["start"]) for s in await _free(window, type_id, patel, day, patient_id=patient_id)}
    return next(s["start"] for s in await _free(window, type_id, smith, day, patient_id=patient_id)
                if parse_instant(s["start"]) in patels)


def _offers(dialog: BookingDialog, start: str) -> bool:
    return any(parse_instant(s["start"]) == parse_instant(start) for s in dialog.picker.slots())


def test_free_times_follow_the_chosen_patient(qt_async, qtbot, server) -> None:
    """A patient booked with Dr Patel at 10:00: once chosen, Dr Smith's 10:00 is no longer offered for them."""

    async def scenario() -> None:
        desk = await _open(server.ws_url, "frontdesk", qtbot)
        checkup, smith, patel = _ids(desk)
        day = _day(desk)
        patient = await desk.session.call("patients.create", name="Busy Patient", confirm_duplicate=True)
        start = await _common_start(desk, checkup, day, patient["id"])
        await desk.session.call("appointments.create", dentist_id=patel, type_id=checkup, start=start,
                                patient_id=patient["id"])
        dialog = BookingDialog(desk.session, desk.operations, dentist_id=smith,
                               day=desk.session.clock.at(day, "08:00"), parent=desk.view)
        dialog.open()
        await until(lambda: _offers(dialog, start), what="Dr Smith's time offered before a patient is chosen")
        dialog.choose_patient(patient)
        await until(lambda: dialog.picker.slots() and not _offers(dialog, start), what="the patient's clash removed")
        await _close(desk)

    qt_async.run(scenario(), timeout=180)


def test_a_refused_booking_says_so_once(qt_async, qtbot, server) -> None:
    """The time is taken at another desk just before Book: the refusal shows once, the list says nothing more."""

    async def scenario() -> None:
        desk, other = await _open(server.ws_url, "frontdesk", qtbot), await _open(server.ws_url, "frontdesk", qtbot)
        checkup, smith, _patel = _ids(desk)
        day = _day(desk)
        patient = await desk.session.call("patients.create", name="Slow Desk", confirm_duplicate=True)
        rival = await desk.session.call("patients.create", name="Fast Desk", confirm_duplicate=True)
        dialog = BookingDialog(desk.session, desk.operations, dentist_id=smith,
                               day=desk.session.clock.at(day, "08:00"), parent=desk.view)
        dialog.open()
        dialog.choose_patient(patient)
        await until(lambda: dialog.picker.slots() and dialog.picker.queries >= 1, what="slots")
        slot = dialog.picker.slots()[0]
        assert dialog.picker.select_slot(slot)
        await other.session.call("appointments.create", dentist_id=smith, type_id=checkup, start=slot["start"],
                                 patient_id=rival["id"])
        queries = dialog.picker.queries
        assert await dialog.confirm() is None
        await until(lambda: dialog.picker.queries > queries and not dialog.picker._querying, what="the re-query")
        await until(lambda: not _offers(dialog, slot["start"]), what="the taken time gone")
        texts = [dialog.error_label.text(), dialog.picker.status_label.text()]
        assert dialog.error_label.text().startswith("The dentist already has an appointment from")
        assert sum("already has" in t or "taken" in t for t in texts) == 1, texts
        await _close(desk, other)

    qt_async.run(scenario(), timeout=180)


def test_double_clicked_time_is_preselected(qt_async, qtbot, server) -> None:
    """BookingDialog(start=…) (the calendar's double-click) opens on that day with that time selected."""

    async def scenario() -> None:
        desk = await _open(server.ws_url, "frontdesk", qtbot)
        checkup, smith, _patel = _ids(desk)
        day = _day(desk, 5)
        free = await _free(desk, checkup, smith, day)
        wanted = free[len(free) // 2]
        dialog = BookingDialog(desk.session, desk.operations, dentist_id=smith, start=parse_instant(wanted["start"]),
                               parent=desk.view)
        dialog.open()
        await until(lambda: dialog.picker.current_slot() is not None, what="the preselected time")
        assert parse_instant(dialog.picker.current_slot()["start"]) == parse_instant(wanted["start"])
        assert dialog.picker.slot_list.currentItem().isSelected()
        assert desk.session.clock.format_when(wanted["start"]) in dialog.picker.slot_list.currentItem().text()
        await _close(desk)

    qt_async.run(scenario(), timeout=180)


def test_precise_reasons_in_the_users_terms_and_looking_like_errors(qt_async, qtbot, server) -> None:
    """No-show before the start, and a patient already booked at that time: the server's reason, worded for them."""

    async def scenario() -> None:
        desk = await _open(server.ws_url, "frontdesk", qtbot)
        alice = await _open(server.ws_url, "alice", qtbot)
        checkup, smith, patel = _ids(desk)
        day = _day(desk, 4)
        start = await _common_start(desk, checkup, day, alice.session.patient_id)
        booked = await desk.session.call("appointments.create", dentist_id=smith, type_id=checkup, start=start,
                                         patient_id=alice.session.patient_id)

        assert await desk.operations.run("appointments.update", {
            "id": booked["id"], "version": booked["version"], "status": "no_show"}) is None
        assert desk.operations.last_error == "An appointment can't be marked a no-show before it starts."
        assert desk.last_toast == desk.operations.last_error and desk.toast.last_error

        assert await alice.view.book({"dentist_id": patel, "type_id": checkup, "start": start}) is None
        message = alice.view.book_message
        assert message.text().startswith("You already have an appointment from")
        assert ERROR_TEXT in message.styleSheet()
        await _close(desk, alice)

    qt_async.run(scenario(), timeout=180)


def test_patient_booking_says_booked_and_nothing_about_a_taken_time(qt_async, qtbot, server) -> None:
    """After a successful booking the panel says "Booked … See you then!" and the list does not call it taken."""

    async def scenario() -> None:
        alice = await _open(server.ws_url, "alice", qtbot)
        checkup, smith, _patel = _ids(alice)
        picker = alice.view.picker
        picker.set_type(checkup)
        picker.set_dentist(smith)
        picker.set_date(_day(alice, 6))
        await until(lambda: picker.slots(), what="alice's free times")
        slot = picker.slots()[0]
        assert picker.select_slot(slot)
        queries = picker.queries
        alice.view.book_button.click()
        await until(lambda: alice.view.book_message.text().startswith("Booked"), what="the booking")
        await until(lambda: picker.queries > queries and not picker._querying
                    and not any(parse_instant(s["start"]) == parse_instant(slot["start"]) for s in picker.slots()),
                    what="the list without the booked time")
        assert "taken" not in picker.status_label.text()
        assert alice.view.book_message.text().endswith("See you then!")
        await _close(alice)

    qt_async.run(scenario(), timeout=180)


def test_a_long_refusal_fits_its_dialog(qt_async, qtbot) -> None:
    """A patient's late cancel: the server's whole sentence shows in the cancel dialog, in error colours, unclipped."""
    server = ScriptedServer()
    late = ("Appointments starting within 24 hours can't be changed online; please call the clinic "
            "on 020 7946 0958 so that someone else can have the time.")
    server.fail["appointments.cancel"] = {"reason": "too_soon", "message": late}

    async def scenario() -> None:
        await server.start()
        window = await open_scripted_window(server, "alice", qtbot)
        row = {"id": 1, "start": slot_at(1, 9)["start"], "patient_name": "Alice Archer"}
        dialog = CancelDialog(window.session, window.operations, row, parent=window.view)
        dialog.open()
        await dialog.confirm()
        assert dialog.error_label.text() == late
        await until(lambda: not dialog.error_label.is_clipped() and dialog.error_label.height() > 0,
                    what="the dialog to fit the message")
        assert ERROR_TEXT in dialog.error_label.styleSheet()
        await window.session.close()
        await server.stop()

    qt_async.run(scenario())
