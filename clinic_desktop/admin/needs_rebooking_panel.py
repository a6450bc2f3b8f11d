"""The front desk's "Needs rebooking" list: appointments a day off or shorter hours left outside working time."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from ..models import StrandedAppointments
from ..session import Session
from ..store import Change

__all__ = ["NeedsRebookingPanel"]

_ID_ROLE = Qt.ItemDataRole.UserRole + 1
_REFILL_MS = 150  # changes arriving together (a burst of events) refill the list once


class NeedsRebookingPanel(QWidget):
    """Live from the store: an appointment leaves the list the moment it is moved into working time or cancelled."""

    appointment_selected = Signal(int)
    count_changed = Signal(int)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._stranded = StrandedAppointments.of(session.store, session.clock)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.list = QListWidget()
        self.list.setAlternatingRowColors(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.hint)
        layout.addWidget(self.list, 1)
        self.list.currentItemChanged.connect(self._on_list_current_item_changed)
        self._refill = QTimer(self)
        self._refill.setSingleShot(True)
        self._refill.setInterval(_REFILL_MS)
        self._refill.timeout.connect(self._fill)
        self._stale = False  # changed while hidden: rebuilt when shown
        self._stranded.add_listener(self._on_stranded_changed)
        session.store.add_listener(self._on_store_changed)
        self._fill()

    def detach(self) -> None:
        self._refill.stop()
        self._stranded.remove_listener(self._on_stranded_changed)
        self._session.store.remove_listener(self._on_store_changed)

    def appointment_ids(self) -> list[int]:
        """The listed appointments, top to bottom (brought up to date first if a refill is pending)."""
        if self._stale or self._refill.isActive():
            self._refill.stop()
            self._fill()
        return [self.list.item(i).data(_ID_ROLE) for i in range(self.list.count()) if self.list.item(i).data(_ID_ROLE)]

    def _fill(self) -> None:
        self._stale = False
        store, clock = self._session.store, self._session.clock
        current = self.list.currentItem().data(_ID_ROLE) if self.list.currentItem() else None
        rows = self._stranded.rows()
        self.list.blockSignals(True)
        self.list.clear()
        for row in rows:
            dentist = (store.get("dentist", row.get("dentist_id")) or {}).get("name", "")
            kind = (store.get("appointment_type", row.get("type_id")) or {}).get("name", "")
            text = (f"{clock.format_when(row['start'])}–{clock.format_time(row['end'])}   "
                    f"{row.get('patient_name') or ''}   ·   {dentist}   ·   {kind}")
            item = QListWidgetItem(text)
            item.setData(_ID_ROLE, row["id"])
            self.list.addItem(item)
            if row["id"] == current:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        if rows:
            self.hint.setText("These appointments fall on a day off or outside the dentist's hours. "
                              "Select one, then Move… or Cancel… it; it leaves this list by itself.")
        else:
            self.hint.setText("Nothing to rebook: every upcoming appointment is inside its dentist's working hours.")
        self.count_changed.emit(len(rows))

    def _schedule_fill(self) -> None:
        """Rebuild the list at most every _REFILL_MS, and only while it can be seen (the count always)."""
        if not self.isVisible():
            self._stale = True
            self.count_changed.emit(len(self._stranded.ids()))
        elif not self._refill.isActive():
            self._refill.start()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale:
            self._fill()

    def _on_stranded_changed(self, _changed: set[int], _cause: Change) -> None:
        self._schedule_fill()

    def _on_store_changed(self, change: Change) -> None:
        # A stranded appointment's name or time shown here changed without leaving the list.
        if change.kind == "appointment" and change.row is not None and change.row.get("id") in self._stranded:
            self._schedule_fill()

    def _on_list_current_item_changed(self, current: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if current is not None and current.data(_ID_ROLE):
            self.appointment_selected.emit(current.data(_ID_ROLE))
