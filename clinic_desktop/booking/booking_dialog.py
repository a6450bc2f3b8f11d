"""Book an appointment for a patient (front desk), or move an existing one to another free slot."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..operations import Operations
from ..session import Session
from .slot_picker import SlotPicker

__all__ = ["BookingDialog"]

_PATIENT_ROLE = Qt.ItemDataRole.UserRole + 1


class BookingDialog(QDialog):
    """New booking: patient (search or quick-add) → type → dentist → free slot → Book.

    Move: the same slot picker for an existing appointment (type fixed) → Move.
    Non-modal (`open()`), so the event loop and live updates keep running while it is shown.
    """

    booked = Signal(dict)  # the appointment as the server returned it

    def __init__(self, session: Session, operations: Operations, *, appointment: dict[str, Any] | None = None,
                 dentist_id: int | None = None, day: datetime | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._operations = operations
        self._appointment = appointment
        self._patient_id: int | None = appointment.get("patient_id") if appointment else None
        # One key per dialog: a retried click after a lost reply cannot book twice.
        self._idempotency_key = str(uuid.uuid4())
        moving = appointment is not None
        current = appointment or {}
        self.setWindowTitle("Move appointment" if moving else "New appointment")
        self.setMinimumSize(560, 620)

        layout = QVBoxLayout(self)
        self.patient_box = QGroupBox("Patient")
        patient_layout = QVBoxLayout(self.patient_box)
        self.patient_search = QLineEdit()
        self.patient_search.setPlaceholderText("Search by name, phone or email…")
        self.patient_search.setClearButtonEnabled(True)
        self.patient_results = QListWidget()
        self.patient_results.setMaximumHeight(110)
        quick = QHBoxLayout()
        self.new_name = QLineEdit()
        self.new_name.setPlaceholderText("New patient's full name")
        self.new_phone = QLineEdit()
        self.new_phone.setPlaceholderText("Phone")
        self.add_patient_button = QPushButton("Add patient")
        quick.addWidget(self.new_name, 2)
        quick.addWidget(self.new_phone, 1)
        quick.addWidget(self.add_patient_button)
        self.patient_label = QLabel("No patient chosen")
        patient_layout.addWidget(self.patient_search)
        patient_layout.addWidget(self.patient_results)
        patient_layout.addLayout(quick)
        patient_layout.addWidget(self.patient_label)
        if moving:
            self.patient_search.hide()
            self.patient_results.hide()
            self.new_name.hide()
            self.new_phone.hide()
            self.add_patient_button.hide()
            self.patient_label.setText(
                f"{current.get('patient_name') or ''} — currently "
                f"{session.clock.format_when(current['start'])}"
            )
        layout.addWidget(self.patient_box)

        self.picker = SlotPicker(session, operations, patient_mode=False)
        if moving:
            self.picker.lock_type(current["type_id"])
            self.picker.set_dentist(current.get("dentist_id"))
            self.picker.set_date(max(session.clock.local_date(current["start"]), session.clock.today()))
        else:
            if dentist_id is not None:
                self.picker.set_dentist(dentist_id)
            if day is not None:
                self.picker.set_date(session.clock.local(day).date())
        layout.addWidget(self.picker, 1)

        form = QFormLayout()
        self.notes = QLineEdit(str(current.get("notes") or ""))
        self.notes.setPlaceholderText("Optional note for the dentist")
        form.addRow("Notes", self.notes)
        layout.addLayout(form)

        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setObjectName("bookingError")
        error_palette = self.error_label.palette()
        error_palette.setColor(QPalette.ColorRole.WindowText, error_palette.color(QPalette.ColorRole.Highlight))
        self.error_label.setPalette(error_palette)
        layout.addWidget(self.error_label)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.confirm_button = self.buttons.addButton("Move here" if moving else "Book",
                                                     QDialogButtonBox.ButtonRole.AcceptRole)
        self.confirm_button.setEnabled(False)
        layout.addWidget(self.buttons)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(200)
        self._search_timer.timeout.connect(self._on_search_timer_timeout)
        self.patient_search.textChanged.connect(self._on_patient_search_text_changed)
        self.patient_results.currentItemChanged.connect(self._on_patient_results_current_item_changed)
        self.add_patient_button.clicked.connect(self._on_add_patient_button_clicked)
        self.picker.slot_changed.connect(self._on_picker_slot_changed)
        self.buttons.rejected.connect(self.reject)
        self.confirm_button.clicked.connect(self._on_confirm_button_clicked)
        self.finished.connect(self._on_finished)
        self.picker.refresh()

    # -- patient -----------------------------------------------------------------------------

    def choose_patient(self, patient: dict[str, Any]) -> None:
        self._patient_id = patient["id"]
        self.picker.patient_id = patient["id"]
        details = ", ".join(str(part) for part in (patient.get("phone"), patient.get("email")) if part)
        self.patient_label.setText(f"Booking for: {patient['name']}" + (f" ({details})" if details else ""))
        self._update_confirm()

    def _on_patient_search_text_changed(self, _text: str) -> None:
        self._search_timer.start()

    def _on_search_timer_timeout(self) -> None:
        query = self.patient_search.text().strip()
        if query:
            self._session.tasks.spawn(self._search(query), name="patients.search")

    async def _search(self, query: str) -> None:
        result = await self._operations.run("patients.search", {"query": query, "limit": 20},
                                            report=self.error_label.setText)
        if result is None or query != self.patient_search.text().strip():
            return
        self.patient_results.clear()
        for patient in result:
            details = " · ".join(str(p) for p in (patient.get("phone"), patient.get("email")) if p)
            item = QListWidgetItem(patient["name"] + (f"   {details}" if details else ""))
            item.setData(_PATIENT_ROLE, patient)
            self.patient_results.addItem(item)
        if not result:
            self.patient_results.addItem("No patient found — add them below.")

    def _on_patient_results_current_item_changed(self, current: QListWidgetItem | None, _previous: object) -> None:
        patient = current.data(_PATIENT_ROLE) if current is not None else None
        if patient:
            self.choose_patient(patient)

    def _on_add_patient_button_clicked(self) -> None:
        name = self.new_name.text().strip()
        if not name:
            self.error_label.setText("Type the new patient's full name first.")
            return
        self._session.tasks.spawn(self._add_patient(name, self.new_phone.text().strip()), name="patients.create")

    async def _add_patient(self, name: str, phone: str) -> None:
        params: dict[str, Any] = {"name": name}
        if phone:
            params["phone"] = phone
        patient = await self._operations.run("patients.create", params, controls=[self.add_patient_button],
                                             report=self.error_label.setText)
        if patient is not None:
            self.new_name.clear()
            self.new_phone.clear()
            self.error_label.clear()
            self.choose_patient(patient)

    # -- confirm -----------------------------------------------------------------------------

    def _on_picker_slot_changed(self, _slot: object) -> None:
        self._update_confirm()

    def _update_confirm(self) -> None:
        self.confirm_button.setEnabled(self.picker.current_slot() is not None and self._patient_id is not None)

    def _on_confirm_button_clicked(self) -> None:
        self._session.tasks.spawn(self.confirm(), name="booking")

    async def confirm(self) -> dict[str, Any] | None:
        slot = self.picker.current_slot()
        if slot is None or self._patient_id is None:
            return None
        self.error_label.clear()
        notes = self.notes.text().strip()
        if self._appointment is not None:
            params: dict[str, Any] = {"id": self._appointment["id"], "version": self._current_version(),
                                      "start": slot["start"], "dentist_id": slot["dentist_id"]}
            if notes != (self._appointment.get("notes") or ""):
                params["notes"] = notes
            method = "appointments.update"
        else:
            params = {"dentist_id": slot["dentist_id"], "type_id": self.picker.type_id(), "start": slot["start"],
                      "patient_id": self._patient_id, "idempotency_key": self._idempotency_key}
            if notes:
                params["notes"] = notes
            method = "appointments.create"
        result = await self._operations.run(method, params, controls=[self.confirm_button],
                                            report=self.error_label.setText)
        if result is not None:
            self.booked.emit(result)
            self.accept()
        else:
            self.picker.refresh()
        return result

    def _current_version(self) -> int:
        assert self._appointment is not None
        row = self._session.store.get("appointment", self._appointment["id"]) or self._appointment
        return int(row["version"])

    def _on_finished(self, _result: int) -> None:
        self.picker.detach()
