"""Choosing the right patient at the front desk (real server): duplicate warning, birth date and phone, keyboard.

With CLINIC_UPDATE_SCREENSHOTS=1 the warning is saved to docs/screenshots/duplicate-patient.png.
"""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from qt_async import until
from scripted_windows import open_window
from test_desktop_conflicts import save_screenshot

from clinic_desktop.booking.booking_dialog import BookingDialog
from clinic_desktop.booking.duplicate_patient_dialog import DuplicatePatientDialog
from clinic_desktop.main_window import MainWindow
from clinic_desktop.sync import Backoff

pytestmark = pytest.mark.slow


async def _desk(url: str, qtbot) -> tuple[MainWindow, BookingDialog]:
    window = await open_window(url, "frontdesk", qtbot, backoff=Backoff(initial=0.2, maximum=1.0))
    dialog = window.view.open_booking()
    assert dialog is not None
    return window, dialog


async def _namesakes(window: MainWindow) -> list[dict[str, Any]]:
    """Two patients called Dana Fox, told apart only by birth date and phone."""
    call = window.session.call
    return [await call("patients.create", name="Dana Fox", date_of_birth="1980-03-04", phone="07700 900111"),
            await call("patients.create", name="Dana Fox", date_of_birth="1991-11-30", phone="07700 900222")]


async def _visible_duplicate_dialog(dialog: BookingDialog) -> DuplicatePatientDialog:
    await until(lambda: isinstance(getattr(dialog, "duplicate_dialog", None), DuplicatePatientDialog)
                and dialog.duplicate_dialog.isVisible(), what="the duplicate warning")
    return dialog.duplicate_dialog


def _table_rows(warning: DuplicatePatientDialog) -> list[list[str]]:
    table = warning.table
    return [[table.item(row, column).text() for column in range(table.columnCount())] for row in range(table.rowCount())]


def test_quick_add_of_an_existing_name_warns_and_use_this_patient_books_for_them(qt_async, qtbot, server,
                                                                                 tmp_path) -> None:
    """Quick-add "Dana Fox": a warning lists both namesakes (birth date, phone); "Use this patient" creates nothing."""

    async def scenario() -> None:
        window, dialog = await _desk(server.ws_url, qtbot)
        first, second = await _namesakes(window)
        dialog.new_name.setText("Dana Fox")
        dialog.add_patient_button.click()
        warning = await _visible_duplicate_dialog(dialog)
        assert _table_rows(warning) == [
            ["Dana Fox", "4 Mar 1980", "07700 900111", "—", "same name"],
            ["Dana Fox", "30 Nov 1991", "07700 900222", "—", "same name"],
        ]
        await save_screenshot(warning, "duplicate-patient.png", tmp_path)
        warning.table.selectRow(1)
        warning.use_button.click()
        await until(lambda: dialog._patient_id == second["id"], what="the chosen namesake")
        assert dialog.patient_label.text() == "Booking for: Dana Fox (born 30 Nov 1991 · 07700 900222)"
        found = await window.session.call("patients.search", query="Dana Fox")
        assert {p["id"] for p in found} == {first["id"], second["id"]}
        window.close()
        await window.session.close()

    qt_async.run(scenario(), timeout=180)


def test_create_anyway_adds_the_second_record(qt_async, qtbot, server) -> None:
    """Quick-add with a known phone warns (same phone); "Create anyway" creates and chooses the new patient."""

    async def scenario() -> None:
        window, dialog = await _desk(server.ws_url, qtbot)
        first, _second = await _namesakes(window)
        dialog.new_name.setText("Dan Fox")
        dialog.new_phone.setText("07700 900111")
        dialog.add_patient_button.click()
        warning = await _visible_duplicate_dialog(dialog)
        assert _table_rows(warning) == [["Dana Fox", "4 Mar 1980", "07700 900111", "—", "same phone"]]
        warning.create_button.click()
        await until(lambda: dialog.patient_label.text().startswith("Booking for: Dan Fox"), what="the new patient")
        assert dialog._patient_id not in (None, first["id"])
        assert [p["name"] for p in await window.session.call("patients.search", query="Dan Fox")] == ["Dan Fox"]
        window.close()
        await window.session.close()

    qt_async.run(scenario(), timeout=180)


def test_results_show_birth_date_and_phone_and_tab_then_down_chooses_the_highlighted_row(qt_async, qtbot,
                                                                                        server) -> None:
    """Tab from the search highlights and chooses the first namesake; Down the second: chosen = highlighted."""

    async def scenario() -> None:
        window, dialog = await _desk(server.ws_url, qtbot)
        first, second = await _namesakes(window)
        dialog.activateWindow()
        dialog.patient_search.setFocus()
        dialog.patient_search.setText("Dana Fox")
        results = dialog.patient_results
        await until(lambda: results.count() == 2, what="two results")
        assert [results.item(row).text() for row in range(2)] == [
            "Dana Fox   born 4 Mar 1980 · 07700 900111", "Dana Fox   born 30 Nov 1991 · 07700 900222"]
        await until(lambda: dialog.patient_search.hasFocus(), what="focus in the search field")

        QTest.keyClick(dialog.patient_search, Qt.Key.Key_Tab)
        await until(lambda: results.hasFocus(), what="focus in the results")
        assert [results.row(item) for item in results.selectedItems()] == [0]
        assert dialog._patient_id == first["id"]
        QTest.keyClick(results, Qt.Key.Key_Down)
        assert [results.row(item) for item in results.selectedItems()] == [1]
        assert dialog._patient_id == second["id"]
        window.close()
        await window.session.close()

    qt_async.run(scenario(), timeout=180)


def test_phone_field_refuses_letters(qt_async, qtbot, server) -> None:
    """Typing "abc" into the quick-add phone leaves it empty; a real number with spaces and + is accepted."""

    async def scenario() -> None:
        window, dialog = await _desk(server.ws_url, qtbot)
        QTest.keyClicks(dialog.new_phone, "abc")
        assert dialog.new_phone.text() == ""
        QTest.keyClicks(dialog.new_phone, "+44 20 7946-0958")
        assert dialog.new_phone.text() == "+44 20 7946-0958"
        window.close()
        await window.session.close()

    qt_async.run(scenario(), timeout=120)
