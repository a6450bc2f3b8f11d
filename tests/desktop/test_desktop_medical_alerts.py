"""A patient's medical alert warns wherever the patient appears: the booking dialog and the dentist's day."""

from __future__ import annotations

from clinic_desktop.booking.booking_dialog import BookingDialog
from clinic_desktop.main_window import MainWindow
from clinic_desktop.session import Session
from desktop_factories import make_snapshot


def _window(qtbot, role: str, **user) -> MainWindow:
    """A signed-in window over a loaded store, never connected (what is shown needs no server)."""
    session = Session("ws://127.0.0.1:9/ws")
    session.client.user = {"id": 1, "role": role, "name": "Tester", **user}
    session.store.load_snapshot(make_snapshot(appointments=4), seq=1)
    window = MainWindow(session)
    qtbot.addWidget(window)
    window.show()
    return window


def test_choosing_a_patient_with_an_alert_shows_it_in_the_booking_dialog(qtbot) -> None:
    window = _window(qtbot, "admin")
    session = window.session
    patient = dict(session.store.get("patient", 1), medical_alerts="Penicillin allergy", version=9)
    session.store.upsert("patient", patient)
    dialog = BookingDialog(session, window.view.operations)
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.alert_banner.isVisible()
    dialog.choose_patient(patient)
    assert dialog.alert_banner.isVisible() and "Penicillin allergy" in dialog.alert_banner.text()
    dialog.reject()


def test_the_dentist_sees_the_alert_of_the_selected_appointments_patient(qtbot) -> None:
    window = _window(qtbot, "dentist", dentist_id=1)
    store = window.session.store
    view = window.view
    row = next(r for r in store.rows("appointment") if r.get("dentist_id") == 1)
    # A dentist's feed holds no patient records: the alert travels on the appointment row.
    for patient in list(store.rows("patient")):
        store.apply_event({"entity": "patient", "op": "delete", "id": patient["id"],
                           "data": {"id": patient["id"], "version": patient["version"] + 1}})
    store.upsert("appointment", dict(row, patient_alert="Takes warfarin", version=row["version"] + 1))
    view.set_day(window.session.clock.local_date(row["start"]))
    assert view.select_appointment(row["id"])
    qtbot.waitUntil(lambda: view.alert_banner.isVisible())
    assert "Takes warfarin" in view.alert_banner.text()
