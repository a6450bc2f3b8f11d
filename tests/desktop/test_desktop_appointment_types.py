"""The appointment types dialog against a real server: a new colour is painted live on another workstation.

With CLINIC_UPDATE_SCREENSHOTS=1: docs/screenshots/appointment-types.png.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from calendar_drive import (
    book,
    isolate_calendar_settings,
    open_desk,
    save_screenshot,
    weekday_ahead,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel
from qt_async import until

from clinic_desktop.admin.appointment_types_dialog import AppointmentTypesDialog
from clinic_desktop.admin.calendar_grid import CalendarGrid
from clinic_desktop.widgets.type_legend import TypeLegend

pytestmark = pytest.mark.slow

OLD, NEW = QColor("#58d68d"), QColor("#c0392b")  # Cleaning's demo colour, and the one the admin picks


def block_share(grid: CalendarGrid, appointment_id: int, colour: QColor) -> float:
    """The share of the block's lower half (below its words, left of nothing) painted exactly `colour`."""
    image = grid.grab().toImage()
    rect = grid.block_rect(appointment_id)
    assert rect is not None, "the block is not on the grid"
    ratio = image.devicePixelRatio()
    points = [(rect.left() + rect.width() * (0.1 + 0.8 * i / 9), rect.top() + rect.height() * (0.6 + 0.3 * j / 3))
              for i in range(10) for j in range(4)]
    hits = sum(image.pixelColor(int(x * ratio), int(y * ratio)).rgb() == colour.rgb() for x, y in points)
    return hits / len(points)


def legend_swatch(legend: TypeLegend, type_name: str) -> QColor:
    """The colour of the swatch the legend shows before `type_name`."""
    widgets = [legend.layout().itemAt(i).widget() for i in range(legend.layout().count())]
    index = next(i for i, w in enumerate(widgets) if isinstance(w, QLabel) and w.text() == type_name)
    return widgets[index - 1].pixmap().toImage().pixelColor(6, 6)


def test_a_new_type_colour_repaints_the_other_desks_calendar_and_a_stale_edit_is_refused(
        qt_async, qtbot, server, tmp_path: Path, monkeypatch) -> None:
    """Desk A recolours Cleaning from the Schedule menu; desk B's day calendar block and legend take the colour
    live, B's open dialog follows, and B's edit made on the old version is refused in the server's words.
    Then A adds a type, which B's legend and dialog show at once."""
    isolate_calendar_settings(monkeypatch, tmp_path)

    async def scenario() -> None:
        desk_a, desk_b = await open_desk(server.ws_url, qtbot), await open_desk(server.ws_url, qtbot)
        day = weekday_ahead(desk_a, 10)
        booked = await book(desk_a, day, "10:00", type_name="Cleaning")
        cleaning = booked["type_id"]
        grid = desk_b.view.calendar
        desk_b.view.set_day(day)
        await until(lambda: booked["id"] in grid.visible_appointment_ids(), what="the cleaning on B's calendar")
        await until(lambda: block_share(grid, booked["id"], OLD) > 0.9, what="the block in Cleaning's green")

        dialog_b = AppointmentTypesDialog(desk_b.session, desk_b.operations, parent=desk_b)
        qtbot.addWidget(dialog_b)
        dialog_b.show()
        dialog_b.select_type(cleaning)
        dialog_b.length_spin.setValue(60)  # B starts an edit on the version it sees now

        menu = desk_a.view.schedule_menu
        assert menu.types_action.isVisible()
        menu.types_action.trigger()
        dialog_a = menu.last_opened
        assert isinstance(dialog_a, AppointmentTypesDialog)
        assert [row[1:] for row in dialog_a.texts()] == [
            ("Check-up", "30 min", "Yes", "every 6 months"), ("Cleaning", "45 min", "Yes", "every 6 months"),
            ("Filling", "60 min", "Yes", "No recall"), ("Root canal", "90 min", "Staff only", "No recall")]
        dialog_a.select_type(cleaning)
        assert dialog_a.name_edit.text() == "Cleaning" and dialog_a.colour.name() == OLD.name()
        picker = dialog_a.pick_colour()  # the "Colour…" button's dialog, answered here instead of by a person
        picker.setCurrentColor(NEW)
        picker.accept()
        assert dialog_a.swatch_label.pixmap().toImage().pixelColor(20, 10).name() == NEW.name()
        assert dialog_a.changes() == {"colour": NEW.name()}
        saved = await dialog_a.save()
        assert saved is not None and saved["colour"] == NEW.name(), dialog_a.message.text()
        assert dialog_a.message.text() == "Saved Cleaning."

        await until(lambda: block_share(grid, booked["id"], NEW) > 0.9, what="B's block repainted in the new colour")
        assert block_share(grid, booked["id"], OLD) == 0
        assert legend_swatch(desk_b.view.legend, "Cleaning").name() == NEW.name()
        await until(lambda: dialog_b.texts()[dialog_b.type_ids.index(cleaning)][0] == NEW.name(),
                    what="B's dialog table, live")
        assert dialog_b.length_spin.value() == 60 and "Someone else has just changed Cleaning" in dialog_b.message.text()

        assert await dialog_b.save() is None
        assert dialog_b.message.text().startswith("Someone else changed this appointment type a moment ago.")
        assert dialog_b.length_spin.value() == 45 and dialog_b.colour.name() == NEW.name()  # reloaded: theirs
        assert dialog_b.seen is not None and dialog_b.seen["version"] == saved["version"]
        assert all("start" in row for row in desk_b.session.store.rows("appointment"))  # no type row among them
        assert (desk_a.session.store.get("appointment_type", cleaning) or {}).get("duration_minutes") == 45

        await save_screenshot(dialog_a, "appointment-types.png", tmp_path)

        dialog_a.name_edit.setText("Whitening")  # the editor's fields as a new type
        dialog_a.length_spin.setValue(60)
        added = await dialog_a.add()
        assert added is not None and added["duration_minutes"] == 60, dialog_a.message.text()
        assert dialog_a.seen is not None and dialog_a.seen["id"] == added["id"]
        await until(lambda: "Whitening" in desk_b.view.legend.labels(), what="the new type in B's legend")
        await until(lambda: ("Whitening", "60 min") in [row[1:3] for row in dialog_b.texts()], what="B's dialog table")
        for dialog in (dialog_a, dialog_b):
            dialog.close()
        for window in (desk_a, desk_b):
            window.close()
            await window.session.close()

    qt_async.run(scenario(), timeout=180)

