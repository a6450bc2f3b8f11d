"""The selected appointment: who, what, when, and the front desk's actions on it."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..messages import STATUS_LABELS
from ..session import Session
from ..store import Change

__all__ = ["AppointmentDetailsPanel"]

_ACTIVE = {"scheduled", "confirmed", "checked_in", "in_chair"}


class AppointmentDetailsPanel(QGroupBox):
    """Follows the store, so a change by someone else shows here at once."""

    move_requested = Signal(int)
    cancel_requested = Signal(int)
    status_requested = Signal(int, str)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__("Selected appointment", parent)
        self._session = session
        self.appointment_id = 0
        self.setMinimumWidth(280)
        self.setMaximumWidth(340)
        self._labels: dict[str, QLabel] = {}
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        for key, title in (("patient", "Patient"), ("when", "When"), ("dentist", "Dentist"), ("type", "Treatment"),
                           ("status", "Status"), ("source", "Booked by"), ("notes", "Notes")):
            label = QLabel("")
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self._labels[key] = label
            form.addRow(title, label)
        self.move_button = QPushButton("Move…")
        self.cancel_button = QPushButton("Cancel…")
        self.status_combo = QComboBox()
        for status in ("scheduled", "confirmed", "checked_in", "in_chair", "completed", "no_show"):
            self.status_combo.addItem(STATUS_LABELS[status], status)
        self.status_button = QPushButton("Set status")
        buttons = QHBoxLayout()
        buttons.addWidget(self.move_button)
        buttons.addWidget(self.cancel_button)
        status_row = QHBoxLayout()
        status_row.addWidget(self.status_combo, 1)
        status_row.addWidget(self.status_button)
        self.hint = QLabel("Click an appointment in the calendar or the list.")
        self.hint.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.hint)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addLayout(status_row)
        layout.addStretch(1)
        self.move_button.clicked.connect(self._on_move_button_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.status_button.clicked.connect(self._on_status_button_clicked)
        session.store.add_listener(self._on_store_changed)
        self.show_appointment(0)

    def detach(self) -> None:
        self._session.store.remove_listener(self._on_store_changed)

    def action_widgets(self) -> list[QWidget]:
        return [self.move_button, self.cancel_button, self.status_combo, self.status_button]

    def current(self) -> dict[str, Any] | None:
        return self._session.store.get("appointment", self.appointment_id)

    def show_appointment(self, appointment_id: int) -> None:
        self.appointment_id = appointment_id
        row = self.current()
        store, clock = self._session.store, self._session.clock
        self.hint.setVisible(row is None)
        if row is None:
            for label in self._labels.values():
                label.setText("")
            return
        dentist = store.get("dentist", row.get("dentist_id")) or {}
        appointment_type = store.get("appointment_type", row.get("type_id")) or {}
        self._labels["patient"].setText(str(row.get("patient_name") or ("(busy)" if row.get("busy") else "")))
        self._labels["when"].setText(f"{clock.format_when(row['start'])}–{clock.format_time(row['end'])}")
        self._labels["dentist"].setText(dentist.get("name", ""))
        self._labels["type"].setText(appointment_type.get("name", ""))
        status = STATUS_LABELS.get(row.get("status") or "", row.get("status") or "")
        if row.get("cancel_reason"):
            status += f" ({row['cancel_reason']})"
        self._labels["status"].setText(status)
        self._labels["source"].setText(str(row.get("source") or "").replace("_", " "))
        self._labels["notes"].setText(str(row.get("notes") or ""))
        index = self.status_combo.findData(row.get("status"))
        if index >= 0:
            self.status_combo.setCurrentIndex(index)

    def is_actionable(self) -> bool:
        row = self.current()
        return row is not None and row.get("status") in _ACTIVE and not row.get("busy")

    def _on_move_button_clicked(self) -> None:
        if self.appointment_id:
            self.move_requested.emit(self.appointment_id)

    def _on_cancel_button_clicked(self) -> None:
        if self.appointment_id:
            self.cancel_requested.emit(self.appointment_id)

    def _on_status_button_clicked(self) -> None:
        if self.appointment_id:
            self.status_requested.emit(self.appointment_id, self.status_combo.currentData())

    def _on_store_changed(self, change: Change) -> None:
        if change.op == "reset" or (change.row is not None and change.kind == "appointment"
                                    and change.row.get("id") == self.appointment_id):
            self.show_appointment(self.appointment_id)
