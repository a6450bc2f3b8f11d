"""The week view (Monday to Saturday, per dentist or per chair) and status at a glance.

With CLINIC_UPDATE_SCREENSHOTS=1: docs/screenshots/week-view.png.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from calendar_drive import (
    book,
    column_of,
    isolate_calendar_settings,
    mouse_drag,
    move_target,
    open_desk,
    save_screenshot,
    settle,
    weekday_ahead,
)
from PySide6.QtCore import QPoint, Qt
from qt_async import until
from scripted_server import ScriptedServer
from scripted_windows import open_scripted_window

from clinic_desktop.admin.calendar_blocks import STATUS_COLOURS
from clinic_desktop.clinic_clock import parse_instant

DAY = date(2026, 12, 1)  # a Tuesday: the scripted peer's appointments


@pytest.mark.slow
def test_week_view_follows_a_second_window_and_drags_to_another_day(qt_async, qtbot, server, tmp_path, monkeypatch) -> None:
    """Desk B moves a booking to Thursday: A's week shows it there at once; A drags it to Friday 11:00; B sees that."""
    isolate_calendar_settings(monkeypatch, tmp_path)

    async def scenario() -> None:
        desk_a, desk_b = await open_desk(server.ws_url, qtbot), await open_desk(server.ws_url, qtbot)
        clock = desk_a.session.clock
        monday = weekday_ahead(desk_a, 42)
        monday -= timedelta(days=monday.weekday())
        booked = await book(desk_a, monday + timedelta(days=1), "10:00")
        view = desk_a.view
        view.week_view_button.click()
        view.set_day(monday + timedelta(days=2))
        week = view.week
        assert view.current_grid() is week
        assert week.shown_days() == [monday + timedelta(days=n) for n in range(6)]
        assert {column.day for column in week.columns()} == set(week.shown_days())
        await until(lambda: booked["id"] in week.visible_appointment_ids(), what="the booking in A's week")
        await until(lambda: desk_b.session.store.get("appointment", booked["id"]) is not None, what="B's store")

        thursday = clock.at(monday + timedelta(days=3), "14:00")
        moved = await desk_b.operations.update_appointment(desk_b.session.store.get("appointment", booked["id"]),
                                                           {"start": clock.to_wire(thursday)})
        assert moved is not None

        def shown_on(moment) -> bool:
            week.grab()
            return clock.format_time(moment) in week.painted_blocks().get(booked["id"], "") and \
                week.column_of_row(desk_a.session.store.get("appointment", booked["id"])) == \
                column_of(week, moment.date(), dentist_id=booked["dentist_id"])
        await until(lambda: shown_on(thursday), what="A's week to show B's move")

        friday = clock.at(monday + timedelta(days=4), "11:00")
        press, release = move_target(week, booked["id"], column_of(week, friday.date(), dentist_id=booked["dentist_id"]),
                                     friday)
        mouse_drag(qtbot, week, press, release, release=False)
        assert week.drag.verdict.free and week.drag.proposal.start == friday
        qtbot.mouseRelease(week, Qt.MouseButton.LeftButton, pos=release)
        await until(lambda: parse_instant(desk_b.session.store.get("appointment", booked["id"])["start"]) == friday,
                    what="B to see A's drag in the week")
        await until(lambda: shown_on(friday), what="A's week to show the drop")
        for window in (desk_a, desk_b):
            window.close()
            await window.session.close()

    qt_async.run(scenario(), timeout=180)


@pytest.mark.slow
def test_week_view_screenshot_on_the_demo_week(qt_async, qtbot, server, tmp_path, monkeypatch) -> None:
    """The demo's current week, all dentists: every booking of Monday to Saturday is painted as a block."""
    isolate_calendar_settings(monkeypatch, tmp_path)

    async def scenario() -> None:
        desk = await open_desk(server.ws_url, qtbot)
        view = desk.view
        view.show_week(True)
        today = desk.session.clock.today()
        view.set_day(today if today.weekday() < 5 else today + timedelta(days=7 - today.weekday()))
        await settle()
        view.week.grab()
        shown = view.week.visible_appointment_ids()
        assert shown and set(view.week.painted_blocks()) == shown
        await save_screenshot(desk, "week-view.png", tmp_path)
        desk.close()
        await desk.session.close()

    qt_async.run(scenario(), timeout=180)


def test_week_by_chair_filters_to_one_chair_and_shows_six_days(qt_async, qtbot, tmp_path, monkeypatch) -> None:
    """By chair the week has a column per chair per day (and "No chair" for unassigned); one chair: six columns."""
    isolate_calendar_settings(monkeypatch, tmp_path)
    server = ScriptedServer()
    server.snapshot["chair"].append({"id": 2, "version": 1, "name": "Chair 2", "active": True})
    server.snapshot["appointment"][1]["chair_id"] = 2

    async def scenario() -> None:
        await server.start()
        window = await open_scripted_window(server, "frontdesk", qtbot)
        view = window.view
        view.set_by_chair(True)
        view.show_week(True)
        view.set_day(DAY)
        week = view.week
        titles = [column.title for column in week.columns() if column.day == DAY]
        assert titles == ["Chair 1", "Chair 2", "No chair"]  # two appointments have no chair yet
        assert week.visible_appointment_ids() == {1, 2, 3}
        view.week_filter.setCurrentIndex(view.week_filter.findData(2))
        assert [column.day for column in week.columns()] == week.shown_days() and len(week.columns()) == 6
        assert week.visible_appointment_ids() == {2}
        await window.session.close()
        await server.stop()

    qt_async.run(scenario())


def test_every_block_shows_its_status_and_the_legend_names_types_and_statuses(qt_async, qtbot, tmp_path, monkeypatch) -> None:
    """Confirmed, arrived and no-show blocks each carry their status colour; the legend lists types then statuses."""
    isolate_calendar_settings(monkeypatch, tmp_path)
    server = ScriptedServer()
    for row, status in zip(server.snapshot["appointment"], ("confirmed", "checked_in", "no_show")):
        row["status"] = status

    async def scenario() -> None:
        await server.start()
        window = await open_scripted_window(server, "frontdesk", qtbot)
        view = window.view
        view.set_day(DAY)
        calendar = view.calendar
        image = calendar.grab().toImage()
        ratio = image.devicePixelRatio()
        for appointment_id, status in ((1, "confirmed"), (2, "checked_in"), (3, "no_show")):
            rect = calendar.block_rect(appointment_id)
            badge = QPoint(int((rect.right() - 9) * ratio), int((rect.top() + 14) * ratio))  # in the badge, below its icon
            stripe = QPoint(int((rect.left() + 2) * ratio), int(rect.center().y() * ratio))
            want = STATUS_COLOURS[status]
            for where in (badge, stripe):
                got = image.pixelColor(where)
                assert max(abs(got.red() - want.red()), abs(got.green() - want.green()),
                           abs(got.blue() - want.blue())) < 40, (status, where, got.name(), want.name())
        labels = view.legend.labels()
        assert labels[:4] == ["Check-up", "Cleaning", "Filling", "Root canal"]
        assert labels[4:] == ["Unconfirmed", "Confirmed", "Arrived", "In chair", "Completed", "No-show"]
        await window.session.close()
        await server.stop()

    qt_async.run(scenario())
