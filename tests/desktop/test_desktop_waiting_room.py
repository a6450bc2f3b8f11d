"""The waiting room, live across windows: the front desk checks a patient in, the dentist's window shows
who is waiting and for how long (ticking) and announces the arrival; seating moves them to "in chair"."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication
from qt_async import until
from scripted_windows import open_window

from clinic_desktop.admin.waiting_room_panel import (
    WaitingRoomPanel,
    format_wait,
    waiting_room,
)
from clinic_desktop.clinic_clock import ClinicClock
from clinic_desktop.main_window import MainWindow
from clinic_desktop.sync import Backoff

pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


async def _open(url: str, username: str, qtbot) -> MainWindow:
    return await open_window(url, username, qtbot, backoff=Backoff(initial=0.2, maximum=1.0))


async def _book_today(admin: MainWindow, patient_id: int, dentist_id: int, minutes_ahead: int) -> dict[str, Any]:
    """An appointment later today (staff override: the test may run outside the demo's hours)."""
    clock = admin.session.clock
    start = clock.now() + timedelta(minutes=minutes_ahead)
    start = start.replace(minute=start.minute - start.minute % 15, second=0, microsecond=0)
    if start.date() != clock.today():
        pytest.skip("too close to midnight for an appointment later today")
    booked = await admin.operations.run("appointments.create", {
        "dentist_id": dentist_id, "type_id": 1, "start": start.isoformat(), "patient_id": patient_id,
        "override": True})
    assert booked is not None, admin.operations.last_error
    return booked


def test_waiting_room_pure_core_orders_the_longest_wait_first() -> None:
    """Waiting patients by arrival (longest first), then those in the chair; other days and statuses left out."""
    clock = ClinicClock("Europe/London")
    today = clock.today()
    base = clock.at(today, "10:00")

    def row(i: int, status: str, arrived: int | None, day_offset: int = 0) -> dict[str, Any]:
        start = base + timedelta(days=day_offset, minutes=15 * i)
        return {"id": i, "patient_name": f"P{i}", "dentist_id": 1, "start": start.isoformat(), "status": status,
                "arrived_at": (base + timedelta(minutes=arrived)).isoformat() if arrived is not None else None}

    rows = [row(1, "checked_in", 5), row(2, "checked_in", -3), row(3, "in_chair", -10), row(4, "confirmed", None),
            row(5, "checked_in", 0, day_offset=1)]
    entries = waiting_room(rows, day=today, clock=clock)
    assert [(e.patient_name, e.status) for e in entries] == [("P2", "checked_in"), ("P1", "checked_in"),
                                                            ("P3", "in_chair")]
    assert [format_wait(s) for s in (5, 60, 61 * 60 + 5)] == ["5 s", "1 min", "1 h 01 min"]


def test_check_in_shows_the_waiting_time_in_the_dentists_window(qt_async, qtbot, server, tmp_path) -> None:
    """The desk checks Bob in: Dr Smith's window announces him, lists him as waiting with a ticking time;
    seating him moves him to "in chair" on both screens."""

    async def scenario() -> None:
        desk = await _open(server.ws_url, "frontdesk", qtbot)
        dentist = await _open(server.ws_url, "drsmith", qtbot)
        smith = dentist.session.dentist_id
        patients = {p["name"]: p["id"] for p in desk.session.store.rows("patient")}
        appt = await _book_today(desk, patients["Bob Green"], smith, 30)
        second = await _book_today(desk, patients["Alice Brown"], smith, 75)
        desk_panel = WaitingRoomPanel(desk.session.store, desk.session.clock)
        qtbot.addWidget(desk_panel)
        panel = dentist.view.waiting_room
        assert panel.waiting() == [] and panel.summary.text() == "Nobody is waiting."

        await until(lambda: dentist.session.store.get("appointment", appt["id"]) is not None, what="the booking")
        checked = await desk.operations.update_appointment(appt, {"status": "checked_in"})
        assert checked is not None and checked["arrived_at"] is not None
        await until(lambda: [e.appointment_id for e in panel.waiting()] == [appt["id"]],
                    what="Bob waiting in the dentist's window")
        assert dentist.view.last_arrival is not None and "Bob Green has arrived" in dentist.view.last_arrival
        assert "Bob Green has arrived" in dentist.last_toast
        tab = dentist.view.side_tabs.tabText(dentist.view.side_tabs.indexOf(panel))
        assert tab == "Waiting room (1)"
        [texts] = panel.row_texts()
        arrived_local = dentist.session.clock.local(checked["arrived_at"])
        assert texts[0] == "Bob Green" and texts[3] == f"{arrived_local:%H:%M}"
        first_wait = texts[4]
        assert first_wait.endswith((" s", " min"))
        # The wait ticks on by itself: a later reading shows more seconds (or a minute).
        await until(lambda: panel.row_texts()[0][4] != first_wait, timeout=5, what="the waiting time to tick")
        assert panel.summary.text() == "1 waiting · 0 in the chair"
        await until(lambda: [e.appointment_id for e in desk_panel.waiting()] == [appt["id"]], what="desk panel")

        # Alice arrives too; Bob goes in: Bob "in chair", Alice the one waiting, on both screens.
        await until(lambda: desk.session.store.get("appointment", second["id"]) is not None, what="second booking")
        await desk.operations.update_appointment(second, {"status": "checked_in"})
        current = desk.session.store.get("appointment", appt["id"])
        seated = await dentist.operations.update_appointment(
            dentist.session.store.get("appointment", appt["id"]) or current, {"status": "in_chair"})
        assert seated is not None and seated["in_chair_at"] is not None
        await until(lambda: [e.appointment_id for e in panel.waiting()] == [second["id"]]
                    and desk_panel.summary.text() == "1 waiting · 1 in the chair", what="Bob seated, Alice waiting")
        assert any(row[4].startswith("in chair") for row in desk_panel.row_texts())

        if os.environ.get("CLINIC_UPDATE_SCREENSHOTS") == "1":
            dentist.view.side_tabs.setCurrentWidget(panel)
            dentist.view.select_appointment(second["id"])
            await until(lambda: panel.row_texts()[0][4] not in ("0 s", "1 s", "2 s"), timeout=10, what="a visible wait")
            for _ in range(3):
                QApplication.sendPostedEvents()
                await asyncio.sleep(0.05)
            assert dentist.grab().save(str(DOCS / "waiting-room.png"))
        for window in (desk, dentist):
            window.close()
            await window.session.close()

    qt_async.run(scenario())
