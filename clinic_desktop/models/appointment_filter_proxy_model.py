"""Search, filters and chronological order over the appointment table."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel, Qt

from .appointment_roles import AppointmentRole
from .appointment_table_model import AppointmentTableModel

__all__ = ["AppointmentFilterProxyModel"]


class AppointmentFilterProxyModel(QSortFilterProxyModel):
    """Filters by free text, dentist, patient, status set and a time window; sorts by start."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._text = ""
        self._dentist_id: int | None = None
        self._patient_id: int | None = None
        self._statuses: frozenset[str] | None = None
        self._hide_busy = False
        self._from: float | None = None
        self._until: float | None = None
        self._predicate: Callable[[dict[str, Any]], bool] | None = None
        # A plain float or str per cell (see AppointmentTableModel.sort_key): Qt compares them itself,
        # where a Python lessThan made opening 10,000 rows take seconds.
        self.setSortRole(AppointmentRole.SORT)
        self.setDynamicSortFilter(True)
        self.sort(0, Qt.SortOrder.AscendingOrder)

    # Each setter refilters every source row (a Python call per row): skip it when nothing changes.

    def set_text(self, text: str) -> None:
        self._set_filter("_text", text.strip().casefold())

    def set_dentist(self, dentist_id: int | None) -> None:
        self._set_filter("_dentist_id", dentist_id)

    def set_patient(self, patient_id: int | None) -> None:
        self._set_filter("_patient_id", patient_id)

    def set_statuses(self, statuses: set[str] | frozenset[str] | None) -> None:
        self._set_filter("_statuses", frozenset(statuses) if statuses is not None else None)

    def set_hide_busy(self, hide: bool) -> None:
        self._set_filter("_hide_busy", hide)

    def set_window(self, start: datetime | None, end: datetime | None) -> None:
        """Keep appointments that start in [start, end); None leaves that side open."""
        window = (start.timestamp() if start is not None else None, end.timestamp() if end is not None else None)
        if window == (self._from, self._until):
            return
        self.beginFilterChange()
        self._from, self._until = window
        self.endFilterChange()

    def _set_filter(self, name: str, value: object) -> None:
        if getattr(self, name) == value:
            return
        self.beginFilterChange()
        setattr(self, name, value)
        self.endFilterChange()

    def set_predicate(self, predicate: Callable[[dict[str, Any]], bool] | None) -> None:
        """An extra condition on the wire row (e.g. "past": ended, or no longer active)."""
        self.beginFilterChange()
        self._predicate = predicate
        self.endFilterChange()

    def appointment_id(self, proxy_row: int) -> int | None:
        index = self.index(proxy_row, 0)
        return index.data(AppointmentRole.ID) if index.isValid() else None

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        model = self.sourceModel()
        if not isinstance(model, AppointmentTableModel):
            return True
        row = model.appointment_at(source_row)
        if row is None:
            return False
        if self._hide_busy and row.get("busy"):
            return False
        if self._dentist_id is not None and row.get("dentist_id") != self._dentist_id:
            return False
        if self._patient_id is not None and row.get("patient_id") != self._patient_id:
            return False
        if self._statuses is not None and row.get("status") not in self._statuses:
            return False
        if self._from is not None or self._until is not None:
            start = model.start_at(source_row)
            assert start is not None
            if self._from is not None and start < self._from:
                return False
            if self._until is not None and start >= self._until:
                return False
        if self._predicate is not None and not self._predicate(row):
            return False
        if self._text and self._text not in model.search_text_at(source_row):
            return False
        return True
