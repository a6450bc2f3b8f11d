"""The booking assistant from the patient's chat panel, against a real server, seen live by the front desk."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QPushButton

from clinic_desktop.clinic_clock import parse_instant
from qt_async import until
from test_desktop_live_server import _close, _open

pytestmark = pytest.mark.slow


def test_patient_books_by_chat_click_and_admin_calendar_shows_it(qt_async, qtbot, server) -> None:
    """Alice types a request, clicks an offered slot button, and the front desk's calendar shows the booking."""

    async def scenario() -> None:
        admin = await _open(server.ws_url, "frontdesk", qtbot)
        alice = await _open(server.ws_url, "alice", qtbot)
        chat = alice.view.chat
        chat.input.setText("a check-up with Dr Smith next week in the morning")
        chat.send_button.click()
        await until(lambda: len(chat.offered) > 0, timeout=30, what="slots offered in the chat")
        first = chat.offered[0]
        button = chat.slot_area.findChild(QPushButton, "chatSlot1")
        assert button is not None and "Dr Smith" in button.text()
        known = {row["id"] for row in admin.session.store.rows("appointment")}
        button.click()
        await until(lambda: "booked" in chat.transcript_text().lower(), timeout=30, what="the assistant's confirmation")

        def new_booking():
            return next((row for row in admin.session.store.rows("appointment")
                         if row["id"] not in known and parse_instant(row["start"]) == parse_instant(first["start"])), None)

        await until(lambda: new_booking() is not None, what="the booking in the front desk's store")
        booked = new_booking()
        assert booked["source"] == "assistant" and booked["patient_name"] == "Alice Brown"
        admin.view.set_day(parse_instant(booked["start"]).astimezone(admin.session.clock.zone).date())
        await until(lambda: booked["id"] in admin.view.calendar.visible_appointment_ids(), what="the admin calendar")
        await _close(admin, alice)

    qt_async.run(scenario(), timeout=180)
