"""The waiting room, live: who has arrived and for how long they have waited, who is in the chair.

`waiting_room(...)` is the pure core (store rows in, entries out); `WaitingRoomPanel` shows it in a
table that follows the store and ticks every second. The front desk shows every dentist's patients,
a dentist's window only their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..clinic_clock import ClinicClock
from ..store import Change, EntityStore

__all__ = ["WaitingEntry", "WaitingRoomPanel", "format_wait", "waiting_room"]

_WAITING, _IN_CHAIR = "checked_in", "in_chair"


@dataclass(frozen=True, slots=True)
class WaitingEntry:
    """One patient in the building: waiting since `since` (arrival) or in the chair since `since`."""

    appointment_id: int
    patient_name: str
    dentist_id: int
    start: datetime
    status: str  # "checked_in" (waiting) | "in_chair"
    since: datetime


def waiting_room(rows: Iterable[dict[str, Any]], *, day: date, clock: ClinicClock,
                 dentist_id: int | None = None) -> list[WaitingEntry]:
    """Today's arrived patients: the waiting first (longest wait first), then those in the chair."""
    out = []
    for row in rows:
        status = row.get("status")
        if status not in (_WAITING, _IN_CHAIR) or row.get("busy"):
            continue
        if dentist_id is not None and row.get("dentist_id") != dentist_id:
            continue
        start = clock.local(row["start"])
        if start.date() != day:
            continue
        stamp = row.get("arrived_at") if status == _WAITING else (row.get("in_chair_at") or row.get("arrived_at"))
        since = clock.local(stamp) if stamp else start
        out.append(WaitingEntry(int(row["id"]), row.get("patient_name") or "Patient", int(row["dentist_id"]),
                                start, status, since))
    out.sort(key=lambda e: (e.status != _WAITING, e.since, e.start))
    return out


def format_wait(seconds: float) -> str:
    """A wait as a receptionist reads it: "45 s", "12 min", "1 h 05 min"."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


class WaitingRoomPanel(QWidget):
    """A live list of who is waiting (and for how long) and who is in the chair, for today."""

    entries_changed = Signal()  # the list was rebuilt (who waits, who is seated)

    COLUMNS = ("Patient", "Appointment", "With", "Arrived", "Waiting")
    LONG_WAIT_MINUTES = 15  # a wait this long is shown in red: someone should say sorry

    def __init__(self, store: EntityStore, clock: ClinicClock, *, dentist_id: int | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.clock = clock
        self.dentist_id = dentist_id
        self.entries: list[WaitingEntry] = []
        self.summary = QLabel()
        self.summary.setObjectName("waitingRoomSummary")
        font = self.summary.font()
        font.setBold(True)
        self.summary.setFont(font)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setObjectName("waitingRoomTable")
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(self.COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        if dentist_id is not None:
            self.table.hideColumn(2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        self.timer = QTimer(self)
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self._on_timer_timeout)
        self.timer.start()
        # A burst of events (a resync, a busy feed) costs one rebuild, on the next turn of the loop.
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(0)
        self._refresh_timer.timeout.connect(self.refresh)
        store.add_listener(self._on_store_changed)
        self.refresh()

    def detach(self) -> None:
        self.timer.stop()
        self._refresh_timer.stop()
        self.store.remove_listener(self._on_store_changed)

    # -- reading (tests, the dentist view) ---------------------------------------------------

    def waiting(self) -> list[WaitingEntry]:
        self._flush()
        return [e for e in self.entries if e.status == _WAITING]

    def row_texts(self) -> list[list[str]]:
        self._flush()
        return [[self.table.item(r, c).text() for c in range(self.table.columnCount())]
                for r in range(self.table.rowCount())]

    # -- updating ----------------------------------------------------------------------------

    def _flush(self) -> None:
        """Bring the list up to date now if a rebuild is pending."""
        if self._refresh_timer.isActive():
            self._refresh_timer.stop()
            self.refresh()

    def refresh(self) -> None:
        """Rebuild the list from the store (a handful of rows: rebuilding is cheaper than diffing)."""
        self._refresh_timer.stop()
        self.entries = waiting_room(self.store.rows("appointment"), day=self.clock.today(), clock=self.clock,
                                    dentist_id=self.dentist_id)
        self.table.setRowCount(len(self.entries))
        dentists = {d["id"]: d.get("name", "") for d in self.store.rows("dentist")}
        types = {t["id"]: t.get("name", "") for t in self.store.rows("appointment_type")}
        for r, entry in enumerate(self.entries):
            row = self.store.get("appointment", entry.appointment_id) or {}
            values = (entry.patient_name, f"{entry.start:%H:%M} {types.get(row.get('type_id'), '')}".strip(),
                      dentists.get(entry.dentist_id, ""), f"{entry.since:%H:%M}" if entry.status == _WAITING else
                      f"{self.clock.local(row['arrived_at']):%H:%M}" if row.get("arrived_at") else "", "")
            for c, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, entry.appointment_id)
                self.table.setItem(r, c, item)
        self._tick()
        self.entries_changed.emit()

    def _tick(self) -> None:
        now = self.clock.now()
        waiting = 0
        for r, entry in enumerate(self.entries):
            seconds = (now - entry.since).total_seconds()
            item = self.table.item(r, 4)
            if entry.status == _WAITING:
                waiting += 1
                item.setText(format_wait(seconds))
                late = seconds >= self.LONG_WAIT_MINUTES * 60
                item.setForeground(QBrush(QColor("#c0392b" if late else "#1e8449")))
            else:
                item.setText(f"in chair {format_wait(seconds)}")
                item.setForeground(QBrush(QColor("#5d6d7e")))
        in_chair = len(self.entries) - waiting
        if not self.entries:
            self.summary.setText("Nobody is waiting.")
        else:
            self.summary.setText(f"{waiting} waiting · {in_chair} in the chair")

    def _on_timer_timeout(self) -> None:
        self._tick()

    def _on_store_changed(self, change: Change) -> None:
        if change.kind == "appointment":
            if change.op == "reset" or any(self._concerns_today(r) for r in (change.row, change.previous)):
                self._request_refresh()
        elif change.kind in ("dentist", "appointment_type") and self.entries:
            self._request_refresh()

    def _request_refresh(self) -> None:
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def _concerns_today(self, row: dict[str, Any] | None) -> bool:
        """An arrived or seated appointment of today: what the list is made of (the rest of the feed is not)."""
        return (row is not None and row.get("status") in (_WAITING, _IN_CHAIR)
                and self.clock.local_date(row["start"]) == self.clock.today())
