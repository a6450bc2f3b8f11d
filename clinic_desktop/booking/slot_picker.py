"""Type, dentist (or any), a week of free slots from `slots.find`, re-queried live as others book."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from PySide6.QtCore import QDate, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QFormLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..clinic_clock import parse_instant, qdate_to_date
from ..operations import Operations
from ..session import Session
from ..store import Change

__all__ = ["SlotPicker"]

_LIVE_KINDS = {"appointment", "working_hours", "schedule_exception"}
_SLOT_ROLE = Qt.ItemDataRole.UserRole + 1
TAKEN = "The time you picked has just been taken. Please pick another."


class SlotPicker(QWidget):
    """Lists free slots for the chosen type and dentist over `days` days, kept current while shown.

    Any appointment, working-hours or exception event re-queries (debounced), so a slot someone
    else just took disappears; if it was the selected one, the user is told.
    """

    slot_changed = Signal(object)  # the selected slot dict, or None
    slots_refreshed = Signal(int)  # how many slots the last query returned

    def __init__(self, session: Session, operations: Operations, *, patient_mode: bool,
                 days: int = 7, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._operations = operations
        self._patient_mode = patient_mode
        self.days = days
        self.patient_id: int | None = None  # staff booking for a patient: their own bookings are excluded
        # A move: the appointment being moved does not make its own time busy (a 15-minute nudge).
        self.exclude_appointment_id: int | None = None
        # What to say when the next query no longer lists the selected time (None: say nothing,
        # because the caller has already told the user why, e.g. a refused booking).
        self._lost_message: str | None = TAKEN
        self._wanted_start: datetime | None = None  # a time to select once the slots arrive (double-click)
        self._slots: list[dict[str, Any]] = []
        self._querying = False
        self._dirty = False
        self.queries = 0  # slots.find calls made (tests, diagnostics)

        self.type_combo = QComboBox()
        self.type_combo.setObjectName("slotType")
        self.dentist_combo = QComboBox()
        self.dentist_combo.setObjectName("slotDentist")
        self.date_edit = QDateEdit()
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat("ddd d MMM yyyy")
        self.slot_list = QListWidget()
        self.slot_list.setObjectName("slotList")
        self.slot_list.setMinimumHeight(160)
        self.slot_list.setSpacing(2)
        self.slot_list.setAlternatingRowColors(True)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.status_label.setObjectName("slotStatus")

        form = QFormLayout()
        form.addRow("Treatment", self.type_combo)
        form.addRow("Dentist", self.dentist_combo)
        form.addRow("From", self.date_edit)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(QLabel("Free times"))
        layout.addWidget(self.slot_list, 1)
        layout.addWidget(self.status_label)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(120)
        self._debounce.timeout.connect(self._on_debounce_timeout)

        self._fill_combos()
        self.set_date(session.clock.today())
        self.type_combo.currentIndexChanged.connect(self._on_type_combo_current_index_changed)
        self.dentist_combo.currentIndexChanged.connect(self._on_dentist_combo_current_index_changed)
        self.date_edit.dateChanged.connect(self._on_date_edit_date_changed)
        self.slot_list.currentItemChanged.connect(self._on_slot_list_current_item_changed)
        session.store.add_listener(self._on_store_changed)
        session.state_changed.connect(self._on_session_state_changed)

    def detach(self) -> None:
        self._session.store.remove_listener(self._on_store_changed)
        self._debounce.stop()

    # -- own API -----------------------------------------------------------------------------

    def set_type(self, type_id: int | None) -> None:
        index = self.type_combo.findData(type_id)
        if index >= 0:
            self.type_combo.setCurrentIndex(index)

    def lock_type(self, type_id: int) -> None:
        self.set_type(type_id)
        self.type_combo.setEnabled(False)

    def set_dentist(self, dentist_id: int | None) -> None:
        index = self.dentist_combo.findData(dentist_id if dentist_id is not None else 0)
        if index >= 0:
            self.dentist_combo.setCurrentIndex(index)

    def set_date(self, day: date) -> None:
        self.date_edit.setDate(QDate(day.year, day.month, day.day))

    def type_id(self) -> int | None:
        return self.type_combo.currentData()

    def dentist_id(self) -> int | None:
        return self.dentist_combo.currentData() or None

    def slots(self) -> list[dict[str, Any]]:
        return list(self._slots)

    def current_slot(self) -> dict[str, Any] | None:
        item = self.slot_list.currentItem()
        return item.data(_SLOT_ROLE) if item is not None else None

    def select_slot(self, slot: dict[str, Any]) -> bool:
        for row in range(self.slot_list.count()):
            item = self.slot_list.item(row)
            if _same_slot(item.data(_SLOT_ROLE), slot):
                self.slot_list.setCurrentItem(item)
                return True
        return False

    def set_patient(self, patient_id: int | None) -> None:
        """Offer only times when this patient is free too (staff booking for them)."""
        if patient_id != self.patient_id:
            self.patient_id = patient_id
            self.refresh(lost_message="The time you picked is not free for this patient. Please pick another.")

    def preselect(self, start: datetime) -> None:
        """Select the slot starting at `start` when the slots arrive (a double-clicked free spot)."""
        self._wanted_start = start

    def clear_selection(self) -> None:
        """Forget the selected time, and any "just been taken" about it.

        After a booking (its disappearing is no news) or a refused one (the refusal already says
        why, once), so no later query announces the loss of a time nobody holds any more.
        """
        self.slot_list.setCurrentItem(None)
        self.slot_list.clearSelection()
        self.status_label.setText(f"{len(self._slots)} free times." if self._slots else "")

    def refresh(self, *, lost_message: str | None = TAKEN) -> None:
        """Re-query soon (debounced: a burst of events costs one query).

        `lost_message` is said if the selected time is gone from the new list; None says nothing.
        """
        self._lost_message = lost_message
        if not self._debounce.isActive():  # a steady stream of events still re-queries every 120 ms
            self._debounce.start()

    # -- combos ------------------------------------------------------------------------------

    def _fill_combos(self) -> None:
        store = self._session.store
        current_type = self.type_combo.currentData()
        self.type_combo.blockSignals(True)
        self.type_combo.clear()
        for row in sorted(store.rows("appointment_type"), key=lambda r: r["id"]):
            if self._patient_mode and not row.get("patient_bookable"):
                continue
            self.type_combo.addItem(f"{row['name']} ({row['duration_minutes']} min)", row["id"])
        if current_type is not None and self.type_combo.findData(current_type) >= 0:
            self.type_combo.setCurrentIndex(self.type_combo.findData(current_type))
        self.type_combo.blockSignals(False)
        current_dentist = self.dentist_combo.currentData()
        self.dentist_combo.blockSignals(True)
        self.dentist_combo.clear()
        self.dentist_combo.addItem("Any dentist", 0)
        for row in sorted(store.rows("dentist"), key=lambda r: r["id"]):
            if row.get("active", True):
                self.dentist_combo.addItem(row["name"], row["id"])
        if current_dentist is not None and self.dentist_combo.findData(current_dentist) >= 0:
            self.dentist_combo.setCurrentIndex(self.dentist_combo.findData(current_dentist))
        self.dentist_combo.blockSignals(False)

    # -- querying ----------------------------------------------------------------------------

    def _on_debounce_timeout(self) -> None:
        if self._querying:
            self._dirty = True  # one more query after the running one, never two at once
            return
        self._session.tasks.spawn(self._query(), name="slots.find")

    async def _query(self) -> None:
        type_id = self.type_id()
        if type_id is None:
            return
        if not self._session.online:
            self.status_label.setText("Offline: free times cannot be looked up right now.")
            return
        self._querying = True
        try:
            start = qdate_to_date(self.date_edit.date())
            params: dict[str, Any] = {
                "type_id": type_id,
                "from": start.isoformat(),
                "to": (start + timedelta(days=self.days - 1)).isoformat(),
            }
            if self.dentist_id() is not None:
                params["dentist_id"] = self.dentist_id()
            if self.patient_id is not None and not self._patient_mode:
                params["patient_id"] = self.patient_id
            if self.exclude_appointment_id is not None:
                params["exclude_appointment_id"] = self.exclude_appointment_id
            self.queries += 1
            result = await self._operations.run("slots.find", params, report=self.status_label.setText)
            if result is not None:
                slots = result if isinstance(result, list) else result.get("slots", [])
                self._show(list(slots), type_id)
        finally:
            self._querying = False
        if self._dirty:
            self._dirty = False
            self.refresh()

    def _show(self, slots: list[dict[str, Any]], type_id: int) -> None:
        previous = self.current_slot()
        clock = self._session.clock
        self._slots = [dict(slot, type_id=slot.get("type_id", type_id)) for slot in slots]
        self.slot_list.blockSignals(True)
        self.slot_list.clear()
        kept = False
        for slot in self._slots:
            dentist = self._session.store.get("dentist", slot["dentist_id"]) or {}
            text = (f"{clock.format_when(slot['start'])}–{clock.format_time(slot['end'])}   "
                    f"{dentist.get('name', '')}")
            item = QListWidgetItem(text)
            item.setData(_SLOT_ROLE, slot)
            self.slot_list.addItem(item)
            if previous is not None and _same_slot(slot, previous):
                self.slot_list.setCurrentItem(item)
                kept = True
        self.slot_list.blockSignals(False)
        lost_message, self._lost_message = self._lost_message, TAKEN
        if previous is None and self._wanted_start is not None:
            self._select_wanted()
        elif previous is not None and not kept:
            self.status_label.setText(lost_message or f"{len(self._slots)} free times.")
            self.slot_changed.emit(None)
        elif not self._slots:
            self.status_label.setText("No free times in these days. Try a later date or another dentist.")
        else:
            self.status_label.setText(f"{len(self._slots)} free times.")
        self.slots_refreshed.emit(len(self._slots))

    def _select_wanted(self) -> None:
        wanted, self._wanted_start = self._wanted_start, None
        assert wanted is not None
        for row in range(self.slot_list.count()):
            item = self.slot_list.item(row)
            if parse_instant(item.data(_SLOT_ROLE)["start"]) == wanted:
                self.slot_list.setCurrentItem(item)
                self.slot_list.scrollToItem(item)
                self.status_label.setText(f"{len(self._slots)} free times; "
                                          f"{self._session.clock.format_when(wanted)} is selected.")
                return
        self.status_label.setText(f"{self._session.clock.format_when(wanted)} is not free for this treatment. "
                                  "Please pick another time.")

    # -- slots -------------------------------------------------------------------------------

    def _on_type_combo_current_index_changed(self, _index: int) -> None:
        self.refresh()

    def _on_dentist_combo_current_index_changed(self, _index: int) -> None:
        self.refresh()

    def _on_date_edit_date_changed(self, _day: QDate) -> None:
        self.refresh()

    def _on_slot_list_current_item_changed(self, current: QListWidgetItem | None, _previous: object) -> None:
        self.slot_changed.emit(current.data(_SLOT_ROLE) if current is not None else None)

    def _on_session_state_changed(self, state: str) -> None:
        if state == "connected":
            self.refresh()

    def _on_store_changed(self, change: Change) -> None:
        if change.kind in ("appointment_type", "dentist", "settings"):
            self._fill_combos()
            if change.op == "reset":
                self.refresh()
        elif change.kind in _LIVE_KINDS and (change.op == "reset" or self._touches_shown_window(change)):
            self.refresh()

    def _touches_shown_window(self, change: Change) -> bool:
        """Only changes that can alter the listed slots re-query: same dentist (or any), shown dates."""
        dentist_id = self.dentist_id()
        for row in (change.row, change.previous):
            if row is None:
                continue
            if dentist_id is not None and row.get("dentist_id") not in (dentist_id, None):
                continue
            if change.kind == "working_hours" or "start" not in row:
                return True
            first = qdate_to_date(self.date_edit.date())
            last = first + timedelta(days=self.days)
            clock = self._session.clock
            if clock.local_date(row["start"]) <= last and clock.local_date(row.get("end") or row["start"]) >= first:
                return True
        return False


def _same_slot(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    if a is None or b is None:
        return False
    return a.get("dentist_id") == b.get("dentist_id") and a.get("start") == b.get("start")
