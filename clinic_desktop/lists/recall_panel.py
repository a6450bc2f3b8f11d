"""Recall: patients due (or overdue) for a check-up or cleaning in a chosen month, with one-step scheduling."""

from __future__ import annotations

from datetime import date
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..messages import format_birth_date
from ..operations import Operations
from ..patients.patient_table_model import CONTACT_LABELS
from ..session import Session
from ..store import Change
from .booking_for import open_booking_for
from .list_table import list_table

__all__ = ["RecallPanel"]

_ROW = Qt.ItemDataRole.UserRole + 1
_OVERDUE = QColor(160, 30, 20)
MONTHS_BACK, MONTHS_AHEAD = 3, 12


def _month_add(day: date, months: int) -> date:
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    return date(year, month + 1, 1)


class RecallPanel(QWidget):
    """Read from the server (recall needs every completed visit, older than the feed's window); read again,
    debounced, whenever an appointment changes, so a patient booked at any desk leaves the list."""

    count_changed = Signal(int)
    refreshed = Signal()

    def __init__(self, session: Session, operations: Operations, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._operations = operations
        self._rows: list[dict[str, Any]] = []
        self._stale = False  # an appointment changed while the tab was hidden
        self.booking_dialog = None
        self.loads = 0
        self.month_combo = QComboBox()
        first = session.clock.today().replace(day=1)
        for offset in range(-MONTHS_BACK, MONTHS_AHEAD + 1):
            month = _month_add(first, offset)
            self.month_combo.addItem(month.strftime("%B %Y"), month.strftime("%Y-%m"))
        self.month_combo.setCurrentIndex(MONTHS_BACK)
        self.summary = QLabel("")
        self.table = list_table(["Due", "Patient", "Recall for", "Last visit", "Phone", "Email",
                                "Prefers", "Medical alert"])
        self.schedule_button = QPushButton("Schedule…")
        self.schedule_button.setToolTip("Book this recall: the next opening for the patient and treatment")
        top = QHBoxLayout()
        top.addWidget(QLabel("Due by the end of"))
        top.addWidget(self.month_combo)
        top.addWidget(self.summary, 1)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.schedule_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)
        self._reload = QTimer(self)
        self._reload.setSingleShot(True)
        self._reload.setInterval(300)
        self._reload.timeout.connect(self._on_reload_timeout)
        self.month_combo.currentIndexChanged.connect(self._on_month_combo_current_index_changed)
        self.table.itemSelectionChanged.connect(self._on_table_item_selection_changed)
        self.table.itemDoubleClicked.connect(self._on_table_item_double_clicked)
        self.schedule_button.clicked.connect(self._on_schedule_button_clicked)
        session.store.add_listener(self._on_store_changed)
        self.destroyed.connect(lambda *_: session.store.remove_listener(self._on_store_changed))
        self.update_actions()
        self._reload.start()

    def detach(self) -> None:
        self._session.store.remove_listener(self._on_store_changed)
        self._reload.stop()

    def write_controls(self) -> list[QWidget]:
        return [self.schedule_button]

    def month(self) -> str:
        return str(self.month_combo.currentData())

    def set_month(self, month: str) -> None:
        index = self.month_combo.findData(month)
        if index >= 0:
            self.month_combo.setCurrentIndex(index)

    def rows(self) -> list[dict[str, Any]]:
        return list(self._rows)

    def patient_ids(self) -> set[int]:
        return {row["patient_id"] for row in self._rows}

    def select(self, patient_id: int, type_id: int | None = None) -> bool:
        for r in range(self.table.rowCount()):
            row = self.table.item(r, 0).data(_ROW)
            if row["patient_id"] == patient_id and (type_id is None or row["type_id"] == type_id):
                self.table.selectRow(r)
                return True
        return False

    def current(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].data(_ROW) if rows else None

    def schedule(self):
        """One step: the booking dialog for the patient and the recall's treatment, next opening selected."""
        row = self.current()
        if row is None:
            return None
        self.booking_dialog = open_booking_for(self._session, self._operations, patient_id=row["patient_id"],
                                               type_id=row["type_id"], parent=self)
        return self.booking_dialog

    async def load(self) -> None:
        month = self.month()
        result = await self._operations.run("lists.recall", {"month": month}, report=self.summary.setText)
        if result is None or month != self.month():
            return
        self.loads += 1
        self._rows = list(result["rows"])
        self._fill()
        self.refreshed.emit()

    def _fill(self) -> None:
        chosen = self.current()
        self.table.blockSignals(True)
        self.table.setRowCount(len(self._rows))
        for r, row in enumerate(self._rows):
            due = date.fromisoformat(row["due"])
            alert = (row.get("medical_alerts") or "").strip()
            cells = [due.strftime("%d %b %Y") + ("  (overdue)" if row.get("overdue") else ""), row["patient_name"],
                     row["type_name"], format_birth_date(row["last"]), row.get("phone") or "", row.get("email") or "",
                     CONTACT_LABELS.get(row.get("preferred_contact") or "", ""), ("⚠ " + alert) if alert else ""]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(_ROW, row)
                if (c == 0 and row.get("overdue")) or (c == 7 and alert):
                    item.setForeground(QBrush(_OVERDUE))
                self.table.setItem(r, c, item)
        self.table.blockSignals(False)
        if chosen is None or not self.select(chosen["patient_id"], chosen["type_id"]):
            self.table.clearSelection()
        overdue = sum(1 for row in self._rows if row.get("overdue"))
        self.summary.setText(f"{len(self._rows)} due" + (f", {overdue} of them overdue" if overdue else "")
                             + " — none of them booked yet")
        self.update_actions()
        self.count_changed.emit(len(self._rows))

    def update_actions(self) -> None:
        self.schedule_button.setEnabled(self.current() is not None and self._session.online)

    def _on_reload_timeout(self) -> None:
        if self._session.online:
            self._session.tasks.spawn(self.load(), name="lists.recall")

    def _on_month_combo_current_index_changed(self, _index: int) -> None:
        self._reload.start(0)

    def _on_table_item_selection_changed(self) -> None:
        self.update_actions()

    def _on_table_item_double_clicked(self, _item: QTableWidgetItem) -> None:
        self.schedule()

    def _on_schedule_button_clicked(self) -> None:
        self.schedule()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self._stale = False
            self._reload.start(0)

    def _on_store_changed(self, change: Change) -> None:
        if change.kind not in ("appointment", "patient", "appointment_type"):
            return
        try:
            if not self.isVisible():
                self._stale = True  # read again when shown: no server query per event for a hidden tab
            elif not self._reload.isActive():
                self._reload.start()
        except RuntimeError:  # the widgets are gone; the destroyed hook removes this listener
            pass
