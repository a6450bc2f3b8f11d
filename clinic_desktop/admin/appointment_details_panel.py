"""The selected appointment: who, what, when, and the front desk's actions on it."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..messages import STATUS_LABELS
from ..models import StrandedAppointments, status_choices
from ..session import Session
from ..store import Change

__all__ = ["AppointmentDetailsPanel"]

_ACTIVE = {"scheduled", "confirmed", "checked_in", "in_chair"}


class AppointmentDetailsPanel(QGroupBox):
    """Follows the store, so a change by someone else shows here at once.

    The status choices are what the state machine allows now (the next steps and a same-day undo),
    recomputed whenever the appointment changes.
    """

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
        self.status_combo.setMinimumContentsLength(16)
        self.status_button = QPushButton("Set status")
        self.stranded_label = QLabel("Needs rebooking: the dentist no longer works at this time. Move or cancel it.")
        self.stranded_label.setWordWrap(True)
        self.stranded_label.setStyleSheet("color: #b42814; font-weight: bold;")
        self._stranded = StrandedAppointments.of(session.store, session.clock)
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
        layout.addWidget(self.stranded_label)
        layout.addLayout(buttons)
        layout.addLayout(status_row)
        layout.addStretch(1)
        self.move_button.clicked.connect(self._on_move_button_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.status_button.clicked.connect(self._on_status_button_clicked)
        session.store.add_listener(self._on_store_changed)
        self._stranded.add_listener(self._on_stranded_changed)
        self.show_appointment(0)

    def detach(self) -> None:
        self._session.store.remove_listener(self._on_store_changed)
        self._stranded.remove_listener(self._on_stranded_changed)

    def action_widgets(self) -> list[QWidget]:
        return [self.move_button, self.cancel_button, self.status_combo, self.status_button]

    def current(self) -> dict[str, Any] | None:
        return self._session.store.get("appointment", self.appointment_id)

    def show_appointment(self, appointment_id: int) -> None:
        self.appointment_id = appointment_id
        row = self.current()
        store, clock = self._session.store, self._session.clock
        self.hint.setVisible(row is None)
        self.stranded_label.setVisible(row is not None and row["id"] in self._stranded)
        self._fill_status_combo(row)
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

    def _fill_status_combo(self, row: dict[str, Any] | None) -> None:
        """The next steps first, then the undo; the user's pick survives a refill that still offers it."""
        picked = self.status_combo.currentData()
        choices = status_choices(row, self._session.role, self._session.clock)
        self.status_combo.clear()
        for status in choices.forward:
            self.status_combo.addItem(f"Mark {STATUS_LABELS[status].lower()}", status)
        for status in choices.undo:
            self.status_combo.addItem(f"Undo: back to {STATUS_LABELS[status].lower()}", status)
        if not choices:
            self.status_combo.addItem("No status change possible", None)
        self.status_combo.setCurrentIndex(max(0, self.status_combo.findData(picked)))

    def is_actionable(self) -> bool:
        """Whether the appointment can still be moved or cancelled."""
        row = self.current()
        return row is not None and row.get("status") in _ACTIVE and not row.get("busy")

    def update_actions(self, writable: bool) -> None:
        """Enable what makes sense for the shown appointment (everything off while offline)."""
        actionable = writable and self.is_actionable()
        self.move_button.setEnabled(actionable)
        self.cancel_button.setEnabled(actionable)
        can_change = writable and self.status_combo.currentData() is not None
        self.status_combo.setEnabled(can_change)
        self.status_button.setEnabled(can_change)

    def _on_move_button_clicked(self) -> None:
        if self.appointment_id:
            self.move_requested.emit(self.appointment_id)

    def _on_cancel_button_clicked(self) -> None:
        if self.appointment_id:
            self.cancel_requested.emit(self.appointment_id)

    def _on_status_button_clicked(self) -> None:
        if self.appointment_id and self.status_combo.currentData():
            self.status_requested.emit(self.appointment_id, self.status_combo.currentData())

    def _on_stranded_changed(self, changed: set[int], _cause: Change) -> None:
        if self.appointment_id in changed:
            self.show_appointment(self.appointment_id)

    def _on_store_changed(self, change: Change) -> None:
        if change.op == "reset" or (change.row is not None and change.kind == "appointment"
                                    and change.row.get("id") == self.appointment_id):
            self.show_appointment(self.appointment_id)
