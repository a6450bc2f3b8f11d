"""One click from a list to booking: the booking dialog for that patient and treatment, next opening selected."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from ..booking.booking_dialog import BookingDialog
from ..operations import Operations
from ..session import Session

__all__ = ["open_booking_for"]


def open_booking_for(session: Session, operations: Operations, *, patient_id: int, type_id: int | None,
                     dentist_id: int | None = None, parent: QWidget | None = None) -> BookingDialog | None:
    """Open (non-modal) the booking dialog for the patient, type (and dentist) from today on; once the free
    times arrive, the first — the next opening — is selected, so Book is one more click."""
    patient = session.store.get("patient", patient_id)
    if patient is None:
        return None
    dialog = BookingDialog(session, operations, dentist_id=dentist_id,
                           day=session.clock.at(session.clock.today(), "00:00"), parent=parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    if type_id is not None:
        dialog.picker.set_type(type_id)
    dialog.choose_patient(patient)

    def select_next_opening(_count: int) -> None:
        slots = dialog.picker.slots()
        if slots and dialog.picker.current_slot() is None:
            dialog.picker.select_slot(slots[0])
        try:
            dialog.picker.slots_refreshed.disconnect(select_next_opening)
        except (RuntimeError, TypeError):
            pass

    dialog.picker.slots_refreshed.connect(select_next_opening)
    dialog.open()
    return dialog


def patient_of(session: Session, row: dict[str, Any]) -> dict[str, Any] | None:
    return session.store.get("patient", row.get("patient_id"))
