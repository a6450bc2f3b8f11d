"""The directory's patients as a table that changes in place as the feed brings edits, additions and merges."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from ..messages import format_birth_date
from ..store import Change, EntityStore

__all__ = ["PatientTableModel"]

_Index = QModelIndex | QPersistentModelIndex
_ALERT = QColor(160, 30, 20)
_ROLES = [Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.ForegroundRole,
          Qt.ItemDataRole.UserRole]
CONTACT_LABELS = {"phone": "Phone call", "sms": "Text message", "email": "Email", "post": "Letter"}


class PatientTableModel(QAbstractTableModel):
    """One row per patient in the store; `Qt.UserRole` of any cell is the patient id."""

    COLUMNS = ("Name", "Born", "Phone", "Email", "Prefers", "Medical alert")
    (COL_NAME, COL_BORN, COL_PHONE, COL_EMAIL, COL_CONTACT, COL_ALERT) = range(6)

    def __init__(self, store: EntityStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._ids: list[int] = [int(row["id"]) for row in store.rows("patient")]
        self._row_of = {pid: i for i, pid in enumerate(self._ids)}
        store.add_listener(self._on_store_changed)

    def detach(self) -> None:
        self._store.remove_listener(self._on_store_changed)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(self.COLUMNS):
            return self.COLUMNS[section]
        return None

    def patient_id(self, row: int) -> int | None:
        return self._ids[row] if 0 <= row < len(self._ids) else None

    def row_of(self, patient_id: int) -> int:
        return self._row_of.get(patient_id, -1)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._ids):
            return None
        patient = self._store.get("patient", self._ids[index.row()]) or {}
        column = index.column()
        if role == Qt.ItemDataRole.UserRole:
            return patient.get("id")
        alert = str(patient.get("medical_alerts") or "").strip()
        if role == Qt.ItemDataRole.DisplayRole:
            return [patient.get("name") or "", format_birth_date(patient.get("date_of_birth")), patient.get("phone") or "",
                    patient.get("email") or "", CONTACT_LABELS.get(patient.get("preferred_contact") or "", ""),
                    ("⚠ " + alert.splitlines()[0]) if alert else ""][column]
        if role == Qt.ItemDataRole.ToolTipRole and column == self.COL_ALERT and alert:
            return alert
        if role == Qt.ItemDataRole.ForegroundRole and alert and column in (self.COL_NAME, self.COL_ALERT):
            return QBrush(_ALERT)
        return None

    def _on_store_changed(self, change: Change) -> None:
        if change.kind != "patient":
            return
        if change.op == "reset":
            self.beginResetModel()
            self._ids = [int(row["id"]) for row in self._store.rows("patient")]
            self._row_of = {pid: i for i, pid in enumerate(self._ids)}
            self.endResetModel()
            return
        pid = int((change.row or {})["id"])
        if change.op == "insert" and pid not in self._row_of:
            self.beginInsertRows(QModelIndex(), len(self._ids), len(self._ids))
            self._row_of[pid] = len(self._ids)
            self._ids.append(pid)
            self.endInsertRows()
        elif change.op == "update" and pid in self._row_of:
            row = self._row_of[pid]
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.COLUMNS) - 1), _ROLES)
        elif change.op == "remove" and pid in self._row_of:
            row = self._row_of[pid]
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._ids[row]
            self._row_of = {p: i for i, p in enumerate(self._ids)}
            self.endRemoveRows()
