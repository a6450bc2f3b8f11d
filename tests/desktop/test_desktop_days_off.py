"""Days off over booked appointments, and the days-off editor, against a real server and several app windows.

A day off saved over bookings is warned about first (patient, time, dentist; "Save anyway" / "Cancel"),
then the stranded appointment is flagged on the front desk's calendar and "Needs rebooking" list, in the
dentist's day and in the patient's list, until it is moved; patients never learn the day off's reason.
"""

from __future__ import annotations

import asyncio
import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QDate
from PySide6.QtWidgets import QApplication, QWidget

from clinic_desktop.admin.availability_dialog import AvailabilityDialog, parse_day_hours
from clinic_desktop.clinic_clock import parse_instant
from clinic_desktop.main_window import MainWindow
from clinic_desktop.models import AppointmentRole, AppointmentTableModel
from clinic_desktop.sync import Backoff
from qt_async import until
from scripted_server import ScriptedServer
from scripted_windows import open_scripted_window, open_window

pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


async def _open(url: str, username: str, qtbot) -> MainWindow:
    return await open_window(url, username, qtbot, backoff=Backoff(initial=0.2, maximum=1.0))


def _weekday_ahead(window: MainWindow, days: int) -> date:
    day = window.session.clock.today() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


async def _book(admin: MainWindow, day: date, patient_id: int, dentist_id: int = 1) -> dict[str, Any]:
    slots = await admin.session.call("slots.find", type_id=1, dentist_id=dentist_id, patient_id=patient_id,
                                     **{"from": day.isoformat(), "to": day.isoformat()})
    assert slots, f"no free slot on {day}"
    booked = await admin.operations.run("appointments.create", {
        "dentist_id": dentist_id, "type_id": 1, "start": slots[-1]["start"], "patient_id": patient_id})
    assert booked is not None
    return booked


def _status_text(model: AppointmentTableModel, appointment_id: int) -> str:
    row = model.row_of(appointment_id)
    return "" if row is None else model.index(row, model.COL_STATUS).data().lower()


async def _screenshot(widget: QWidget, name: str, tmp_path: Path) -> None:
    """Saved to docs/screenshots with CLINIC_UPDATE_SCREENSHOTS=1, else to the test's temporary directory."""
    target = DOCS if os.environ.get("CLINIC_UPDATE_SCREENSHOTS") == "1" else tmp_path
    for _ in range(3):
        QApplication.sendPostedEvents()
        await asyncio.sleep(0.05)
    image = widget.grab()
    assert not image.isNull() and image.save(str(target / name))


def test_a_day_off_over_a_booking_warns_then_flags_it_everywhere_until_moved(qt_async, qtbot, server, tmp_path) -> None:
    """Front desk adds a day off over Alice's booking: warned (Cancel saves nothing), saved anyway, then the
    booking is flagged for the desk, Dr Smith and Alice — and the flag clears everywhere once it is moved."""

    async def scenario() -> None:
        admin = await _open(server.ws_url, "frontdesk", qtbot)
        dentist = await _open(server.ws_url, "drsmith", qtbot)
        alice = await _open(server.ws_url, "alice", qtbot)
        store = admin.session.store
        day = _weekday_ahead(admin, 9)
        booked = await _book(admin, day, alice.session.patient_id)
        await until(lambda: alice.session.store.get("appointment", booked["id"]), what="alice's copy")
        exceptions_before = len(store.rows("schedule_exception"))

        admin.view.set_day(day)
        dialog = AvailabilityDialog(admin.session, admin.operations, dentist_id=1, day=day, parent=admin)
        dialog.show()
        assert qdate_of(dialog.from_date.date()) == day == qdate_of(dialog.to_date.date())
        assert dialog.all_day_check.isChecked() and not dialog.from_time.isEnabled()
        dialog.reason_edit.setText("Dental conference")
        dialog.add_button.click()
        await until(lambda: dialog.stranded_warning is not None and dialog.stranded_warning.isVisible(),
                    what="the stranded-appointments warning")
        warning = dialog.stranded_warning
        assert "Alice Brown" in warning.patients()
        when = f"{admin.session.clock.format_when(booked['start'])}–{admin.session.clock.format_time(booked['end'])}"
        rows = {warning.table.item(r, 0).text(): (warning.table.item(r, 1).text(), warning.table.item(r, 2).text())
                for r in range(warning.table.rowCount())}
        assert rows["Alice Brown"] == (when, store.get("dentist", 1)["name"])
        assert warning.save_button.text() == "Save anyway" and warning.cancel_button.isDefault()
        warning.cancel_button.click()
        await until(lambda: dialog.message_label.text().startswith("Not saved"), what="cancelled")
        assert len(store.rows("schedule_exception")) == exceptions_before

        dialog.add_button.click()
        await until(lambda: dialog.stranded_warning is not None and dialog.stranded_warning.isVisible(),
                    what="the warning again")
        dialog.stranded_warning.save_button.click()
        await until(lambda: "needs rebooking" in dialog.message_label.text(), what="saved with a rebooking note")
        assert len(store.rows("schedule_exception")) == exceptions_before + 1

        # The front desk: a marked block, a list entry (and its count on the tab), the details panel.
        panel = admin.view.rebooking_panel
        await until(lambda: booked["id"] in panel.appointment_ids(), what="the Needs rebooking list")
        assert admin.view.tabs.tabText(admin.view.rebooking_tab).startswith("Needs rebooking (")
        admin.view.calendar.grab()
        assert "needs rebooking" in admin.view.calendar.painted_blocks()[booked["id"]]
        panel.list.setCurrentRow(panel.appointment_ids().index(booked["id"]))
        assert admin.view.details.appointment_id == booked["id"] and admin.view.details.stranded_label.isVisible()
        # The dentist: the day's table and timeline.
        dentist.view.set_day(day)
        await until(lambda: "needs rebooking" in _status_text(dentist.view.model, booked["id"]), what="dentist's flag")
        dentist.view.timeline.grab()
        assert "needs rebooking" in dentist.view.timeline.painted_blocks()[booked["id"]]
        # The patient: her appointment says so; the day off's reason never reached her.
        await until(lambda: "needs rebooking" in _status_text(alice.view.model, booked["id"]), what="alice's flag")
        assert alice.view.model.index(alice.view.model.row_of(booked["id"]), 0).data(AppointmentRole.STRANDED)
        assert all(row["reason"] == "" for row in alice.session.store.rows("schedule_exception"))
        assert any(row["reason"] == "Dental conference" for row in dentist.session.store.rows("schedule_exception"))
        await _screenshot(admin, "stranded-flagged.png", tmp_path)
        dentist.view.select_appointment(booked["id"])
        await _screenshot(dentist, "stranded-dentist.png", tmp_path)
        await _screenshot(alice, "stranded-patient.png", tmp_path)

        # Moved to another working day: the flag clears on all three screens by itself.
        other = _weekday_ahead(admin, 10 if day.weekday() < 4 else 12)
        slots = await admin.session.call("slots.find", type_id=1, dentist_id=1, patient_id=alice.session.patient_id,
                                         **{"from": other.isoformat(), "to": other.isoformat()})
        moved = await admin.operations.run("appointments.update", {
            "id": booked["id"], "version": store.get("appointment", booked["id"])["version"], "start": slots[0]["start"]})
        assert moved is not None
        await until(lambda: booked["id"] not in panel.appointment_ids(), what="the list to drop it")
        await until(lambda: "needs rebooking" not in _status_text(dentist.view.model, booked["id"]), what="dentist")
        await until(lambda: "needs rebooking" not in _status_text(alice.view.model, booked["id"]), what="alice")
        assert not admin.view.details.stranded_label.isVisible()
        dialog.close()
        for window in (admin, dentist, alice):
            window.close()
            await window.session.close()

    qt_async.run(scenario(), timeout=180)


def qdate_of(value: QDate) -> date:
    return date(value.year(), value.month(), value.day())


def test_shortened_weekly_hours_warn_with_the_booking_they_strand(qt_async, qtbot, server, tmp_path) -> None:
    """Typing "9-12" (or "13-17") for a weekday with a booking outside it shows the warning before saving."""

    async def scenario() -> None:
        admin = await _open(server.ws_url, "frontdesk", qtbot)
        day = _weekday_ahead(admin, 8)
        booked = await _book(admin, day, patient_id=2, dentist_id=2)
        hour = admin.session.clock.local(booked["start"]).hour
        dialog = AvailabilityDialog(admin.session, admin.operations, dentist_id=2, day=day, parent=admin)
        dialog.resize(720, 640)
        dialog.show()
        dialog.weekly_table.item(day.weekday(), 0).setText("13-17" if hour < 12 else "9-12")
        dialog.save_button.click()
        await until(lambda: dialog.stranded_warning is not None and dialog.stranded_warning.isVisible(),
                    what="the warning")
        warning = dialog.stranded_warning
        assert "Bob Green" in warning.patients()
        assert "Saving these weekly hours leaves" in warning.message.text()
        await _screenshot(warning, "stranded-warning.png", tmp_path)
        warning.cancel_button.click()
        await until(lambda: dialog.message_label.text().startswith("Not saved"), what="not saved")
        weekday_rows = [r for r in admin.session.store.rows("working_hours")
                        if r["dentist_id"] == 2 and r["weekday"] == day.weekday()]
        assert len(weekday_rows) == 2  # morning and afternoon, as before
        dialog.close()
        admin.close()
        await admin.session.close()

    qt_async.run(scenario(), timeout=120)


def test_hours_are_typed_forgivingly() -> None:
    """"9-13", "9:00 - 13:30", "0900-1300" and "9.30–12; 13-17" are all understood; nonsense is still refused."""
    assert parse_day_hours("9-13") == [("09:00", "13:00")]
    assert parse_day_hours("9:00 - 13:30") == [("09:00", "13:30")]
    assert parse_day_hours("0900-1300") == [("09:00", "13:00")]
    assert parse_day_hours("9.30–12; 13-17") == [("09:30", "12:00"), ("13:00", "17:00")]
    for nonsense in ("nine to five", "17-9", "25-26"):
        with pytest.raises(ValueError):
            parse_day_hours(nonsense)


def test_days_off_editor_takes_typed_dates_and_times_and_an_all_day_choice(qt_async, qtbot) -> None:
    """Dates and times are typed digit by digit; the default is the day on screen; "All day" sends whole days."""
    server = ScriptedServer()

    async def scenario() -> None:
        await server.start()
        window = await open_scripted_window(server, "frontdesk", qtbot)
        clock = window.session.clock
        shown = clock.today() + timedelta(days=5)
        dialog = AvailabilityDialog(window.session, window.operations, dentist_id=1, day=shown, parent=window)
        dialog.show()
        assert qdate_of(dialog.from_date.date()) == shown == qdate_of(dialog.to_date.date())

        dialog.add_button.click()  # all day, the shown day
        await until(lambda: _adds(server), what="exceptions.add")
        sent = _adds(server)[-1]
        assert parse_instant(sent["start"]) == clock.at(shown, "00:00")
        assert parse_instant(sent["end"]) == clock.at(shown + timedelta(days=1), "00:00")

        # Typed, not arrowed: a date and two times from the keyboard.
        target = shown + timedelta(days=30)
        dialog.from_date.setSelectedSection(dialog.from_date.Section.DaySection)  # as Tab into it does
        qtbot.keyClicks(dialog.from_date, target.strftime("%d%m%Y"))
        assert qdate_of(dialog.from_date.date()) == target
        assert qdate_of(dialog.to_date.date()) == target  # kept in step: it cannot end before it starts
        dialog.all_day_check.setChecked(False)
        assert dialog.from_time.isEnabled()
        for edit, typed in ((dialog.from_time, "1030"), (dialog.to_time, "1400")):
            edit.setSelectedSection(edit.Section.HourSection)
            qtbot.keyClicks(edit, typed)
        count = len(_adds(server))
        dialog.add_button.click()
        await until(lambda: len(_adds(server)) > count, what="the second exceptions.add")
        sent = _adds(server)[-1]
        assert parse_instant(sent["start"]) == clock.at(target, "10:30")
        assert parse_instant(sent["end"]) == clock.at(target, "14:00")
        dialog.close()
        await window.session.close()
        await server.stop()

    qt_async.run(scenario())


def _adds(server: ScriptedServer) -> list[dict[str, Any]]:
    """The exceptions.add calls that saved (not the dry runs that asked first)."""
    return [params for method, params in server.calls if method == "exceptions.add" and not params.get("dry_run")]

