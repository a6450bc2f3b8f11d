"""Status menus offer only what the state machine allows, and staff undo a status change on the day.

Against a real server, with two front-desk windows and a dentist window where it is about workstations.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from clinic_desktop.main_window import MainWindow
from clinic_desktop.sync import Backoff
from qt_async import until
from scripted_windows import open_window

pytestmark = pytest.mark.slow

LONDON = ZoneInfo("Europe/London")


async def _open(url: str, username: str, qtbot) -> MainWindow:
    return await open_window(url, username, qtbot, backoff=Backoff(initial=0.2, maximum=1.0))


async def _close(*windows: MainWindow) -> None:
    for window in windows:
        window.close()
        await window.session.close()


def _combo_texts(window: MainWindow) -> list[str]:
    combo = window.view.details.status_combo
    return [combo.itemText(i) for i in range(combo.count())]


def _menu_texts(window: MainWindow, appointment_id: int) -> list[str]:
    menu = window.view.status_menu(window.session.store.get("appointment", appointment_id))
    texts = [action.text() for action in menu.actions() if not action.isSeparator()]
    menu.deleteLater()
    return texts


async def _insert_today(server, status: str, patient_id: int = 2, hour: int = 0, minute: int = 0,
                        zone: ZoneInfo = LONDON) -> int:
    """An appointment of Dr Smith at hour:minute today with a status set (written directly: the past cannot be booked)."""
    start = datetime.combine(datetime.now(zone).date(), time(hour, minute), zone)
    conn = await asyncpg.connect(server.database_url)
    try:
        return await conn.fetchval(
            "INSERT INTO appointments (patient_id, dentist_id, type_id, start_at, end_at, status, source, notes, "
            "version, created_at, updated_at) VALUES ($1, 1, 1, $2, $3, $4, 'front_desk', '', 1, now(), now()) "
            "RETURNING id", patient_id, start, start + timedelta(minutes=30), status)
    finally:
        await conn.close()


# Zones at most four hours apart around the world: in one of them it is always about mid-morning.
_ZONES = ("Europe/London", "Asia/Dubai", "Asia/Shanghai", "Pacific/Noumea", "Pacific/Honolulu", "America/Denver",
          "America/Sao_Paulo")


async def _clinic_in_the_morning(server) -> ZoneInfo:
    """Move the clinic to the zone where it is now closest to 10:00, so that "later today" has a whole
    afternoon and evening in it whenever the test runs (in London after 23:30 it would have none)."""
    now = datetime.now(LONDON)

    def from_ten(name: str) -> float:
        local = now.astimezone(ZoneInfo(name))
        return abs(local.hour + local.minute / 60 - 10)

    name = min(_ZONES, key=from_ten)
    conn = await asyncpg.connect(server.database_url)
    try:
        await conn.execute("UPDATE clinic_settings SET timezone = $1", name)
    finally:
        await conn.close()
    return ZoneInfo(name)


async def _insert_later_today(server, zone: ZoneInfo) -> int:
    """A scheduled appointment of Dr Smith this evening, clinic time (the first free half hour from 23:30 back)."""
    for minutes_back in range(0, 8 * 60, 30):
        at = datetime.combine(date.min, time(23, 30)) - timedelta(minutes=minutes_back)
        try:
            return await _insert_today(server, "scheduled", hour=at.hour, minute=at.minute, zone=zone)
        except asyncpg.exceptions.ExclusionViolationError:  # Dr Smith or the patient is busy then
            continue
    raise AssertionError("no free half hour this evening")


async def _future_booking(admin: MainWindow) -> dict[str, Any]:
    day: date = admin.session.clock.today() + timedelta(days=3)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    slots = await admin.session.call("slots.find", type_id=1, dentist_id=1, patient_id=2,
                                     **{"from": day.isoformat(), "to": day.isoformat()})
    booked = await admin.operations.run("appointments.create", {
        "dentist_id": 1, "type_id": 1, "start": slots[0]["start"], "patient_id": 2})
    assert booked is not None
    return booked


def test_menus_offer_only_allowed_statuses_and_a_check_in_can_be_undone(qt_async, qtbot, server) -> None:
    """Before the start a booking offers confirm and check-in only (no in chair, completed or no-show); once
    checked in, "in chair" and the undo appear, and the undo takes it back to scheduled. On another day: no undo."""

    async def scenario() -> None:
        later_today = await _insert_later_today(server, await _clinic_in_the_morning(server))  # hours from now
        admin = await _open(server.ws_url, "frontdesk", qtbot)
        await until(lambda: admin.session.store.get("appointment", later_today), what="the booking")
        admin.view.select_appointment(later_today)
        assert _combo_texts(admin) == ["Mark confirmed", "Mark checked in"]
        assert _menu_texts(admin, later_today) == ["Mark confirmed", "Mark checked in", "Move…", "Cancel…"]

        combo = admin.view.details.status_combo
        combo.setCurrentIndex(combo.findData("checked_in"))
        admin.view.details.status_button.click()
        await until(lambda: admin.session.store.get("appointment", later_today)["status"] == "checked_in",
                    what="checked in")
        await until(lambda: "Mark in chair" in _combo_texts(admin), what="the new choices")
        assert _combo_texts(admin) == ["Mark in chair", "Undo: back to scheduled", "Undo: back to confirmed"]
        combo.setCurrentIndex(combo.findData("scheduled"))
        admin.view.details.status_button.click()
        await until(lambda: admin.session.store.get("appointment", later_today)["status"] == "scheduled",
                    what="the check-in undone")

        # A booking on a later day, checked in by mistake, cannot be undone from here: not its day.
        future = await _future_booking(admin)
        admin.view.select_appointment(future["id"])
        combo.setCurrentIndex(combo.findData("checked_in"))
        admin.view.details.status_button.click()
        await until(lambda: admin.session.store.get("appointment", future["id"])["status"] == "checked_in",
                    what="checked in")
        await until(lambda: "Mark in chair" in _combo_texts(admin), what="the new choices")
        assert not any(text.startswith("Undo") for text in _combo_texts(admin))
        assert "Mark no-show" not in _combo_texts(admin)  # it has not started
        await _close(admin)

    qt_async.run(scenario(), timeout=120)


def test_undo_on_the_day_from_the_desk_and_the_dentist_with_a_second_desk_watching(qt_async, qtbot, server) -> None:
    """Today's no-show is undone at desk A (desk B's details panel follows live); Dr Smith undoes a completion."""

    async def scenario() -> None:
        no_show = await _insert_today(server, "no_show")
        completed = await _insert_today(server, "completed", patient_id=1, hour=1)
        desk_a = await _open(server.ws_url, "frontdesk", qtbot)
        desk_b = await _open(server.ws_url, "frontdesk", qtbot)
        dentist = await _open(server.ws_url, "drsmith", qtbot)
        for window in (desk_a, desk_b):
            await until(lambda w=window: w.session.store.get("appointment", no_show), what="the no-show")
            window.view.select_appointment(no_show)
        assert _combo_texts(desk_a) == ["Undo: back to scheduled", "Undo: back to confirmed"]
        assert _menu_texts(desk_a, no_show)[:2] == ["Undo: back to scheduled", "Undo: back to confirmed"]
        assert desk_b.view.details._labels["status"].text() == "No-show"

        desk_a.view.details.status_button.click()  # the first choice: back to scheduled
        await until(lambda: desk_b.view.details._labels["status"].text() == "Scheduled", what="desk B's panel, live")
        assert "Mark checked in" in _combo_texts(desk_b) and "Mark no-show" in _combo_texts(desk_b)

        # The dentist's screen: "Undo completed" takes it back to "in chair".
        dentist.view.set_day(dentist.session.clock.today())
        await until(lambda: dentist.view.select_appointment(completed), what="the completed appointment")
        assert not dentist.view.status_buttons["completed"].isEnabled()
        await until(lambda: dentist.view.undo_button.isEnabled(), what="the undo button")
        assert dentist.view.undo_button.text() == "Undo completed"
        dentist.view.undo_button.click()
        await until(lambda: desk_a.session.store.get("appointment", completed)["status"] == "in_chair",
                    what="in chair again at the desk")
        await until(lambda: dentist.view.status_buttons["completed"].isEnabled(), what="complete again")
        await _close(desk_a, desk_b, dentist)

    qt_async.run(scenario(), timeout=180)
