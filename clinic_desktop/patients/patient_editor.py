"""Edit one patient (or register a new one), with the duplicate check on save and the version the user saw."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRegularExpression, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from server.protocol import Reason, RpcError

from ..booking.duplicate_patient_dialog import DuplicatePatientDialog
from ..operations import Operations
from ..session import Session
from ..widgets.error_label import ErrorLabel
from .patient_table_model import CONTACT_LABELS

__all__ = ["PatientEditor"]

_PHONE_TYPING = QRegularExpression(r"\+?[0-9 ()./-]{0,30}")
_DATE_TYPING = QRegularExpression(r"[0-9]{0,4}-?[0-9]{0,2}-?[0-9]{0,2}")
_TEXT_FIELDS = ("name", "phone", "email", "date_of_birth", "address")


class PatientEditor(QGroupBox):
    """The directory's form. `load(patient)` remembers the row as shown: its version goes with the save."""

    saved = Signal(dict)  # the patient as the server returned it (edited or created)
    chose_existing = Signal(dict)  # "use this patient" in the duplicate dialog of a new registration

    def __init__(self, session: Session, operations: Operations, parent: QWidget | None = None) -> None:
        super().__init__("Patient", parent)
        self._session = session
        self._operations = operations
        self._seen: dict[str, Any] | None = None  # the row as loaded; None: a new patient
        self.duplicate_dialog: DuplicatePatientDialog | None = None
        self.fields: dict[str, QLineEdit] = {}
        form = QFormLayout()
        for key, title, hint in (("name", "Name", "Full name"), ("date_of_birth", "Born", "YYYY-MM-DD"),
                                 ("phone", "Phone", ""), ("email", "Email", ""), ("address", "Address", "")):
            edit = QLineEdit()
            edit.setPlaceholderText(hint)
            self.fields[key] = edit
            form.addRow(title, edit)
        self.fields["phone"].setValidator(QRegularExpressionValidator(_PHONE_TYPING, self.fields["phone"]))
        self.fields["date_of_birth"].setValidator(QRegularExpressionValidator(_DATE_TYPING, self.fields["date_of_birth"]))
        self.contact = QComboBox()
        for value, label in CONTACT_LABELS.items():
            self.contact.addItem(label, value)
        form.addRow("Prefers", self.contact)
        self.alerts = QPlainTextEdit()
        self.alerts.setPlaceholderText("Allergies, conditions, medication the dentist must know about")
        self.alerts.setFixedHeight(52)
        form.addRow("Medical alerts", self.alerts)
        self.notes = QPlainTextEdit()
        self.notes.setPlaceholderText("Front-desk notes (not shown to the patient)")
        self.notes.setFixedHeight(52)
        form.addRow("Notes", self.notes)
        self.save_button = QPushButton("Save changes")
        self.revert_button = QPushButton("Revert")
        self.error_label = ErrorLabel()
        buttons = QHBoxLayout()
        buttons.addWidget(self.error_label, 1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        self.save_button.clicked.connect(self._on_save_button_clicked)
        self.revert_button.clicked.connect(self._on_revert_button_clicked)
        self.load(None)

    # -- own API -----------------------------------------------------------------------------

    @property
    def patient_id(self) -> int | None:
        return self._seen["id"] if self._seen else None

    def load(self, patient: dict[str, Any] | None) -> None:
        """Show `patient` (None: an empty form for a new one); what the user saw is what the save compares with."""
        self._seen = dict(patient) if patient else None
        row = patient or {}
        self.setTitle(f"Patient: {row['name']}" if patient else "New patient")
        for key, edit in self.fields.items():
            edit.setText(str(row.get(key) or ""))
        self.contact.setCurrentIndex(max(0, self.contact.findData(row.get("preferred_contact") or "phone")))
        self.alerts.setPlainText(str(row.get("medical_alerts") or ""))
        self.notes.setPlainText(str(row.get("notes") or ""))
        self.save_button.setText("Save changes" if patient else "Register patient")
        self.error_label.clear()

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {key: edit.text().strip() for key, edit in self.fields.items()}
        out["preferred_contact"] = self.contact.currentData()
        out["medical_alerts"] = self.alerts.toPlainText().strip()
        out["notes"] = self.notes.toPlainText().strip()
        return out

    def changes(self) -> dict[str, Any]:
        """What differs from the row as loaded; a cleared phone, email or birth date is sent as null."""
        seen = self._seen or {}
        out = {}
        for key, value in self.values().items():
            if value != (seen.get(key) or ("phone" if key == "preferred_contact" else "")):
                out[key] = value if value or key not in ("phone", "email", "date_of_birth") else None
        return out

    async def save(self) -> dict[str, Any] | None:
        """Create or update; on a likely duplicate, the user chooses (use the existing one / save anyway)."""
        self.error_label.clear()
        if self._seen is None:
            params = {k: v for k, v in self.values().items() if v}
            if not params.get("name"):
                self.error_label.setText("Type the patient's full name first.")
                return None
            method = "patients.create"
        else:
            changes = self.changes()
            if not changes:
                self.error_label.setText("Nothing to save: no field was changed.")
                return None
            params = {"id": self._seen["id"], "version": self._seen["version"], **changes}
            method = "patients.update"
        refusals: list[RpcError] = []
        result = await self._operations.run(method, params, controls=[self.save_button], report=self.error_label.setText,
                                            refusals={Reason.POSSIBLE_DUPLICATE, Reason.VERSION_CONFLICT},
                                            refused=refusals.append)
        if result is None and refusals and refusals[0].reason == Reason.VERSION_CONFLICT:
            current = refusals[0].extra.get("current") or {}
            self.error_label.setText("Someone else changed this patient meanwhile; their version is shown now. "
                                     "Make your change again.")
            if current:
                self._session.store.upsert("patient", current)
                self.load(current)
            return None
        if result is None and refusals:
            dialog = DuplicatePatientDialog(params.get("name") or (self._seen or {}).get("name", ""),
                                            list(refusals[0].extra.get("candidates") or []), parent=self)
            self.duplicate_dialog = dialog
            choice, existing = await dialog.ask()
            dialog.deleteLater()
            if choice == "use" and existing is not None and self._seen is None:
                self.chose_existing.emit(existing)
                return None
            if choice != "create":
                return None
            result = await self._operations.run(method, dict(params, confirm_duplicate=True), controls=[self.save_button],
                                                report=self.error_label.setText)
        if result is not None:
            self._session.store.upsert("patient", result)
            self.load(result)
            self.saved.emit(result)
        return result

    def _on_save_button_clicked(self) -> None:
        self._session.tasks.spawn(self.save(), name="patients.save")

    def _on_revert_button_clicked(self) -> None:
        self.load(self._seen)
