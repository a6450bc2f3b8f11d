"""The patient directory against a real server: edit with an alert seen at another desk, history, merge."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from clinic_desktop.patients import PatientTableModel, medical_alert_text
from qt_async import until
from test_desktop_lists import _book_on, _close, _open, _type_id, _weekday_ahead, screenshot, sql

pytestmark = pytest.mark.slow


def test_patient_table_model_changes_in_place(qtmodeltester, store) -> None:
    """Insert, update and remove of patients reach the model as row inserts, dataChanged and row removals."""
    model = PatientTableModel(store)
    qtmodeltester.check(model)
    before = model.rowCount()
    store.upsert("patient", {"id": 99, "version": 1, "name": "Zed Ray", "medical_alerts": "Latex"})
    assert model.rowCount() == before + 1
    row = model.row_of(99)
    assert model.index(row, model.COL_ALERT).data() == "⚠ Latex"
    assert medical_alert_text(store, 99) == "Latex"
    store.upsert("patient", {"id": 99, "version": 2, "name": "Zed Ray", "medical_alerts": ""})
    assert model.index(row, model.COL_ALERT).data() == ""
    store.apply_event({"entity": "patient", "op": "delete", "id": 99, "data": {"id": 99, "version": 3}})
    assert model.rowCount() == before and model.row_of(99) == -1
    qtmodeltester.check(model)


def test_an_alert_saved_at_one_desk_warns_at_the_other_and_the_history_goes_back_years(qt_async, qtbot, server,
                                                                                        tmp_path) -> None:
    """Desk A edits Bob (address, preferred contact, alert); desk B's directory row and banner warn at once;
    Bob's history pages back to a visit two years ago, outside the feed's window."""
    old = datetime.now(timezone.utc) - timedelta(days=730)
    sql(server.database_url,
        "INSERT INTO appointments (patient_id, dentist_id, type_id, start_at, end_at, status, source, notes) "
        "SELECT p.id, (SELECT min(id) FROM dentists), t.id, $1, $2, 'completed', 'front_desk', 'First visit' "
        "FROM patients p, appointment_types t WHERE p.name = 'Bob Green' AND t.name = 'Check-up'",
        old, old + timedelta(minutes=30))

    async def scenario() -> None:
        a = await _open(server.ws_url, qtbot)
        b = await _open(server.ws_url, qtbot)
        for window in (a, b):
            window.view.tabs.setCurrentIndex(window.view.front_desk_lists.tab_index["patients"])
        directory, other = a.view.front_desk_lists.directory, b.view.front_desk_lists.directory
        bob = next(r for r in a.session.store.rows("patient") if r["name"] == "Bob Green")
        directory.search.setText("bob")
        assert directory.visible_patient_ids() == [bob["id"]]
        assert directory.select_patient(bob["id"])
        assert directory.editor.patient_id == bob["id"] and directory.alert.isHidden()
        await until(lambda: directory.history.loads >= 1, what="Bob's history")
        assert directory.history.items()[-1]["notes"] == "First visit"
        assert other.select_patient(bob["id"])

        directory.editor.fields["address"].setText("14 Elm Road, Leeds LS2 7AB")
        directory.editor.contact.setCurrentIndex(directory.editor.contact.findData("email"))
        directory.editor.fields["email"].setText("bob.green@example.org")
        directory.editor.fields["phone"].setText("07700 900456")
        directory.editor.alerts.setPlainText("Penicillin allergy; takes warfarin")
        directory.editor.save_button.click()
        await until(lambda: "Penicillin" in other.alert.text() and other.alert.isVisible(), what="B's banner")
        assert other.editor.fields["address"].text() == "14 Elm Road, Leeds LS2 7AB"
        b_row = other.model.row_of(bob["id"])
        assert other.model.index(b_row, other.model.COL_ALERT).data().startswith("⚠ Penicillin")
        assert directory.alert.isVisible() and directory.editor.error_label.isHidden()
        # The appointments carry the alert too, so the booking details can warn (and a dentist's screen).
        await until(lambda: any((r.get("patient_alert") or "").startswith("Penicillin")
                                for r in b.session.store.rows("appointment") if r["patient_id"] == bob["id"]),
                    what="the alert on Bob's appointments")

        # B, whose form followed A's save, edits on the version it now shows.
        other.editor.notes.setPlainText("Prefers afternoons")
        other.editor.save_button.click()
        await until(lambda: (a.session.store.get("patient", bob["id"]) or {}).get("notes") == "Prefers afternoons",
                    what="B's note at A")
        await until(lambda: directory.editor.notes.toPlainText() == "Prefers afternoons", what="A's form follows")
        directory.search.clear()
        assert directory.editor.patient_id == bob["id"]
        await screenshot(a.view, "directory.png", tmp_path)
        await _close(a, b)

    qt_async.run(scenario(), timeout=240)


def test_merging_two_records_leaves_one_with_both_histories(qt_async, qtbot, server) -> None:
    """Two records of Dana Cole, each with an appointment: merged from the directory, one remains at both desks
    with both appointments in its history."""

    async def scenario() -> None:
        a = await _open(server.ws_url, qtbot)
        b = await _open(server.ws_url, qtbot)
        a.view.tabs.setCurrentIndex(a.view.front_desk_lists.tab_index["patients"])
        keep = await a.operations.run("patients.create", {"name": "Dana Cole", "phone": "07700 900777",
                                                          "confirm_duplicate": True})
        dupe = await a.operations.run("patients.create", {"name": "Dana Cole", "email": "dana@example.org",
                                                          "medical_alerts": "Asthma", "confirm_duplicate": True})
        await until(lambda: a.session.store.get("patient", dupe["id"]) is not None)
        first = await _book_on(a, keep["id"], _type_id(a, "Check-up"), _weekday_ahead(a, 4))
        second = await _book_on(a, dupe["id"], _type_id(a, "Cleaning"), _weekday_ahead(a, 9))
        directory = a.view.front_desk_lists.directory
        assert directory.select_patient(keep["id"])
        directory.merge_button.click()
        dialog = directory.merge_dialog
        assert dialog is not None and dialog.choose(dupe["id"])
        assert dialog.keep_this.isChecked()
        dialog.merge_button.click()
        await until(lambda: b.session.store.get("patient", dupe["id"]) is None, what="the merged record gone at B")
        await until(lambda: dupe["id"] not in directory.visible_patient_ids() and a.session.store.get("patient", dupe["id"]) is None)
        assert b.view.front_desk_lists.directory.model.row_of(dupe["id"]) == -1
        await until(lambda: {i["id"] for i in directory.history.items()} == {first["id"], second["id"]},
                    what="both histories on the kept record")
        kept = a.session.store.get("patient", keep["id"])
        assert kept["email"] == "dana@example.org" and kept["medical_alerts"] == "Asthma"
        assert directory.alert.isVisible() and "Asthma" in directory.alert.text()
        await until(lambda: b.session.store.get("appointment", second["id"])["patient_id"] == keep["id"])
        await _close(a, b)

    qt_async.run(scenario(), timeout=240)
