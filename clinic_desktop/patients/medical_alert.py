"""A patient's medical alerts as a warning, wherever the patient appears (directory, booking, appointment details)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from ..store import Change, EntityStore

__all__ = ["MedicalAlertBanner", "medical_alert_text"]

_STYLE = ("QLabel { background: #fdecea; color: #8a1c12; border: 1px solid #e0a29b; border-radius: 4px;"
          " padding: 6px 8px; font-weight: bold; }")


def medical_alert_text(store: EntityStore, patient_id: int | None, appointment: dict[str, Any] | None = None) -> str:
    """The patient's alerts from the directory (front desk), else as the appointment carries them (dentists)."""
    patient = store.get("patient", patient_id)
    if patient is not None:
        return str(patient.get("medical_alerts") or "").strip()
    return str((appointment or {}).get("patient_alert") or "").strip()


class MedicalAlertBanner(QLabel):
    """A red "Medical alert" line, hidden when the patient has none; follows the store live.

    Any view showing a patient adds one and calls `show_patient(patient_id, appointment)` when it shows
    someone else; an edit of the alert at another desk shows here at once.
    """

    def __init__(self, store: EntityStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self.patient_id: int | None = None
        self._appointment_id: int | None = None
        self.setWordWrap(True)
        self.setStyleSheet(_STYLE)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hide()
        store.add_listener(self._on_store_changed)
        self.destroyed.connect(lambda *_: store.remove_listener(self._on_store_changed))

    def detach(self) -> None:
        self._store.remove_listener(self._on_store_changed)

    def alert(self) -> str:
        appointment = self._store.get("appointment", self._appointment_id)
        return medical_alert_text(self._store, self.patient_id, appointment)

    def show_patient(self, patient_id: int | None, appointment: dict[str, Any] | None = None) -> None:
        self.patient_id = patient_id
        self._appointment_id = appointment.get("id") if appointment else None
        self._refresh()

    def _refresh(self) -> None:
        text = self.alert() if self.patient_id is not None else ""
        self.setText(f"⚠ Medical alert: {text}" if text else "")
        self.setToolTip(text)
        self.setVisible(bool(text))

    def _on_store_changed(self, change: Change) -> None:
        row = change.row or {}
        if change.op == "reset" or (change.kind == "patient" and row.get("id") == self.patient_id) or (
                change.kind == "appointment" and row.get("id") == self._appointment_id):
            try:
                self._refresh()
            except RuntimeError:  # the C++ label is gone; the destroyed hook removes us
                pass
