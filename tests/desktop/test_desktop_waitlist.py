"""The waitlist on screen against a real server: a cancel makes an offer appear in two patients' apps and on
the front desk's list; one patient accepts and the offer leaves the other's screen.

With CLINIC_UPDATE_SCREENSHOTS=1 the patient's offer and the front desk's list are saved to
docs/screenshots/waitlist-offer.png and docs/screenshots/waitlist.png.
"""

from __future__ import annotations

import asyncio
import os
from datetime import date, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QDate
from PySide6.QtWidgets import QApplication, QWidget
from qt_async import until
from scripted_windows import open_window

from clinic_desktop.main_window import MainWindow
from clinic_desktop.store import EntityStore
from clinic_desktop.sync import Backoff
from clinic_desktop.waitlist import (
    JoinWaitlistDialog,
    WaitlistPanel,
    WaitlistTableModel,
)

pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SMITH, CHECK_UP = 1, 1


async def save_screenshot(widget: QWidget, name: str, tmp_path: Path) -> Path:
    folder = DOCS if os.environ.get("CLINIC_UPDATE_SCREENSHOTS") == "1" else tmp_path
    for _ in range(3):
        QApplication.sendPostedEvents()
        await asyncio.sleep(0.05)
    path = folder / name
    image = widget.grab()
    assert not image.isNull() and image.save(str(path))
    return path


async def _open(url: str, username: str, qtbot) -> MainWindow:
    return await open_window(url, username, qtbot, backoff=Backoff(initial=0.2, maximum=1.0))


def _weekday_ahead(window: MainWindow, days: int) -> date:
    day = window.session.clock.today() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


async def _free_for_both(desk: MainWindow, day: date, patient_ids: list[int]) -> str:
    """A Check-up start with Dr Smith on `day` at which each of the patients is free too."""
    frees = []
    for pid in patient_ids:
        slots = await desk.session.call("slots.find", type_id=CHECK_UP, dentist_id=SMITH, patient_id=pid,
                                        **{"from": day.isoformat(), "to": day.isoformat()})
        frees.append({s["start"] for s in slots})
    return min(set.intersection(*frees))


def test_an_offer_appears_in_the_patients_app_and_leaves_when_another_patient_accepts(
        qt_async, qtbot, server, tmp_path) -> None:
    """Cancel → Alice and Bob each see the offer (and the desk sees both); Bob accepts → Alice's offer is gone."""

    async def scenario() -> None:
        desk = await _open(server.ws_url, "frontdesk", qtbot)
        alice = await _open(server.ws_url, "alice", qtbot)
        bob = await _open(server.ws_url, "bob", qtbot)
        day = _weekday_ahead(desk, 3)
        start = await _free_for_both(desk, day, [alice.session.patient_id, bob.session.patient_id])
        other = await desk.session.call("patients.create", name="Soon Cancelled", confirm_duplicate=True)
        booked = await desk.session.call("appointments.create", dentist_id=SMITH, type_id=CHECK_UP, start=start,
                                         patient_id=other["id"])

        # Alice joins through her app's dialog; Bob through the same call.
        alice.view.waitlist_button.click()
        dialog = next(w for w in alice.view.findChildren(JoinWaitlistDialog))
        dialog.type_combo.setCurrentIndex(dialog.type_combo.findData(CHECK_UP))
        dialog.dentist_boxes[SMITH].setChecked(True)
        dialog.earliest_edit.setDate(QDate(day.year, day.month, day.day))
        dialog.latest_edit.setDate(QDate(day.year, day.month, day.day))
        dialog.from_time.setTime(dialog.from_time.time().fromString("00:00", "HH:mm"))
        dialog.to_time.setTime(dialog.to_time.time().fromString("23:59", "HH:mm"))
        dialog.confirm_button.click()
        await until(lambda: any(r.get("status") == "active" for r in alice.session.store.rows("waitlist_request")),
                    what="Alice's request in her app")
        await until(lambda: not alice.view.findChildren(JoinWaitlistDialog), what="the dialog to close on success")
        await bob.session.call("waitlist.add", type_id=CHECK_UP, dentist_ids=[SMITH], earliest=day.isoformat(),
                               latest=day.isoformat())
        panel = WaitlistPanel(desk.session, desk.operations)
        qtbot.addWidget(panel)
        panel.resize(1000, 360)
        panel.show()
        await until(lambda: panel.model.rowCount() >= 2, what="both requests on the desk's list")
        assert not alice.view.offer_banner.isVisible()

        await desk.session.call("appointments.cancel", id=booked["id"], reason="Patient request")
        await until(lambda: alice.view.offer_banner.isVisible() and alice.view.offer_banner.offer_ids(),
                    what="the offer in Alice's app")
        await until(lambda: bob.view.offer_banner.offer_ids(), what="the offer in Bob's app")
        alice_offer = alice.view.offer_banner.offer_ids()[0]
        assert alice.view.offer_banner.offers()[0]["start"] == booked["start"]
        assert desk.session.clock.format_when(booked["start"]) in alice.view.offer_banner.offer_labels[alice_offer].text()
        await until(lambda: "2 with an offer open" in panel.summary.text(), what="the offers on the desk's list")
        await save_screenshot(alice, "waitlist-offer.png", tmp_path)
        await save_screenshot(panel, "waitlist.png", tmp_path)

        bob.view.offer_banner.accept_buttons[bob.view.offer_banner.offer_ids()[0]].click()
        await until(lambda: "Booked" in bob.view.offer_banner.message.text(), what="Bob's booking")
        await until(lambda: alice.view.offer_banner.offer_ids() == [] and not alice.view.offer_banner.isVisible(),
                    what="the offer to leave Alice's app")
        assert alice.session.store.get("waitlist_offer", alice_offer)["status"] == "taken"
        await until(lambda: panel.model.rowCount() == 1 and "with an offer" not in panel.summary.text(),
                    what="Bob off the desk's list, Alice waiting again")
        mine = [a for a in bob.session.store.rows("appointment")
                if a.get("patient_id") == bob.session.patient_id and a["start"] == booked["start"]]
        assert len(mine) == 1 and mine[0]["status"] == "scheduled"
        panel.detach()

    qt_async.run(scenario())


def test_the_waitlist_model_changes_in_place(qtmodeltester, clock) -> None:
    """Requests are inserted, repainted when an offer arrives, and removed when booked; the model passes Qt's tester."""
    store = EntityStore()
    store.load_snapshot({"waitlist_request": [], "waitlist_offer": [], "dentist": [{"id": 1, "version": 1, "name": "Dr Smith"}],
                         "appointment_type": [{"id": 1, "version": 1, "name": "Check-up"}]}, seq=1)
    model = WaitlistTableModel(store, clock)
    qtmodeltester.check(model)
    request = {"id": 5, "version": 1, "patient_id": 9, "patient_name": "Ann", "type_id": 1, "dentist_ids": [1],
               "weekdays": [0, 1, 2, 3, 4], "day_start": "09:00", "day_end": "24:00", "earliest": "2030-01-01",
               "latest": "2030-02-01", "status": "active", "created_at": "2029-12-01T09:00:00.000+00:00"}
    store.upsert("waitlist_request", request)
    assert model.rowCount() == 1 and model.index(0, model.COL_DAYS).data() == "Weekdays"
    assert model.index(0, model.COL_TIMES).data() == "After 09:00"
    assert model.index(0, model.COL_OFFER).data() == "Waiting"
    changed = []
    model.dataChanged.connect(lambda tl, br, roles: changed.append((tl.row(), br.row())))
    store.upsert("waitlist_offer", {"id": 1, "version": 1, "request_id": 5, "patient_id": 9, "dentist_id": 1,
                                    "type_id": 1, "start": "2030-01-07T10:00:00.000+00:00",
                                    "end": "2030-01-07T10:30:00.000+00:00", "status": "open",
                                    "expires_at": "2099-01-01T00:00:00.000+00:00"})
    assert changed == [(0, 0)] and model.index(0, model.COL_OFFER).data().startswith("Offered Mon 07 Jan, 10:00")
    store.upsert("waitlist_request", {**request, "version": 2, "status": "booked"})
    assert model.rowCount() == 0
    qtmodeltester.check(model)
