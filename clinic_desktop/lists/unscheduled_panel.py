"""The unscheduled list: cancelled, no-show and broken appointments to rebook, live from the feed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..clinic_clock import parse_instant
from ..operations import Operations
from ..session import Session
from ..store import Change
from .booking_for import open_booking_for
from .list_table import list_table, select_row

__all__ = ["UnscheduledPanel", "unscheduled_rows", "what_happened"]

_ID = Qt.ItemDataRole.UserRole + 1
_BROKEN = QColor(160, 30, 20)


def unscheduled_rows(session: Session) -> list[dict[str, Any]]:
    """Appointments on the list (state "open"), most recently taken off the book first."""
    rows = [row for row in session.store.rows("appointment") if (row.get("unscheduled") or {}).get("state") == "open"]
    return sorted(rows, key=lambda r: ((r.get("unscheduled") or {}).get("at") or "", r["id"]), reverse=True)


def what_happened(session: Session, row: dict[str, Any]) -> str:
    """"No-show", "Broken (late cancel)" (cancelled inside the clinic's late-cancel window) or "Cancelled"."""
    if row.get("status") == "no_show":
        return "No-show"
    hours = int(session.store.settings().get("late_cancel_hours") or 0)
    at = (row.get("unscheduled") or {}).get("at")
    if at and hours and parse_instant(row["start"]) - parse_instant(at) < timedelta(hours=hours):
        return "Broken (late cancel)"
    return "Cancelled"


class UnscheduledPanel(QWidget):
    """Leaves the list when rebooked (here, at another desk, or by the patient online) or dismissed."""

    count_changed = Signal(int)

    def __init__(self, session: Session, operations: Operations, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._operations = operations
        self.booking_dialog = None  # the last one opened (tests)
        self.hint = QLabel("")
        self.hint.setWordWrap(True)
        self.table = list_table(["Was booked for", "Patient", "Treatment", "Dentist", "What happened",
                                "Reason", "By, when"])
        self.rebook_button = QPushButton("Rebook…")
        self.rebook_button.setToolTip("Find the next opening for this patient and treatment")
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.setToolTip("Take it off the list without rebooking")
        buttons = QHBoxLayout()
        buttons.addWidget(self.hint, 1)
        buttons.addWidget(self.dismiss_button)
        buttons.addWidget(self.rebook_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self.table.itemSelectionChanged.connect(self._on_table_item_selection_changed)
        self.table.itemDoubleClicked.connect(self._on_table_item_double_clicked)
        self.rebook_button.clicked.connect(self._on_rebook_button_clicked)
        self.dismiss_button.clicked.connect(self._on_dismiss_button_clicked)
        session.store.add_listener(self._on_store_changed)
        self.destroyed.connect(lambda *_: session.store.remove_listener(self._on_store_changed))
        self._fill()

    def detach(self) -> None:
        self._session.store.remove_listener(self._on_store_changed)

    def write_controls(self) -> list[QWidget]:
        return [self.rebook_button, self.dismiss_button]

    def appointment_ids(self) -> list[int]:
        return [self.table.item(r, 0).data(_ID) for r in range(self.table.rowCount())]

    def select(self, appointment_id: int) -> bool:
        return select_row(self.table, _ID, appointment_id)

    def current(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows()
        return self._session.store.get("appointment", rows[0].data(_ID)) if rows else None

    def rebook(self, appointment_id: int | None = None):
        """The booking dialog for the patient and treatment, next opening selected (one click to book)."""
        row = self._session.store.get("appointment", appointment_id) if appointment_id else self.current()
        if row is None:
            return None
        seen = dict(row)
        dialog = open_booking_for(self._session, self._operations, patient_id=row["patient_id"],
                                  type_id=row.get("type_id"), parent=self)
        if dialog is not None:
            dialog.booked.connect(lambda booked: self._on_booked(seen, booked))
        self.booking_dialog = dialog
        return dialog

    async def dismiss(self, row: dict[str, Any]) -> dict[str, Any] | None:
        return await self._operations.run("lists.unscheduled_resolve", {
            "id": row["id"], "version": row["version"], "outcome": "dismissed"}, controls=[self.dismiss_button],
            done=f"{row.get('patient_name') or 'Appointment'} taken off the unscheduled list")

    # -- filling -----------------------------------------------------------------------------

    def _fill(self) -> None:
        store, clock = self._session.store, self._session.clock
        chosen = self.current()
        rows = unscheduled_rows(self._session)
        self.table.blockSignals(True)
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            info = row.get("unscheduled") or {}
            happened = what_happened(self._session, row)
            by = info.get("by_name") or ""
            when = clock.format_when(info["at"]) if info.get("at") else ""
            cells = [clock.format_when(row["start"]), row.get("patient_name") or "",
                     (store.get("appointment_type", row.get("type_id")) or {}).get("name", ""),
                     (store.get("dentist", row.get("dentist_id")) or {}).get("name", ""), happened,
                     row.get("cancel_reason") or "", f"{by}, {when}" if by else when]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(str(text))
                item.setData(_ID, row["id"])
                if c == 4 and happened != "Cancelled":
                    item.setForeground(QBrush(_BROKEN))
                self.table.setItem(r, c, item)
        self.table.blockSignals(False)
        if chosen is None or not self.select(chosen["id"]):
            self.table.clearSelection()
        self.hint.setText("Select one and Rebook… to find the next opening, or Dismiss it." if rows
                          else "Nothing to rebook: no cancelled or missed appointment is waiting.")
        self.update_actions()
        self.count_changed.emit(len(rows))

    def update_actions(self) -> None:
        chosen = self.current() is not None
        self.rebook_button.setEnabled(chosen and self._session.online)
        self.dismiss_button.setEnabled(chosen and self._session.online)

    # -- reactions ---------------------------------------------------------------------------

    def _on_booked(self, seen: dict[str, Any], booked: dict[str, Any]) -> None:
        # Same patient and treatment: the database already marked it rebooked. Another treatment: say so here.
        if booked.get("type_id") != seen.get("type_id"):
            self._session.tasks.spawn(self._operations.run("lists.unscheduled_resolve", {
                "id": seen["id"], "version": seen["version"], "outcome": "rebooked", "rebooked_as": booked["id"]}),
                name="lists.unscheduled_resolve")

    def _on_table_item_selection_changed(self) -> None:
        self.update_actions()

    def _on_table_item_double_clicked(self, _item: QTableWidgetItem) -> None:
        self.rebook()

    def _on_rebook_button_clicked(self) -> None:
        self.rebook()

    def _on_dismiss_button_clicked(self) -> None:
        row = self.current()
        if row is not None:
            self._session.tasks.spawn(self.dismiss(row), name="lists.unscheduled_resolve")

    def _on_store_changed(self, change: Change) -> None:
        if change.kind not in ("appointment", "patient", "dentist", "appointment_type"):
            return
        if change.kind == "appointment" and change.op != "reset":
            before = (change.previous or {}).get("unscheduled") or {}
            after = (change.row or {}).get("unscheduled") or {}
            if before.get("state") != "open" and after.get("state") != "open":
                return
        try:
            self._fill()
        except RuntimeError:  # the widgets are gone; the destroyed hook removes this listener
            pass
