"""Confirmations: the next working days' appointments not yet confirmed, with how to reach each patient."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..operations import Operations
from ..patients.patient_table_model import CONTACT_LABELS
from ..session import Session
from ..store import Change
from .list_table import list_table, select_row
from .working_days import next_working_days

__all__ = ["CONFIRMATION_LABELS", "ConfirmationsPanel", "confirmation_rows"]

CONFIRMATION_LABELS = {"confirmed": "Confirmed", "left_message": "Left message", "no_answer": "No answer"}
_ID = Qt.ItemDataRole.UserRole + 1
_ALERT = QColor(160, 30, 20)
DAYS = 2  # the next two working days
_REFILL_MS = 100  # a burst of events (a busy feed, a resync) costs one refill


def confirmation_rows(session: Session, days: int = DAYS) -> list[dict[str, Any]]:
    """Scheduled (not yet confirmed) appointments on the next `days` working days, in time order."""
    clock = session.clock
    wanted = set(next_working_days(session.store, clock, days))
    rows = [row for row in session.store.rows("appointment")
            if row.get("status") == "scheduled" and not row.get("busy") and clock.local_date(row["start"]) in wanted]
    return sorted(rows, key=lambda r: (r["start"], r["id"]))


class ConfirmationsPanel(QWidget):
    """One click records the call ("Confirmed" also confirms the appointment); the list follows every desk."""

    count_changed = Signal(int)

    def __init__(self, session: Session, operations: Operations, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._operations = operations
        self._days: set = set()  # the days listed: an appointment event elsewhere needs no refill
        self._day = session.clock.today()
        self.title = QLabel("")
        self.table = list_table(["When", "Patient", "Phone", "Email", "Prefers", "Last call",
                                "Dentist", "Treatment"])
        self.buttons: dict[str, QPushButton] = {state: QPushButton(label) for state, label in CONFIRMATION_LABELS.items()}
        row = QHBoxLayout()
        row.addWidget(QLabel("Record the call:"))
        for button in self.buttons.values():
            row.addWidget(button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)
        for state, button in self.buttons.items():
            button.clicked.connect(lambda _checked=False, s=state: self._on_state_button_clicked(s))
        self.table.itemSelectionChanged.connect(self._on_table_item_selection_changed)
        self._refill = QTimer(self)
        self._refill.setSingleShot(True)
        self._refill.setInterval(_REFILL_MS)
        self._refill.timeout.connect(self._fill)
        session.store.add_listener(self._on_store_changed)
        self.destroyed.connect(lambda *_: session.store.remove_listener(self._on_store_changed))
        self._fill()

    def detach(self) -> None:
        self._refill.stop()
        self._session.store.remove_listener(self._on_store_changed)

    def _flush(self) -> None:
        """Refill now if a refill is pending (what a reader sees is never behind the store)."""
        if self._refill.isActive():
            self._fill()

    def write_controls(self) -> list[QWidget]:
        return list(self.buttons.values())

    def appointment_ids(self) -> list[int]:
        self._flush()
        return [self.table.item(r, 0).data(_ID) for r in range(self.table.rowCount())]

    def row_texts(self, appointment_id: int) -> list[str]:
        self._flush()
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).data(_ID) == appointment_id:
                return [self.table.item(r, c).text() for c in range(self.table.columnCount())]
        return []

    def select(self, appointment_id: int) -> bool:
        self._flush()
        return select_row(self.table, _ID, appointment_id)

    def current(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows()
        return self._session.store.get("appointment", rows[0].data(_ID)) if rows else None

    async def record(self, row: dict[str, Any], state: str) -> dict[str, Any] | None:
        """The call's outcome on the appointment as shown in the list (its version goes with it)."""
        label = CONFIRMATION_LABELS[state]
        return await self._operations.run("lists.confirm", {"id": row["id"], "version": row["version"], "state": state},
                                          controls=list(self.buttons.values()),
                                          done=f"{row.get('patient_name') or 'Appointment'}: {label.lower()}")

    def _fill(self) -> None:
        self._refill.stop()
        store, clock = self._session.store, self._session.clock
        chosen = self.current()
        days = next_working_days(store, clock, DAYS)
        self._days = set(days)
        self._day = clock.today()
        rows = confirmation_rows(self._session)
        self.title.setText("<b>To confirm</b> — " + (" and ".join(clock.format_day(d) for d in days) or "no working days")
                           + f": {len(rows)} not yet confirmed")
        self.table.blockSignals(True)
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            patient = store.get("patient", row.get("patient_id")) or {}
            last = row.get("confirmation") or {}
            call = ""
            if last.get("state"):
                call = f"{CONFIRMATION_LABELS.get(last['state'], last['state'])} — {last.get('by_name') or ''}"
                if last.get("at"):
                    call += f", {clock.format_when(last['at'])}"
            cells = [clock.format_when(row["start"]), row.get("patient_name") or "", patient.get("phone") or "",
                     patient.get("email") or "", CONTACT_LABELS.get(patient.get("preferred_contact") or "", ""), call,
                     (store.get("dentist", row.get("dentist_id")) or {}).get("name", ""),
                     (store.get("appointment_type", row.get("type_id")) or {}).get("name", "")]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(str(text))
                item.setData(_ID, row["id"])
                if c == 1 and row.get("patient_alert"):
                    item.setText(f"⚠ {text}")
                    item.setForeground(QBrush(_ALERT))
                    item.setToolTip(f"Medical alert: {row['patient_alert']}")
                self.table.setItem(r, c, item)
        self.table.blockSignals(False)
        if chosen is None or not self.select(chosen["id"]):
            self.table.clearSelection()
        self.update_actions()
        self.count_changed.emit(len(rows))

    def update_actions(self) -> None:
        chosen = self.current() is not None and self._session.online
        for button in self.buttons.values():
            button.setEnabled(chosen)

    def _on_state_button_clicked(self, state: str) -> None:
        row = self.current()
        if row is not None:
            self._session.tasks.spawn(self.record(row, state), name="lists.confirm")

    def _on_table_item_selection_changed(self) -> None:
        self.update_actions()

    def _touches_list(self, change: Change) -> bool:
        if change.op == "reset" or self._day != self._session.clock.today():
            return True
        local = self._session.clock.local_date
        return any(row and row.get("start") and local(row["start"]) in self._days
                   for row in (change.row, change.previous))

    def _on_store_changed(self, change: Change) -> None:
        if change.kind == "appointment" and not self._touches_list(change):
            return
        if change.kind in ("appointment", "patient", "working_hours", "schedule_exception", "settings", "dentist"):
            if not self._refill.isActive():  # a steady stream still refills every _REFILL_MS
                self._refill.start()
