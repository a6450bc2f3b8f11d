"""Cancel an appointment with a reason."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from ..operations import Operations
from ..session import Session
from ..widgets.error_label import ErrorLabel

__all__ = ["CancelDialog"]

_REASONS = ("Patient request", "Patient unwell", "Dentist unavailable", "Rescheduled", "Other")


class CancelDialog(QDialog):
    """Asks for a reason (editable list), then calls `appointments.cancel`; non-modal."""

    cancelled = Signal(dict)

    def __init__(self, session: Session, operations: Operations, appointment: dict[str, Any],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._operations = operations
        self._appointment = appointment
        self.setWindowTitle("Cancel appointment")
        self.setMinimumWidth(420)
        layout = QVBoxLayout(self)
        who = appointment.get("patient_name") or "this appointment"
        layout.addWidget(QLabel(f"Cancel {who} on {session.clock.format_when(appointment['start'])}?"))
        layout.addWidget(QLabel("Reason"))
        self.reason = QComboBox()
        self.reason.setEditable(True)
        self.reason.addItems(_REASONS)
        layout.addWidget(self.reason)
        self.error_label = ErrorLabel()  # the server's reason, in full: the dialog grows to fit it
        layout.addWidget(self.error_label)
        self.buttons = QDialogButtonBox()
        self.confirm_button = self.buttons.addButton("Cancel appointment", QDialogButtonBox.ButtonRole.AcceptRole)
        self.keep_button = self.buttons.addButton("Keep it", QDialogButtonBox.ButtonRole.RejectRole)
        layout.addWidget(self.buttons)
        self.keep_button.clicked.connect(self.reject)
        self.confirm_button.clicked.connect(self._on_confirm_button_clicked)

    def _on_confirm_button_clicked(self) -> None:
        self._session.tasks.spawn(self.confirm(), name="appointments.cancel")

    async def confirm(self) -> dict[str, Any] | None:
        params = {"id": self._appointment["id"], "reason": self.reason.currentText().strip() or None}
        result = await self._operations.run("appointments.cancel", params,
                                            controls=[self.confirm_button], report=self.error_label.setText)
        if result is not None:
            self.cancelled.emit(result)
            self.accept()
        return result
