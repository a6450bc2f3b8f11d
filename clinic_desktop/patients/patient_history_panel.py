"""A patient's appointment history from the server, newest first, a page at a time (all of it, however old)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..messages import STATUS_LABELS
from ..operations import Operations
from ..session import Session
from ..store import Change

__all__ = ["PatientHistoryPanel"]

PAGE = 25


class PatientHistoryPanel(QWidget):
    """Pages come from `patients.history`; a change to one of the patient's appointments reloads the first page."""

    def __init__(self, session: Session, operations: Operations, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._operations = operations
        self.patient_id: int | None = None
        self._next: str | None = None
        self._items: list[dict[str, Any]] = []
        self.loads = 0  # pages fetched (tests, diagnostics)
        self.total_label = QLabel("")
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["When", "Treatment", "Dentist", "Status", "Notes"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.more_button = QPushButton("Load older…")
        self.more_button.hide()
        top = QHBoxLayout()
        top.addWidget(QLabel("<b>Appointment history</b>"))
        top.addStretch(1)
        top.addWidget(self.total_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.more_button)
        self._reload = QTimer(self)
        self._reload.setSingleShot(True)
        self._reload.setInterval(250)
        self._reload.timeout.connect(self._on_reload_timeout)
        self.more_button.clicked.connect(self._on_more_button_clicked)
        session.store.add_listener(self._on_store_changed)
        self.destroyed.connect(lambda *_: session.store.remove_listener(self._on_store_changed))

    def detach(self) -> None:
        self._session.store.remove_listener(self._on_store_changed)

    def items(self) -> list[dict[str, Any]]:
        return list(self._items)

    def show_patient(self, patient_id: int | None) -> None:
        self.patient_id = patient_id
        self._items, self._next = [], None
        self.table.setRowCount(0)
        self.total_label.setText("")
        self.more_button.hide()
        if patient_id is not None:
            self._session.tasks.spawn(self.load(), name="patients.history")

    async def load(self, more: bool = False) -> None:
        patient_id = self.patient_id
        if patient_id is None:
            return
        params: dict[str, Any] = {"patient_id": patient_id, "limit": PAGE}
        if more and self._next:
            params["before"] = self._next
        result = await self._operations.run("patients.history", params, controls=[self.more_button],
                                            report=self.total_label.setText)
        if result is None or patient_id != self.patient_id:
            return
        self.loads += 1
        self._items = (self._items if more else []) + list(result["items"])
        self._next = result.get("next")
        self._fill(int(result.get("total") or 0))

    def _fill(self, total: int) -> None:
        store, clock = self._session.store, self._session.clock
        self.table.setRowCount(len(self._items))
        for row, item in enumerate(self._items):
            status = STATUS_LABELS.get(item.get("status") or "", item.get("status") or "")
            if item.get("cancel_reason"):
                status += f" ({item['cancel_reason']})"
            # With the year: the history goes back further than this year.
            cells = [clock.local(item["start"]).strftime("%a %d %b %Y, %H:%M"), item.get("type_name") or "",
                     item.get("dentist_name") or (store.get("dentist", item.get("dentist_id")) or {}).get("name", ""),
                     status, item.get("notes") or ""]
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(str(text)))
        shown = len(self._items)
        self.total_label.setText(f"{total} appointment{'s' if total != 1 else ''}"
                                 + (f", newest {shown} shown" if shown < total else ""))
        self.more_button.setVisible(self._next is not None)

    def _on_more_button_clicked(self) -> None:
        self._session.tasks.spawn(self.load(more=True), name="patients.history")

    def _on_reload_timeout(self) -> None:
        if self.patient_id is not None:
            self._session.tasks.spawn(self.load(), name="patients.history")

    def _on_store_changed(self, change: Change) -> None:
        if change.kind != "appointment" or self.patient_id is None:
            return
        rows = (change.row or {}, change.previous or {})
        if any(row.get("patient_id") == self.patient_id for row in rows) and not self._reload.isActive():
            self._reload.start()
