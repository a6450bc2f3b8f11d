"""Screenshots of the login window and the three views on the demo data, at 1280x800, offscreen.

Written to a temporary directory on every run (so rendering against real data is exercised);
with CLINIC_UPDATE_SCREENSHOTS=1 they replace docs/screenshots/*.png.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QWidget

from clinic_desktop.login.login_window import LoginWindow
from qt_async import until
from scripted_windows import open_window

pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _target(tmp_path: Path) -> Path:
    if os.environ.get("CLINIC_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        return DOCS
    return tmp_path


async def _save(widget: QWidget, path: Path) -> None:
    # Let pending layout requests and repaints run first (Qt lays out lazily): grab what a user sees.
    for _ in range(3):
        QApplication.sendPostedEvents()
        await asyncio.sleep(0.05)
    image = widget.grab()
    assert not image.isNull() and image.width() >= 400
    assert image.save(str(path))


def test_screenshots_of_login_and_the_three_views(qt_async, qtbot, server, tmp_path: Path) -> None:
    """Each screen renders the demo data at 1280x800 without error (and refreshes the docs when asked)."""
    target = _target(tmp_path)

    async def scenario() -> None:
        login = LoginWindow()
        qtbot.addWidget(login)
        login.set_server(server.ws_url)
        login.username_edit.setText("frontdesk")
        login.password_edit.setText("demo")
        login.show_hint("Demo users (password “demo”): frontdesk, drsmith, drpatel, alice, bob.")
        login.resize(480, 420)
        login.show()
        await until(login.isVisible)
        await _save(login, target / "login.png")

        admin = await open_window(server.ws_url, "frontdesk", qtbot)
        clock = admin.session.clock
        busiest = max(
            (clock.today() + timedelta(days=d) for d in range(0, 14)),
            key=lambda day: len(admin.view.calendar.appointments_on(day)),
        )
        admin.view.set_day(busiest)
        shown = sorted(admin.view.calendar.appointments_on(busiest), key=lambda row: row["start"])
        if shown:
            admin.view.select_appointment(shown[0]["id"])
        await until(lambda: admin.indicator.state == "connected")
        await _save(admin, target / "admin-calendar.png")
        admin.view.tabs.setCurrentIndex(1)
        admin.view.list_panel.range_filter.setCurrentIndex(2)  # upcoming
        await _save(admin, target / "admin-list.png")

        dentist = await open_window(server.ws_url, "drsmith", qtbot)
        own = sorted((row for row in dentist.session.store.rows("appointment")
                      if row.get("dentist_id") == dentist.session.dentist_id and not row.get("busy")
                      and clock.local_date(row["start"]) >= clock.today()), key=lambda row: row["start"])
        if own:
            dentist.view.set_day(clock.local_date(own[0]["start"]))
            dentist.view.select_appointment(own[0]["id"])
        await _save(dentist, target / "dentist-day.png")

        patient = await open_window(server.ws_url, "alice", qtbot)
        picker = patient.view.picker
        day = clock.today() + timedelta(days=1)
        while day.weekday() >= 5:
            day += timedelta(days=1)
        picker.set_date(day)
        await until(lambda: picker.slots(), what="free slots", timeout=30)
        picker.slot_list.setCurrentRow(min(2, len(picker.slots()) - 1))
        chat = patient.view.chat
        await chat.send("Can I have a check-up next week in the morning?")
        await _save(patient, target / "patient-booking-chat.png")

        for window in (admin, dentist, patient):
            window.close()
            await window.session.close()

    qt_async.run(scenario(), timeout=180)
