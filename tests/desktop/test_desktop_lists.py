"""The front desk's lists against a real server, two windows at once: unscheduled, confirmations, recall.

Each list must be live on every workstation: what one desk does shows on the other's list without a refresh.
"""

from __future__ import annotations

import asyncio
import os
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from PySide6.QtWidgets import QApplication, QWidget

from clinic_desktop.lists import install_lists
from clinic_desktop.main_window import MainWindow
from clinic_desktop.sync import Backoff
from qt_async import until
from scripted_windows import open_window
from server.handlers.lists import add_months

pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


async def _open(url: str, qtbot) -> MainWindow:
    window = await open_window(url, "frontdesk", qtbot, backoff=Backoff(initial=0.2, maximum=1.0))
    install_lists(window.view)
    return window


async def _close(*windows: MainWindow) -> None:
    for window in windows:
        window.close()
        await window.session.close()


async def screenshot(widget: QWidget, name: str, tmp_path: Path) -> Path:
    """Saved to docs/screenshots with CLINIC_UPDATE_SCREENSHOTS=1, else to the test's temporary directory."""
    target = DOCS if os.environ.get("CLINIC_UPDATE_SCREENSHOTS") == "1" else tmp_path
    for _ in range(3):
        QApplication.sendPostedEvents()
        await asyncio.sleep(0.05)
    image = widget.grab()
    path = target / name
    assert not image.isNull() and image.save(str(path))
    return path


def sql(url: str, query: str, *args: Any) -> list[Any]:
    """Run one statement on a private loop in a thread (test set-up the app has no way to do: a past visit)."""
    box: dict[str, Any] = {}

    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            box["rows"] = await conn.fetch(query, *args)
        finally:
            await conn.close()

    thread = threading.Thread(target=lambda: asyncio.run(run()))
    thread.start()
    thread.join()
    return box["rows"]


def _type_id(window: MainWindow, name: str) -> int:
    return next(row["id"] for row in window.session.store.rows("appointment_type") if row["name"] == name)


def _patient(window: MainWindow, prefix: str) -> dict[str, Any]:
    return next(row for row in window.session.store.rows("patient") if row["name"].startswith(prefix))


async def _book_on(window: MainWindow, patient_id: int, type_id: int, day: date, last: bool = False,
                   span: int = 7) -> dict[str, Any]:
    slots = await window.session.call("slots.find", type_id=type_id, patient_id=patient_id,
                                      **{"from": day.isoformat(), "to": (day + timedelta(days=span - 1)).isoformat()})
    slot = slots[-1] if last else slots[0]
    created = await window.operations.run("appointments.create", {
        "dentist_id": slot["dentist_id"], "type_id": type_id, "start": slot["start"], "patient_id": patient_id})
    assert created is not None, window.operations.last_error
    return created


def _weekday_ahead(window: MainWindow, days: int) -> date:
    day = window.session.clock.today() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def test_a_cancel_at_one_desk_lands_on_the_others_unscheduled_list_and_leaves_when_rebooked(
        qt_async, qtbot, server, tmp_path) -> None:
    """Desk A cancels; desk B's Unscheduled tab lists it with reason and who; B rebooks in two clicks; it leaves both lists."""

    async def scenario() -> None:
        a = await _open(server.ws_url, qtbot)
        b = await _open(server.ws_url, qtbot)
        checkup = _type_id(a, "Check-up")
        bob = _patient(a, "Bob")
        booked = await _book_on(a, bob["id"], checkup, _weekday_ahead(a, 5))
        b_list = b.view.front_desk_lists.unscheduled
        b.view.tabs.setCurrentIndex(b.view.front_desk_lists.tab_index["unscheduled"])
        assert booked["id"] not in b_list.appointment_ids()

        cancelled = await a.operations.run("appointments.cancel", {"id": booked["id"], "reason": "Off sick"})
        assert cancelled is not None
        await until(lambda: booked["id"] in b_list.appointment_ids(), what="the cancel on B's unscheduled list")
        assert b_list.select(booked["id"])
        texts = [b_list.table.item(0, c).text() for c in range(b_list.table.columnCount())]
        assert texts[1] == "Bob Green" and texts[2] == "Check-up" and texts[5] == "Off sick"
        assert texts[6].startswith("Front Desk, ")
        assert b.view.tabs.tabText(b.view.front_desk_lists.tab_index["unscheduled"]).startswith("Unscheduled (")
        await screenshot(b.view, "unscheduled.png", tmp_path)

        # One click: the booking dialog for Bob and a check-up, the next opening already chosen; one more books it.
        dialog = b_list.rebook()
        assert dialog is not None
        await until(lambda: dialog.confirm_button.isEnabled(), what="the next opening selected")
        assert dialog.picker.type_id() == checkup and "Bob Green" in dialog.patient_label.text()
        dialog.confirm_button.click()
        await until(lambda: booked["id"] not in b_list.appointment_ids(), what="B's list to drop the rebooked one")
        a_list = a.view.front_desk_lists.unscheduled
        await until(lambda: booked["id"] not in a_list.appointment_ids(), what="A's list to drop it too")
        row = a.session.store.get("appointment", booked["id"])
        assert row["unscheduled"]["state"] == "rebooked" and row["unscheduled"]["rebooked_as"]
        await _close(a, b)

    qt_async.run(scenario(), timeout=240)


def test_a_dismissed_no_show_leaves_every_desks_list(qt_async, qtbot, server) -> None:
    """Dismiss at one desk takes the appointment off the other desk's list too, and off its own."""

    async def scenario() -> None:
        a = await _open(server.ws_url, qtbot)
        b = await _open(server.ws_url, qtbot)
        alice = _patient(a, "Alice")
        booked = await _book_on(a, alice["id"], _type_id(a, "Filling"), _weekday_ahead(a, 6))
        assert await a.operations.run("appointments.cancel", {"id": booked["id"]}) is not None
        a_list, b_list = a.view.front_desk_lists.unscheduled, b.view.front_desk_lists.unscheduled
        await until(lambda: booked["id"] in a_list.appointment_ids() and booked["id"] in b_list.appointment_ids())
        assert a_list.select(booked["id"])
        a_list.dismiss_button.click()
        await until(lambda: booked["id"] not in b_list.appointment_ids(), what="B's list to drop the dismissed one")
        assert booked["id"] not in a_list.appointment_ids()
        await _close(a, b)

    qt_async.run(scenario(), timeout=240)


def test_confirming_from_the_list_marks_the_appointment_in_a_second_window(qt_async, qtbot, server, tmp_path) -> None:
    """Desk A records "left message", then "confirmed": B's store row carries who and when, its list shows the call,
    then drops the appointment; the appointment is confirmed (the block's status colour) in both windows."""

    async def scenario() -> None:
        a = await _open(server.ws_url, qtbot)
        b = await _open(server.ws_url, qtbot)
        a_lists, b_lists = a.view.front_desk_lists, b.view.front_desk_lists
        a.view.tabs.setCurrentIndex(a_lists.tab_index["confirmations"])
        from clinic_desktop.lists.working_days import next_working_days

        days = next_working_days(a.session.store, a.session.clock, 2)
        assert len(days) == 2
        gina = await a.operations.run("patients.create", {"name": "Gina Park", "phone": "07700 900123",
                                                          "preferred_contact": "sms", "confirm_duplicate": True})
        await until(lambda: a.session.store.get("patient", gina["id"]) is not None)
        booked = await _book_on(a, gina["id"], _type_id(a, "Check-up"), days[-1], last=True, span=1)
        assert a.session.clock.local_date(booked["start"]) in days
        panel = a_lists.confirmations
        await until(lambda: booked["id"] in panel.appointment_ids() and booked["id"] in b_lists.confirmations.appointment_ids(),
                    what="the booking on both confirmation lists")
        texts = panel.row_texts(booked["id"])
        assert texts[1] == "Gina Park" and texts[2] == "07700 900123" and texts[4] == "Text message" and texts[5] == ""

        assert panel.select(booked["id"])
        panel.buttons["left_message"].click()
        await until(lambda: (b.session.store.get("appointment", booked["id"]).get("confirmation") or {}).get("state")
                    == "left_message", what="the call in B's store")
        await until(lambda: b_lists.confirmations.row_texts(booked["id"])[5].startswith("Left message — Front Desk"),
                    what="B's list to show the call")
        await screenshot(a.view, "confirmations.png", tmp_path)

        await until(lambda: panel.select(booked["id"]) and panel.buttons["confirmed"].isEnabled())
        panel.buttons["confirmed"].click()
        await until(lambda: b.session.store.get("appointment", booked["id"])["status"] == "confirmed",
                    what="confirmed in B's store")
        row = b.session.store.get("appointment", booked["id"])
        assert row["confirmation"]["state"] == "confirmed" and row["confirmation"]["by_name"] == "Front Desk"
        assert row["confirmation"]["at"]
        await until(lambda: booked["id"] not in b_lists.confirmations.appointment_ids(), what="B's list to drop it")
        assert booked["id"] not in panel.appointment_ids()
        # B's calendar block is drawn from that row: its status is confirmed.
        b.view.set_day(a.session.clock.local_date(booked["start"]))
        assert booked["id"] in b.view.calendar.visible_appointment_ids()
        await _close(a, b)

    qt_async.run(scenario(), timeout=240)


def test_a_patient_due_for_recall_is_in_the_months_list_and_leaves_it_when_booked(qt_async, qtbot, server,
                                                                                   tmp_path) -> None:
    """Alice's check-up was six months ago: she is due this month; Schedule… books her and she leaves the list
    at this desk and at another."""
    today = date.today()
    last = add_months(today, -6)
    start = datetime(last.year, last.month, last.day, 10, tzinfo=timezone.utc)
    rows = sql(server.database_url,
               "INSERT INTO appointments (patient_id, dentist_id, type_id, start_at, end_at, status, source) "
               "SELECT p.id, (SELECT min(id) FROM dentists), t.id, $1, $2, 'completed', 'front_desk' "
               "FROM patients p, appointment_types t WHERE p.name = 'Alice Brown' AND t.name = 'Check-up' "
               "RETURNING patient_id", start, start + timedelta(minutes=30))
    alice_id = rows[0]["patient_id"]

    async def scenario() -> None:
        a = await _open(server.ws_url, qtbot)
        b = await _open(server.ws_url, qtbot)
        checkup = _type_id(a, "Check-up")
        # The demo books Alice a check-up in the coming days: cancel those, so the check-up is still to book.
        for row in list(a.session.store.rows("appointment")):
            if row["patient_id"] == alice_id and row["type_id"] == checkup and row["status"] in ("scheduled", "confirmed"):
                assert await a.operations.run("appointments.cancel", {"id": row["id"]}) is not None
        recall, other = a.view.front_desk_lists.recall, b.view.front_desk_lists.recall
        a.view.tabs.setCurrentIndex(a.view.front_desk_lists.tab_index["recall"])
        b.view.tabs.setCurrentIndex(b.view.front_desk_lists.tab_index["recall"])
        month = today.strftime("%Y-%m")
        assert recall.month() == month
        await until(lambda: alice_id in recall.patient_ids() and alice_id in other.patient_ids(),
                    what="Alice on both recall lists")
        mine = [r for r in recall.rows() if r["patient_id"] == alice_id]
        assert [(r["type_name"], r["last"]) for r in mine] == [("Check-up", last.isoformat())]
        earlier = add_months(today.replace(day=1), -1).strftime("%Y-%m")
        recall.set_month(earlier)
        await until(lambda: recall.month() == earlier and recall.loads >= 2 and alice_id not in recall.patient_ids(),
                    what="not due a month earlier")
        recall.set_month(month)
        await until(lambda: alice_id in recall.patient_ids(), what="due again this month")
        assert recall.select(alice_id, checkup)
        await screenshot(a.view, "recall.png", tmp_path)

        dialog = recall.schedule()
        assert dialog is not None
        await until(lambda: dialog.confirm_button.isEnabled(), what="the next opening selected")
        assert dialog.picker.type_id() == checkup
        dialog.confirm_button.click()
        await until(lambda: alice_id not in recall.patient_ids(), what="Alice to leave this desk's list")
        await until(lambda: alice_id not in other.patient_ids(), what="and the other desk's")
        await _close(a, b)

    qt_async.run(scenario(), timeout=240)
