"""Put a patient on the waitlist: treatment, dentists, days and times that suit, and the dates to look in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from PySide6.QtCore import QDate, QTime, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from ..clinic_clock import qdate_to_date
from ..operations import Operations
from ..session import Session
from ..widgets.error_label import ErrorLabel

__all__ = ["JoinWaitlistDialog"]

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class JoinWaitlistDialog(QDialog):
    """Staff choose the patient; a patient joins for themself. Calls `waitlist.add`; non-modal."""

    added = Signal(dict)

    def __init__(self, session: Session, operations: Operations, *, patient_id: int | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._operations = operations
        store, clock = session.store, session.clock
        self.setWindowTitle("Join the waitlist" if session.role == "patient" else "Add to the waitlist")
        self.setMinimumWidth(460)
        form = QFormLayout()
        self.patient_combo = QComboBox()
        if session.role != "patient":
            patients = sorted(store.rows("patient"), key=lambda p: p.get("name", "").lower())
            for patient in patients:
                self.patient_combo.addItem(patient.get("name", ""), patient["id"])
            self.patient_combo.setEditable(True)  # type to find a name
            if patient_id is not None:
                self.patient_combo.setCurrentIndex(max(0, self.patient_combo.findData(patient_id)))
            form.addRow("Patient", self.patient_combo)
        self.type_combo = QComboBox()
        for kind in store.rows("appointment_type"):
            if kind.get("active", True) and (session.role != "patient" or kind.get("patient_bookable")):
                self.type_combo.addItem(f"{kind['name']} ({kind['duration_minutes']} min)", kind["id"])
        form.addRow("Treatment", self.type_combo)
        dentists = QHBoxLayout()
        self.dentist_boxes: dict[int, QCheckBox] = {}
        for dentist in store.rows("dentist"):
            if dentist.get("active", True):
                box = QCheckBox(dentist["name"])
                self.dentist_boxes[dentist["id"]] = box
                dentists.addWidget(box)
        dentists.addStretch(1)
        form.addRow("Dentists", dentists)
        form.addRow("", QLabel("<small>None ticked: any dentist.</small>"))
        days = QGridLayout()
        self.day_boxes: list[QCheckBox] = []
        for i, name in enumerate(_DAYS):
            box = QCheckBox(name)
            box.setChecked(i < 5)
            self.day_boxes.append(box)
            days.addWidget(box, 0, i)
        form.addRow("Days", days)
        times = QHBoxLayout()
        self.from_time = QTimeEdit(QTime(8, 0))
        self.to_time = QTimeEdit(QTime(18, 0))
        for edit in (self.from_time, self.to_time):
            edit.setDisplayFormat("HH:mm")
        times.addWidget(QLabel("from"))
        times.addWidget(self.from_time)
        times.addWidget(QLabel("to"))
        times.addWidget(self.to_time)
        times.addStretch(1)
        form.addRow("Times", times)
        dates = QHBoxLayout()
        today = clock.today()
        self.earliest_edit = QDateEdit(QDate(today.year, today.month, today.day))
        latest = today + timedelta(days=28)
        self.latest_edit = QDateEdit(QDate(latest.year, latest.month, latest.day))
        for edit in (self.earliest_edit, self.latest_edit):
            edit.setCalendarPopup(True)
            edit.setMinimumDate(QDate(today.year, today.month, today.day))
        dates.addWidget(self.earliest_edit)
        dates.addWidget(QLabel("to"))
        dates.addWidget(self.latest_edit)
        dates.addStretch(1)
        form.addRow("Dates", dates)
        self.notes_edit = QLineEdit()
        self.notes_edit.setPlaceholderText("e.g. can come at short notice")
        form.addRow("Notes", self.notes_edit)
        self.error_label = ErrorLabel()
        self.buttons = QDialogButtonBox()
        self.confirm_button = self.buttons.addButton(
            "Join the waitlist" if session.role == "patient" else "Add to waitlist",
            QDialogButtonBox.ButtonRole.AcceptRole)
        self.close_button = self.buttons.addButton("Close", QDialogButtonBox.ButtonRole.RejectRole)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("We offer you a freed time the moment one that suits you comes up."))
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.close_button.clicked.connect(self.reject)
        self.confirm_button.clicked.connect(self._on_confirm_button_clicked)

    def params(self) -> dict[str, Any]:
        """What `waitlist.add` is sent."""
        to = self.to_time.time()
        params: dict[str, Any] = {
            "type_id": self.type_combo.currentData(),
            "dentist_ids": [d for d, box in self.dentist_boxes.items() if box.isChecked()],
            "weekdays": [i for i, box in enumerate(self.day_boxes) if box.isChecked()],
            "day_start": self.from_time.time().toString("HH:mm"),
            "day_end": "24:00" if to == QTime(23, 59) else to.toString("HH:mm"),
            "earliest": qdate_to_date(self.earliest_edit.date()).isoformat(),
            "latest": qdate_to_date(self.latest_edit.date()).isoformat(),
            "notes": self.notes_edit.text().strip(),
        }
        if self._session.role != "patient":
            params["patient_id"] = self.patient_combo.currentData()
        return params

    def _on_confirm_button_clicked(self) -> None:
        self._session.tasks.spawn(self.confirm(), name="waitlist.add")

    async def confirm(self) -> dict[str, Any] | None:
        self.error_label.setText("")
        result = await self._operations.run("waitlist.add", self.params(), controls=[self.confirm_button],
                                            report=self.error_label.setText)
        if result is not None:
            self._session.store.upsert("waitlist_request", result)
            self.added.emit(result)
            self.accept()
        return result
