"""Find next opening against a real server: the first ten free times grouped by day, filtered by time of
day, weekday, dentist, chair and length; a chosen opening opens the booking dialog there."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QDate
from PySide6.QtWidgets import QApplication
from qt_async import until
from scripted_windows import open_window

from clinic_desktop.booking.find_opening_dialog import (
    FindOpeningDialog,
    select_openings,
)
from clinic_desktop.clinic_clock import ClinicClock
from clinic_desktop.sync import Backoff

pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def test_select_openings_filters_time_of_day_and_weekdays() -> None:
    """Morning keeps starts before 12:00, afternoon from 12:00; unticked weekdays drop out."""
    clock = ClinicClock("Europe/London")
    monday = clock.at(clock.today() - timedelta(days=clock.today().weekday()) + timedelta(days=7), "09:00")
    slots = [{"dentist_id": 1, "start": (monday + timedelta(days=d, hours=h)).isoformat(),
              "end": (monday + timedelta(days=d, hours=h, minutes=30)).isoformat()} for d in (0, 1) for h in (0, 4)]
    assert [o.start.hour for o in select_openings(slots, clock, part="morning")] == [9, 9]
    # Consecutive starts of one dentist fold into one opening "free until".
    run = [{"dentist_id": 1, "start": (monday + timedelta(minutes=m)).isoformat(),
            "end": (monday + timedelta(minutes=m + 30)).isoformat()} for m in (0, 15, 30, 90)]
    folded = select_openings(run, clock)
    assert [(o.start.strftime("%H:%M"), o.last_start.strftime("%H:%M"), o.free_until.strftime("%H:%M"))
            for o in folded] == [("09:00", "09:30", "10:00"), ("10:30", "10:30", "11:00")]
    assert [o.start.hour for o in select_openings(slots, clock, part="afternoon")] == [13, 13]
    assert {o.start.weekday() for o in select_openings(slots, clock, weekdays=frozenset({1}))} == {1}


def test_find_opening_lists_ten_grouped_by_day_and_honours_every_filter(qt_async, qtbot, server) -> None:
    async def scenario() -> None:
        desk = await open_window(server.ws_url, "frontdesk", qtbot, backoff=Backoff(initial=0.2, maximum=1.0))
        store, clock = desk.session.store, desk.session.clock
        dentists = {d["name"]: d["id"] for d in store.rows("dentist")}
        chairs = {c["name"]: c["id"] for c in store.rows("chair")}
        patients = {p["name"]: p["id"] for p in store.rows("patient")}
        day = clock.today() + timedelta(days=8)
        while day.weekday() != 1:  # a Tuesday a week or more ahead
            day += timedelta(days=1)
        # Chair 3 is taken 09:00-10:00 that Tuesday (Dr Patel, a filling).
        taken = await desk.operations.run("appointments.create", {
            "dentist_id": dentists["Dr Patel"], "type_id": 3, "patient_id": patients["Bob Green"],
            "chair_id": chairs["Chair 3"], "start": clock.at(day, "09:00").isoformat()})
        assert taken is not None, desk.operations.last_error

        dialog = FindOpeningDialog(desk.session, desk.operations, parent=desk)
        qtbot.addWidget(dialog)
        dialog.show()
        dialog.dentist_combo.setCurrentIndex(dialog.dentist_combo.findData(dentists["Dr Smith"]))
        dialog.part_combo.setCurrentIndex(dialog.part_combo.findData("morning"))
        for i, box in enumerate(dialog.weekday_boxes):
            box.setChecked(i == 1)  # Tuesdays only
        dialog.from_edit.setDate(QDate(day.year, day.month, day.day))
        dialog.search_button.click()
        await until(lambda: dialog.visible_openings(), what="openings")
        openings = dialog.visible_openings()
        assert len(openings) == 10  # one free stretch a Tuesday morning: ten Tuesdays at a glance
        assert all(o.start.weekday() == 1 and o.start.hour < 12 and o.dentist_id == dentists["Dr Smith"]
                   for o in openings)
        assert [o.start for o in openings] == sorted(o.start for o in openings)
        assert len({o.start.date() for o in openings}) == 10 and len(dialog.day_headings()) == 10
        assert dialog.day_headings()[0].startswith(clock.format_day(day))
        assert openings[0].start.strftime("%H:%M") == "09:00" and openings[0].free_until.strftime("%H:%M") == "12:00"
        assert dialog.status_label.text().startswith("The first 10 openings")

        # Any weekday: "Show more" adds ten more.
        for box in dialog.weekday_boxes[:5]:
            box.setChecked(True)
        before = dialog.visible_openings()
        dialog.search_button.click()
        await until(lambda: dialog.visible_openings() and dialog.visible_openings() != before, what="weekdays")
        dialog.more_button.click()
        await until(lambda: len(dialog.visible_openings()) == 20, what="ten more")

        # Chair 3 and any dentist: that Tuesday's 09:00-10:00 is not offered; 90 minutes each.
        dialog.dentist_combo.setCurrentIndex(0)
        dialog.chair_combo.setCurrentIndex(dialog.chair_combo.findData(chairs["Chair 3"]))
        dialog.length_combo.setCurrentIndex(dialog.length_combo.findData(90))
        dialog.part_combo.setCurrentIndex(dialog.part_combo.findData("any"))
        before = dialog.visible_openings()
        dialog.search_button.click()
        await until(lambda: dialog.visible_openings() != before and dialog.visible_openings(), what="chair search")
        chair_openings = dialog.visible_openings()
        assert all(o.end - o.start == timedelta(minutes=90) for o in chair_openings)
        first_day = [o for o in chair_openings if o.start.date() == day]
        assert first_day and all(not (o.start.hour < 10 and o.end.hour >= 9) for o in first_day)
        assert first_day[0].start.strftime("%H:%M") == "10:00"

        if os.environ.get("CLINIC_UPDATE_SCREENSHOTS") == "1":
            dialog.chair_combo.setCurrentIndex(0)
            dialog.length_combo.setCurrentIndex(0)
            dialog.part_combo.setCurrentIndex(dialog.part_combo.findData("morning"))
            for box in dialog.weekday_boxes[:5]:
                box.setChecked(True)
            before = dialog.visible_openings()
            dialog.search_button.click()
            await until(lambda: dialog.visible_openings() != before, what="screenshot search")
            dialog.results.setCurrentItem(dialog.results.topLevelItem(0).child(1))
            for _ in range(3):
                QApplication.sendPostedEvents()
                await asyncio.sleep(0.05)
            assert dialog.grab().save(str(DOCS / "find-opening.png"))

        # Choosing an opening hands it on (the admin view opens the booking dialog there).
        chosen: list[dict] = []
        dialog.opening_chosen.connect(chosen.append)
        item = dialog.results.topLevelItem(0).child(0)
        dialog.results.setCurrentItem(item)
        assert dialog.book_button.isEnabled()
        dialog.book_button.click()
        assert chosen and chosen[0]["start"] == dialog.visible_openings()[0].wire_start
        desk.close()
        await desk.session.close()

    qt_async.run(scenario())
