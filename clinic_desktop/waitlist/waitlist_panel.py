"""The front desk's waitlist: who wants an earlier time, and each live offer as it is made, taken or lapses."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelection, Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..operations import Operations
from ..session import Session
from ..store import Change
from .join_waitlist_dialog import JoinWaitlistDialog
from .waitlist_table_model import WaitlistTableModel

__all__ = ["WaitlistPanel", "waitlist_panel"]


class WaitlistPanel(QWidget):
    """The list (oldest request first), with Add…, Take off the list, and Accept offer (for a patient on the phone)."""

    def __init__(self, session: Session, operations: Operations, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._operations = operations
        self.model = WaitlistTableModel(session.store, session.clock, self)
        self.summary = QLabel()
        self.table = QTableView()
        self.table.setObjectName("waitlistTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.add_button = QPushButton("Add to waitlist…")
        self.accept_button = QPushButton("Accept offer for patient")
        self.remove_button = QPushButton("Take off the list")
        self.message = QLabel()
        self.message.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addStretch(1)
        buttons.addWidget(self.accept_button)
        buttons.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        self._timer = QTimer(self)  # offers lapse with the clock
        self._timer.setInterval(30_000)
        self._timer.timeout.connect(self.model.refresh_offers)
        self._timer.start()
        self.add_button.clicked.connect(self._on_add_button_clicked)
        self.accept_button.clicked.connect(self._on_accept_button_clicked)
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)
        session.store.add_listener(self._on_store_changed)
        self.update_actions()

    def detach(self) -> None:
        self._session.store.remove_listener(self._on_store_changed)
        self.model.detach()

    def selected_request(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows()
        request_id = self.model.request_id(rows[0].row()) if rows else None
        return self._session.store.get("waitlist_request", request_id)

    def update_actions(self) -> None:
        request = self.selected_request()
        self.remove_button.setEnabled(request is not None)
        self.accept_button.setEnabled(request is not None and self.model.offer_for(request["id"]) is not None)
        count = self.model.rowCount()
        offered = sum(1 for r in range(count) if self.model.offer_for(self.model.request_id(r) or 0))
        self.summary.setText(f"<b>Waitlist</b> — {count} waiting" + (f", {offered} with an offer open" if offered else ""))

    # -- actions -----------------------------------------------------------------------------

    async def remove(self, request: dict[str, Any]) -> dict[str, Any] | None:
        result = await self._operations.run("waitlist.remove", {"id": request["id"], "version": request["version"]},
                                            controls=[self.remove_button], report=self.message.setText)
        if result is not None:
            self._session.store.upsert("waitlist_request", result)
            self.message.setText(f"{request.get('patient_name')} is off the waitlist.")
        return result

    async def accept(self, offer: dict[str, Any]) -> dict[str, Any] | None:
        result = await self._operations.run("waitlist.accept", {"offer_id": offer["id"]},
                                            controls=[self.accept_button], report=self.message.setText)
        if result is not None:
            self._session.store.upsert("appointment", result["appointment"])
            self._session.store.upsert("waitlist_offer", result["offer"])
            when = self._session.clock.format_when(result["appointment"]["start"])
            self.message.setText(f"Booked {result['appointment'].get('patient_name')} for {when}.")
        return result

    # -- slots -------------------------------------------------------------------------------

    def _on_add_button_clicked(self) -> None:
        request = self.selected_request()
        dialog = JoinWaitlistDialog(self._session, self._operations,
                                    patient_id=request["patient_id"] if request else None, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def _on_accept_button_clicked(self) -> None:
        request = self.selected_request()
        offer = self.model.offer_for(request["id"]) if request else None
        if offer is not None:
            self._session.tasks.spawn(self.accept(offer), name="waitlist.accept")

    def _on_remove_button_clicked(self) -> None:
        request = self.selected_request()
        if request is not None:
            self._session.tasks.spawn(self.remove(request), name="waitlist.remove")

    def _on_table_selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self.update_actions()

    def _on_store_changed(self, change: Change) -> None:
        if change.kind in ("waitlist_request", "waitlist_offer"):
            self.update_actions()


def waitlist_panel(session: Session, operations: Operations, parent: QWidget | None = None) -> WaitlistPanel:
    """The front desk's waitlist panel, for the admin window to place (one call)."""
    return WaitlistPanel(session, operations, parent)
