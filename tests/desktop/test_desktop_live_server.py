"""Several desktop clients against a real sync server: changes appear everywhere, live, and survive a restart.

Uses the `server` fixture from tests/conftest.py (a real `clinic-server serve` on a fresh demo database).
Every client runs on one qasync loop, as the app does; waits are on conditions, never on sleeps.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from clinic_desktop.clinic_clock import parse_instant
from clinic_desktop.main_window import MainWindow
from clinic_desktop.models import AppointmentRole
from clinic_desktop.store import EntityStore
from clinic_desktop.sync import Backoff, SyncClient
from qt_async import until
from scripted_windows import open_window

pytestmark = pytest.mark.slow


async def _open(url: str, username: str, qtbot) -> MainWindow:
    return await open_window(url, username, qtbot, backoff=Backoff(initial=0.2, maximum=1.0))


async def _close(*windows: MainWindow) -> None:
    for window in windows:
        window.close()
        await window.session.close()


def _booking_day(window: MainWindow) -> date:
    """A weekday at least two days ahead: inside the demo hours, past the minimum notice."""
    day = window.session.clock.today() + timedelta(days=2)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _type_id(store: EntityStore, name: str) -> int:
    return next(row["id"] for row in store.rows("appointment_type") if row["name"] == name)


def _same_instant(a: str, b: str) -> bool:
    return parse_instant(a) == parse_instant(b)


def _day_ids(window: MainWindow) -> set[int]:
    proxy = window.view.day_proxy
    return {proxy.index(row, 0).data(AppointmentRole.ID) for row in range(proxy.rowCount())}


def test_patient_booking_appears_in_admin_and_dentist_views_and_leaves_other_patients_slots(qt_async, qtbot, server) -> None:
    """Alice books in the patient view: the admin calendar and Dr Smith's day show it, Bob's slot list loses it."""

    async def scenario() -> None:
        admin = await _open(server.ws_url, "frontdesk", qtbot)
        dentist = await _open(server.ws_url, "drsmith", qtbot)
        alice = await _open(server.ws_url, "alice", qtbot)
        bob = await _open(server.ws_url, "bob", qtbot)
        day = _booking_day(admin)
        checkup = _type_id(alice.session.store, "Check-up")
        smith = dentist.session.dentist_id
        admin.view.set_day(day)
        dentist.view.set_day(day)
        for patient in (alice, bob):
            picker = patient.view.picker
            picker.set_type(checkup)
            picker.set_dentist(smith)
            picker.set_date(day)
        await until(lambda: alice.view.picker.slots() and bob.view.picker.slots(), what="free slots for both patients")
        # A time free for both (on some weekdays the demo gives Bob an appointment in Alice's first slot).
        slot = next(a for a in alice.view.picker.slots()
                    if any(_same_instant(b["start"], a["start"]) for b in bob.view.picker.slots()))
        calendar_before = set(admin.view.calendar.visible_appointment_ids())

        assert alice.view.picker.select_slot(slot)
        alice.view.book_button.click()
        await until(lambda: alice.view.book_message.text().startswith("Booked"), what="alice's booking")
        booked = next(row for row in alice.session.store.rows("appointment")
                      if row.get("patient_id") == alice.session.patient_id and _same_instant(row["start"], slot["start"]))

        await until(lambda: booked["id"] in admin.view.calendar.visible_appointment_ids(), what="admin calendar")
        assert admin.view.calendar.visible_appointment_ids() - calendar_before == {booked["id"]}
        assert admin.session.store.get("appointment", booked["id"])["patient_name"]
        await until(lambda: booked["id"] in _day_ids(dentist), what="dentist's day")
        await until(lambda: not any(_same_instant(s["start"], slot["start"]) and s["dentist_id"] == smith
                                    for s in bob.view.picker.slots()), what="bob's slot list to lose the slot")
        # Bob sees the booking only as a busy block: when, never who.
        bob_row = bob.session.store.get("appointment", booked["id"])
        assert bob_row is not None and bob_row.get("busy") and "patient_name" not in bob_row
        await until(lambda: admin.last_toast.startswith("New online booking"), what="front desk toast")
        await _close(admin, dentist, alice, bob)

    qt_async.run(scenario(), timeout=180)


def test_dentist_marks_in_chair_and_admin_sees_it(qt_async, qtbot, server) -> None:
    """Dr Smith clicks "Checked in" then "In chair"; the front desk's list and details show "In chair" live."""

    async def scenario() -> None:
        admin = await _open(server.ws_url, "frontdesk", qtbot)
        dentist = await _open(server.ws_url, "drsmith", qtbot)
        day = _booking_day(admin)
        store = admin.session.store
        checkup = _type_id(store, "Check-up")
        smith = dentist.session.dentist_id
        patient = next(row for row in store.rows("patient") if row["name"].lower().startswith("bob"))
        slots = await admin.session.call("slots.find", type_id=checkup, dentist_id=smith,
                                         **{"from": day.isoformat(), "to": day.isoformat()})
        created = await admin.operations.run("appointments.create", {
            "dentist_id": smith, "type_id": checkup, "start": slots[0]["start"], "patient_id": patient["id"]})
        assert created is not None
        admin.view.set_day(day)
        admin.view.select_appointment(created["id"])
        dentist.view.set_day(day)
        await until(lambda: dentist.view.select_appointment(created["id"]), what="the booking in the dentist's day")

        await until(lambda: dentist.view.status_buttons["checked_in"].isEnabled())
        dentist.view.status_buttons["checked_in"].click()
        await until(lambda: store.get("appointment", created["id"])["status"] == "checked_in", what="checked in")
        await until(lambda: dentist.view.status_buttons["in_chair"].isEnabled())
        dentist.view.status_buttons["in_chair"].click()
        await until(lambda: store.get("appointment", created["id"])["status"] == "in_chair", what="in chair at the desk")
        model = admin.view.list_panel.model
        row = model.row_of(created["id"])
        assert model.index(row, model.COL_STATUS).data() == "In chair"
        assert admin.view.details._labels["status"].text() == "In chair"
        await _close(admin, dentist)

    qt_async.run(scenario(), timeout=180)


def test_server_restart_reconnects_and_catches_up_without_duplicates(qt_async, qtbot, server) -> None:
    """Kill the server: the admin window says "reconnecting"; restart it: it catches up, same session, no duplicates."""

    async def scenario() -> None:
        admin = await _open(server.ws_url, "frontdesk", qtbot)
        states: list[str] = []
        admin.session.state_changed.connect(states.append)
        store = admin.session.store
        seq_before = store.seq
        count_before = store.count("appointment")

        server.kill()
        await until(lambda: admin.indicator.state == "reconnecting", what="reconnecting")
        assert admin.banner.isVisible() and not admin.view.new_button.isEnabled()
        # Come back slowly, so the booking below is (most likely) made while this client is away.
        admin.session.client.backoff = Backoff(initial=3.0, factor=1.0, maximum=3.0)
        server.start()

        other = SyncClient(server.ws_url, EntityStore(), backoff=Backoff(initial=0.1, maximum=0.5))
        await other.sign_in(username="frontdesk", password="demo")
        day = _booking_day(admin)
        checkup = _type_id(other.store, "Check-up")
        patient = next(row for row in other.store.rows("patient") if row["name"].lower().startswith("alice"))
        slots = await other.call("slots.find", type_id=checkup, **{"from": day.isoformat(), "to": day.isoformat()})
        created = await other.call("appointments.create", dentist_id=slots[0]["dentist_id"], type_id=checkup,
                                   start=slots[0]["start"], patient_id=patient["id"])

        await until(lambda: admin.indicator.state == "connected", timeout=60, what="reconnected")
        await until(lambda: store.get("appointment", created["id"]) is not None, what="the missed booking")
        assert admin.banner.isHidden() and admin.view.new_button.isEnabled()
        assert states[:2] == ["reconnecting", "connected"]
        assert store.seq is not None and seq_before is not None and store.seq > seq_before
        # No duplicates: the model has one row per appointment, and agrees with the server's list.
        model = admin.view.list_panel.model
        ids = [model.index(row, 0).data(AppointmentRole.ID) for row in range(model.rowCount())]
        assert len(ids) == len(set(ids)) == store.count("appointment") == count_before + 1
        listed: list[dict[str, Any]] = await other.call("appointments.list")
        assert {row["id"] for row in listed} <= set(ids)
        await other.close()
        await _close(admin)

    qt_async.run(scenario(), timeout=240)
