"""The chairs and blockout dialogs against a real server, seen live in a second window."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QDate, Qt, QTime
from PySide6.QtWidgets import QApplication, QWidget
from qt_async import until
from scripted_windows import open_window

from clinic_desktop.admin.blockouts_dialog import BlockoutsDialog
from clinic_desktop.admin.chairs_dialog import ChairsDialog
from clinic_desktop.sync import Backoff

pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


async def _screenshot(widget: QWidget, name: str) -> None:
    if os.environ.get("CLINIC_UPDATE_SCREENSHOTS") == "1":
        for _ in range(3):
            QApplication.sendPostedEvents()
            await asyncio.sleep(0.05)
        assert widget.grab().save(str(DOCS / name))


def test_admin_adds_renames_and_retires_a_chair_and_sets_a_default(qt_async, qtbot, server) -> None:
    """The desk adds "Hygiene", renames it, retires it and gives Dr Patel Chair 3; Dr Smith's window follows."""

    async def scenario() -> None:
        desk = await open_window(server.ws_url, "frontdesk", qtbot, backoff=Backoff(initial=0.2, maximum=1.0))
        dentist = await open_window(server.ws_url, "drsmith", qtbot, backoff=Backoff(initial=0.2, maximum=1.0))
        dialog = ChairsDialog(desk.session, desk.operations, parent=desk)
        qtbot.addWidget(dialog)
        dialog.show()
        dialog.new_name.setText("Hygiene")
        added = await dialog.add_chair()
        assert added is not None and added["id"] in dialog.rows
        await until(lambda: (dentist.session.store.get("chair", added["id"]) or {}).get("name") == "Hygiene",
                    what="the new chair in the dentist's window")
        name, active, _save = dialog.rows[added["id"]]
        name.setText("Hygiene room")
        active.setChecked(False)
        saved = await dialog.save_chair(added["id"])
        assert saved is not None and saved["name"] == "Hygiene room" and saved["active"] is False
        await until(lambda: (dentist.session.store.get("chair", added["id"]) or {}).get("active") is False,
                    what="the retired chair in the dentist's window")
        dialog.new_name.setText("Chair 1")
        assert await dialog.add_chair() is None and "already" in dialog.message.text()

        patel = next(d["id"] for d in desk.session.store.rows("dentist") if d["name"] == "Dr Patel")
        chair3 = next(c["id"] for c in desk.session.store.rows("chair") if c["name"] == "Chair 3")
        combo = dialog.defaults[patel]
        combo.setCurrentIndex(combo.findData(chair3))
        assert await dialog.set_default(patel) is not None
        await until(lambda: (dentist.session.store.get("dentist", patel) or {}).get("default_chair_id") == chair3,
                    what="Dr Patel's default chair everywhere")
        await _screenshot(dialog, "chairs.png")
        dialog.close()
        for window in (desk, dentist):
            window.close()
            await window.session.close()

    qt_async.run(scenario())


def test_a_meeting_blockout_reaches_every_window_and_the_patient_without_its_note(qt_async, qtbot, server) -> None:
    async def scenario() -> None:
        desk = await open_window(server.ws_url, "frontdesk", qtbot, backoff=Backoff(initial=0.2, maximum=1.0))
        alice = await open_window(server.ws_url, "alice", qtbot, backoff=Backoff(initial=0.2, maximum=1.0))
        day = desk.session.clock.today() + timedelta(days=8)
        while day.weekday() >= 5:
            day += timedelta(days=1)
        smith = next(d["id"] for d in desk.session.store.rows("dentist") if d["name"] == "Dr Smith")
        dialog = BlockoutsDialog(desk.session, desk.operations, day=day, dentist_id=smith, parent=desk)
        qtbot.addWidget(dialog)
        dialog.show()
        assert dialog.texts() == ["No blocks on this day."]
        dialog.type_combo.setCurrentIndex(dialog.type_combo.findText("Meeting", Qt.MatchFlag.MatchStartsWith))
        dialog.start_edit.setTime(QTime(10, 0))
        dialog.end_edit.setTime(QTime(11, 0))
        dialog.note_edit.setText("Team huddle")
        added = await dialog.add_blockout()
        assert added is not None, dialog.message.text()
        assert dialog.texts() == ["10:00–11:00  Meeting (Dr Smith) — Team huddle"]
        await until(lambda: alice.session.store.get("blockout", added["id"]) is not None, what="Alice's feed")
        assert alice.session.store.get("blockout", added["id"])["note"] == ""
        await _screenshot(dialog, "blockouts.png")
        # A backwards time is refused in words before anything is sent.
        dialog.start_edit.setTime(QTime(15, 0))
        dialog.end_edit.setTime(QTime(14, 0))
        assert await dialog.add_blockout() is None and "end after" in dialog.message.text()
        dialog.day_list.setCurrentRow(0)
        assert await dialog.delete_selected()
        await until(lambda: alice.session.store.get("blockout", added["id"]) is None, what="removed everywhere")
        await until(lambda: dialog.texts() == ["No blocks on this day."], what="the dialog's list")
        dialog.day_edit.setDate(QDate(day.year, day.month, day.day).addDays(1))
        dialog.close()
        for window in (desk, alice):
            window.close()
            await window.session.close()

    qt_async.run(scenario())


def test_schedule_menu_opens_each_dialog_and_print_preview(qt_async, qtbot, server) -> None:
    """The admin's Schedule menu: find next opening, block time, chairs, a day sheet per dentist and per
    chair, and a card for the selected appointment (refused in words with nothing selected)."""
    from clinic_desktop.admin.schedule_menu import ScheduleMenu
    from clinic_desktop.booking.find_opening_dialog import FindOpeningDialog
    from clinic_desktop.printing import PrintPreview

    async def scenario() -> None:
        desk = await open_window(server.ws_url, "frontdesk", qtbot, backoff=Backoff(initial=0.2, maximum=1.0))
        store = desk.session.store
        selected: list[int | None] = [None]
        menu = ScheduleMenu(desk.session, desk.operations, lambda: desk.view.day, lambda: selected[0], desk.view)
        menu.find_action.trigger()
        assert isinstance(menu.last_opened, FindOpeningDialog)
        menu.last_opened.close()
        menu.block_action.trigger()
        assert isinstance(menu.last_opened, BlockoutsDialog)
        menu.last_opened.close()
        menu.chairs_action.trigger()
        assert isinstance(menu.last_opened, ChairsDialog)
        menu.last_opened.close()
        smith = next(d["id"] for d in store.rows("dentist") if d["name"] == "Dr Smith")
        chair = next(c["id"] for c in store.rows("chair") if c["name"] == "Chair 2")
        for kwargs, title in (({"dentist_id": smith}, "Dr Smith"), ({"chair_id": chair}, "Chair 2")):
            preview = menu.print_day_sheet(**kwargs)
            assert isinstance(preview, PrintPreview) and title in preview.windowTitle()
            preview.close()
        refusals: list[str] = []
        desk.operations.failed.connect(refusals.append)
        assert menu.print_card() is None and refusals and refusals[0].startswith("Select one")
        appointment = next(a for a in store.rows("appointment") if not a.get("busy"))
        selected[0] = appointment["id"]
        card = menu.print_card()
        assert isinstance(card, PrintPreview)
        card.close()
        desk.close()
        await desk.session.close()

    qt_async.run(scenario())
