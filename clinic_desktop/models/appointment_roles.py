"""Custom item roles of the appointment models."""

from __future__ import annotations

from enum import IntEnum

from PySide6.QtCore import Qt

__all__ = ["AppointmentRole"]


class AppointmentRole(IntEnum):
    ID = Qt.ItemDataRole.UserRole + 1  # int appointment id
    ROW = Qt.ItemDataRole.UserRole + 2  # the wire row (dict)
    START = Qt.ItemDataRole.UserRole + 3  # POSIX timestamp of the start, the sort key
    DENTIST_ID = Qt.ItemDataRole.UserRole + 4
    PATIENT_ID = Qt.ItemDataRole.UserRole + 5
    STATUS = Qt.ItemDataRole.UserRole + 6
    # The column's sort key as a plain value Qt compares itself (float or str), so sorting never
    # calls back into Python for a comparison: the instant for When/Until, else the text then the start.
    SORT = Qt.ItemDataRole.UserRole + 7
    STRANDED = Qt.ItemDataRole.UserRole + 8  # bool: outside its dentist's working time now, needs rebooking
