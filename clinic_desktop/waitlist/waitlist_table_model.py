"""The front desk's waitlist as a table: one row per active request, with its open offer, updated in place."""

from __future__ import annotations

from datetime import date
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QBrush, QColor

from ..clinic_clock import ClinicClock
from ..store import Change, EntityStore
from .waitlist_text import days_text, hours_text, open_offers

__all__ = ["WaitlistTableModel"]

_Index = QModelIndex | QPersistentModelIndex
OFFER_BACKGROUND = QColor("#fff4d6")  # an offer waiting for an answer stands out on the list


class WaitlistTableModel(QAbstractTableModel):
    """Active `waitlist_request` rows, oldest first (first come, first offered); the Offer column follows the
    `waitlist_offer` rows live. Rows are inserted, changed and removed in place, never reset for one change."""

    HEADERS = ("Patient", "Treatment", "Dentists", "Days", "Times", "Dates", "Offer")
    COL_PATIENT, COL_TYPE, COL_DENTISTS, COL_DAYS, COL_TIMES, COL_DATES, COL_OFFER = range(7)
    ID_ROLE = Qt.ItemDataRole.UserRole + 1

    def __init__(self, store: EntityStore, clock: ClinicClock, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._clock = clock
        self._ids: list[int] = self._active_ids()
        store.add_listener(self._on_store_changed)

    def detach(self) -> None:
        self._store.remove_listener(self._on_store_changed)

    # -- reading ---------------------------------------------------------------------------

    def _active_ids(self) -> list[int]:
        rows = [r for r in self._store.rows("waitlist_request") if r.get("status") == "active"]
        return [r["id"] for r in sorted(rows, key=lambda r: (r.get("created_at") or "", r["id"]))]

    def request_id(self, row: int) -> int | None:
        return self._ids[row] if 0 <= row < len(self._ids) else None

    def row_of(self, request_id: int) -> int | None:
        try:
            return self._ids.index(request_id)
        except ValueError:
            return None

    def offer_for(self, request_id: int) -> dict[str, Any] | None:
        offers = open_offers(self._store.rows("waitlist_offer"), self._clock, request_id=request_id)
        return offers[0] if offers else None

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._ids):
            return None
        request = self._store.get("waitlist_request", self._ids[index.row()])
        if request is None:
            return None
        if role == self.ID_ROLE:
            return request["id"]
        if role == Qt.ItemDataRole.BackgroundRole:
            return QBrush(OFFER_BACKGROUND) if self.offer_for(request["id"]) else None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self._text(request, index.column())
        return None

    def _name(self, kind: str, entity_id: int | None) -> str:
        return (self._store.get(kind, entity_id) or {}).get("name", "")

    def _text(self, request: dict[str, Any], column: int) -> str:
        if column == self.COL_PATIENT:
            return request.get("patient_name") or ""
        if column == self.COL_TYPE:
            return self._name("appointment_type", request.get("type_id"))
        if column == self.COL_DENTISTS:
            ids = request.get("dentist_ids") or []
            return ", ".join(self._name("dentist", d) for d in ids) if ids else "Any dentist"
        if column == self.COL_DAYS:
            return days_text(request.get("weekdays") or [])
        if column == self.COL_TIMES:
            return hours_text(request)
        if column == self.COL_DATES:
            first, last = (date.fromisoformat(request[k]) for k in ("earliest", "latest"))
            days = self._clock.format_day(first)
            return days if first == last else f"{days} – {self._clock.format_day(last)}"
        offer = self.offer_for(request["id"])
        if offer is None:
            return "Waiting"
        return (f"Offered {self._clock.format_when(offer['start'])} with {self._name('dentist', offer['dentist_id'])}"
                f" · until {self._clock.format_time(offer['expires_at'])}")

    # -- keeping up --------------------------------------------------------------------------

    def refresh_offers(self) -> None:
        """Offers lapse with the clock: repaint the Offer column (e.g. once a minute)."""
        if self._ids:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._ids) - 1, self.COL_OFFER),
                                  [Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.BackgroundRole])

    def _on_store_changed(self, change: Change) -> None:
        if change.op == "reset" and change.kind in ("waitlist_request", "waitlist_offer"):
            self.beginResetModel()  # a new snapshot
            self._ids = self._active_ids()
            self.endResetModel()
            return
        if change.kind == "waitlist_offer" and change.row is not None:
            row = self.row_of(change.row.get("request_id"))
            if row is not None:
                self.dataChanged.emit(self.index(row, 0), self.index(row, self.COL_OFFER),
                                      [Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.BackgroundRole])
            return
        if change.kind != "waitlist_request" or change.row is None:
            return
        request_id = change.row["id"]
        row = self.row_of(request_id)
        active = change.op != "remove" and change.row.get("status") == "active"
        if row is not None and not active:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._ids[row]
            self.endRemoveRows()
        elif row is None and active:
            at = len(self._ids)  # the newest request goes last
            self.beginInsertRows(QModelIndex(), at, at)
            self._ids.append(request_id)
            self.endInsertRows()
        elif row is not None:
            self.dataChanged.emit(self.index(row, 0), self.index(row, self.COL_OFFER), [Qt.ItemDataRole.DisplayRole])
