"""Book an appointment for a patient (front desk), or move an existing one to another free slot."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from PySide6.QtCore import QRegularExpression, Qt, QTimer, Signal
from PySide6.QtGui import QFocusEvent, QKeyEvent, QRegularExpressionValidator
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

from server.protocol import Reason, RpcError

from ..messages import STATUS_LABELS, patient_details
from ..operations import Operations
from ..patients.medical_alert import MedicalAlertBanner
from ..session import Session
from ..store import Change
from ..widgets.error_label import ErrorLabel
from .duplicate_patient_dialog import DuplicatePatientDialog
from .slot_picker import SlotPicker

__all__ = ["BookingDialog"]

_PATIENT_ROLE = Qt.ItemDataRole.UserRole + 1
# What a phone number may be typed with (the server checks the digits too): "abc" cannot be typed.
_PHONE_TYPING = QRegularExpression(r"\+?[0-9 ()./-]{0,30}")
_DATE_TYPING = QRegularExpression(r"[0-9]{0,4}-?[0-9]{0,2}-?[0-9]{0,2}")


class PatientResultList(QListWidget):
    """Search results where the row the keyboard is on is always the row shown highlighted.

    Qt makes the first row "current" on focus without selecting it, so Tab then Down would land on
    the second of two namesakes while nothing looked chosen; here focus selects the current row.
    """

    def focusInEvent(self, event: QFocusEvent) -> None:
        super().focusInEvent(event)
        item = self.currentItem() or (self.item(0) if self.count() else None)
        if item is not None and not item.isSelected():
            self.setCurrentItem(item)


class BookingDialog(QDialog):
    """New booking: patient (search or quick-add) → type → dentist → free slot → Book.

    Move: the same slot picker for an existing appointment (type fixed) → Move.
    Non-modal (`open()`), so the event loop and live updates keep running while it is shown.
    """

    booked = Signal(dict)  # the appointment as the server returned it

    def __init__(self, session: Session, operations: Operations, *, appointment: dict[str, Any] | None = None,
                 dentist_id: int | None = None, day: datetime | None = None, start: datetime | None = None,
                 parent: QWidget | None = None) -> None:
        """`start` (a double-clicked free spot) opens on that day with that time selected once listed."""
        super().__init__(parent)
        self._session = session
        self._operations = operations
        # The appointment as the user saw it when the dialog opened: its version goes with the move,
        # never the latest one (DESIGN.md "Writes carry the version the user saw").
        self._appointment = dict(appointment) if appointment is not None else None
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
        self.patient_results = PatientResultList()
        self.patient_results.setMaximumHeight(110)
        quick = QHBoxLayout()
        self.new_name = QLineEdit()
        self.new_name.setPlaceholderText("New patient's full name")
        self.new_phone = QLineEdit()
        self.new_phone.setPlaceholderText("Phone")
        self.new_phone.setValidator(QRegularExpressionValidator(_PHONE_TYPING, self.new_phone))
        self.new_birth_date = QLineEdit()
        self.new_birth_date.setPlaceholderText("Born YYYY-MM-DD")
        self.new_birth_date.setValidator(QRegularExpressionValidator(_DATE_TYPING, self.new_birth_date))
        self.add_patient_button = QPushButton("Add patient")
        quick.addWidget(self.new_name, 2)
        quick.addWidget(self.new_phone, 1)
        quick.addWidget(self.new_birth_date, 1)
        quick.addWidget(self.add_patient_button)
        self.patient_label = QLabel("No patient chosen")
        patient_layout.addWidget(self.patient_search)
        patient_layout.addWidget(self.patient_results)
        patient_layout.addLayout(quick)
        patient_layout.addWidget(self.patient_label)
        # The patient's medical alerts, for the desk to see before booking (hidden when there are none).
        self.alert_banner = MedicalAlertBanner(session.store)
        patient_layout.addWidget(self.alert_banner)
        if moving:
            self.alert_banner.show_patient(self._patient_id, current)
            self.patient_search.hide()
            self.patient_results.hide()
            self.new_name.hide()
            self.new_phone.hide()
            self.new_birth_date.hide()
            self.add_patient_button.hide()
            self._show_current(current)
        layout.addWidget(self.patient_box)

        # Patients see only their own appointments in full: the server takes theirs without asking.
        self.picker = SlotPicker(session, operations, patient_mode=session.role == "patient")
        if moving:
            self.picker.lock_type(current["type_id"])
            self.picker.set_dentist(current.get("dentist_id"))
            self.picker.set_date(max(session.clock.local_date(current["start"]), session.clock.today()))
            self.picker.patient_id = self._patient_id
            self.picker.exclude_appointment_id = current["id"]
        else:
            if dentist_id is not None:
                self.picker.set_dentist(dentist_id)
            if start is not None:
                day = start
                self.picker.preselect(start)
            if day is not None:
                self.picker.set_date(session.clock.local(day).date())
        layout.addWidget(self.picker, 1)

        form = QFormLayout()
        self.notes = QLineEdit(str(current.get("notes") or ""))
        self.notes.setPlaceholderText("Optional note for the dentist")
        form.addRow("Notes", self.notes)
        layout.addLayout(form)

        self.error_label = ErrorLabel()
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
        self.patient_results.itemSelectionChanged.connect(self._on_patient_results_item_selection_changed)
        self.add_patient_button.clicked.connect(self._on_add_patient_button_clicked)
        self.picker.slot_changed.connect(self._on_picker_slot_changed)
        self.buttons.rejected.connect(self.reject)
        self.confirm_button.clicked.connect(self._on_confirm_button_clicked)
        self.finished.connect(self._on_finished)
        self.patient_search.installEventFilter(self)
        session.store.add_listener(self._on_store_changed)
        self.picker.refresh()

    def eventFilter(self, watched: object, event: object) -> bool:
        """Down in the search field goes to the results, onto the row it highlights."""
        if (watched is self.patient_search and isinstance(event, QKeyEvent) and event.type() == QKeyEvent.Type.KeyPress
                and event.key() == Qt.Key.Key_Down and self.patient_results.count()):
            self.patient_results.setFocus(Qt.FocusReason.TabFocusReason)
            return True
        return super().eventFilter(watched, event)

    # -- the appointment being moved, live ---------------------------------------------------

    def _show_current(self, row: dict[str, Any] | None) -> None:
        """The header of a Move: who, and where the appointment is now (kept current as others change it)."""
        assert self._appointment is not None
        clock = self._session.clock
        name = (row or self._appointment).get("patient_name") or ""
        if row is None:
            self.patient_label.setText(f"{name} — this appointment was removed by someone else.")
            return
        dentist = (self._session.store.get("dentist", row.get("dentist_id")) or {}).get("name", "")
        text = f"{name} — currently {clock.format_when(row['start'])}" + (f" with {dentist}" if dentist else "")
        if row.get("status") != self._appointment.get("status"):
            text += f" ({STATUS_LABELS.get(row.get('status') or '', row.get('status'))})"
        if int(row.get("version") or 0) != int(self._appointment.get("version") or 0):
            text += " — changed by someone else since you opened this"
        self.patient_label.setText(text)

    def _on_store_changed(self, change: Change) -> None:
        if self._appointment is None or change.kind not in ("appointment", "dentist"):
            return
        if change.op == "reset" or (change.row or {}).get("id") == self._appointment["id"]:
            current = self._session.store.get("appointment", self._appointment["id"])
            self._show_current(current)
    # -- patient -----------------------------------------------------------------------------

    def choose_patient(self, patient: dict[str, Any]) -> None:
        """Book for `patient`; the free times are re-queried so that none clashes with their bookings."""
        self._patient_id = patient["id"]
        self.alert_banner.show_patient(patient["id"])
        self.picker.set_patient(patient["id"])
        self.patient_label.setText(f"Booking for: {patient['name']} ({patient_details(patient)})")
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
            item = QListWidgetItem(f"{patient['name']}   {patient_details(patient)}")
            item.setData(_PATIENT_ROLE, patient)
            self.patient_results.addItem(item)
        if not result:
            self.patient_results.addItem("No patient found — add them below.")

    def _on_patient_results_current_item_changed(self, current: QListWidgetItem | None, _previous: object) -> None:
        # Only a highlighted row chooses: Qt may make a row current on focus without showing it.
        patient = current.data(_PATIENT_ROLE) if current is not None and current.isSelected() else None
        if patient:
            self.choose_patient(patient)

    def _on_patient_results_item_selection_changed(self) -> None:
        selected = self.patient_results.selectedItems()
        patient = selected[0].data(_PATIENT_ROLE) if selected else None
        if patient and patient["id"] != self._patient_id:
            self.choose_patient(patient)

    def _on_add_patient_button_clicked(self) -> None:
        name = self.new_name.text().strip()
        if not name:
            self.error_label.setText("Type the new patient's full name first.")
            return
        self._session.tasks.spawn(self._add_patient(name, self.new_phone.text().strip(),
                                                    self.new_birth_date.text().strip()), name="patients.create")

    async def _add_patient(self, name: str, phone: str, born: str) -> dict[str, Any] | None:
        """Create the patient; if the server finds likely duplicates, the user picks one or creates anyway."""
        params: dict[str, Any] = {"name": name}
        if phone:
            params["phone"] = phone
        if born:
            params["date_of_birth"] = born
        self.error_label.clear()
        duplicates: list[RpcError] = []
        patient = await self._operations.run("patients.create", params, controls=[self.add_patient_button],
                                             report=self.error_label.setText, refused=duplicates.append,
                                             refusals={Reason.POSSIBLE_DUPLICATE})
        if patient is None and duplicates:
            dialog = DuplicatePatientDialog(name, list(duplicates[0].extra.get("candidates") or []), parent=self)
            self.duplicate_dialog = dialog
            choice, existing = await dialog.ask()
            dialog.deleteLater()
            if choice == "use":
                patient = existing
            elif choice == "create":
                patient = await self._operations.run("patients.create", dict(params, confirm_duplicate=True),
                                                     controls=[self.add_patient_button],
                                                     report=self.error_label.setText)
        if patient is not None:
            self.new_name.clear()
            self.new_phone.clear()
            self.new_birth_date.clear()
            self.error_label.clear()
            self.choose_patient(patient)
        return patient

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
            changes: dict[str, Any] = {"start": slot["start"], "dentist_id": slot["dentist_id"]}
            if notes != (self._appointment.get("notes") or ""):
                changes["notes"] = notes
            result = await self._operations.update_appointment(
                self._appointment, changes, controls=[self.confirm_button], report=self.error_label.setText,
                parent=self, kept_theirs=self._on_kept_theirs)
        else:
            params = {"dentist_id": slot["dentist_id"], "type_id": self.picker.type_id(), "start": slot["start"],
                      "patient_id": self._patient_id, "idempotency_key": self._idempotency_key}
            if notes:
                params["notes"] = notes
            result = await self._operations.run("appointments.create", params, controls=[self.confirm_button],
                                                report=self.error_label.setText)
        if result is not None:
            self.booked.emit(result)
            self.accept()
        elif self.isVisible():
            # The error above already says why, once: the picker forgets the refused time silently.
            self.picker.clear_selection()
            self.picker.refresh(lost_message=None)
        return result

    def _on_kept_theirs(self, _current: dict[str, Any]) -> None:
        """The user kept the other person's change: this move is over."""
        self.reject()

    def _on_finished(self, _result: int) -> None:
        self._session.store.remove_listener(self._on_store_changed)
        self.alert_banner.detach()
        self.picker.detach()
