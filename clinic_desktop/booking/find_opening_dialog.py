"""Find next opening: free times grouped by day, filtered by time of day, weekday, dentist, chair and length.

The first ten openings at a glance instead of one long list ("Show more" adds ten). The server's
`slots.find` finds the free times (with `chair_id` and `duration_minutes` for the chair and length
filters); `select_openings` is the pure core that applies the time-of-day and weekday filters and groups.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from ..clinic_clock import ClinicClock, qdate_to_date
from ..operations import Operations
from ..session import Session

__all__ = ["FindOpeningDialog", "Opening", "open_find_opening", "select_openings"]

PARTS = {"any": "Any time", "morning": "Morning (before 12:00)", "afternoon": "Afternoon (from 12:00)"}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
PAGE = 10  # openings shown at a glance; "Show more" adds as many
SEARCH_DAYS = 28  # one slots.find call covers four weeks
MAX_SEARCH_DAYS = 91  # how far ahead a search goes before it says there is nothing


@dataclass(frozen=True, slots=True)
class Opening:
    """A free stretch of one dentist: the appointment fits from `start` (to `end`), and any start up to
    `last_start` fits as well (the stretch is free until `free_until`)."""

    dentist_id: int
    start: datetime  # clinic-local
    end: datetime
    wire_start: str
    last_start: datetime
    free_until: datetime


def select_openings(slots: Iterable[dict[str, Any]], clock: ClinicClock, *, part: str = "any",
                    weekdays: frozenset[int] | None = None, step_minutes: int = 15) -> list[Opening]:
    """The free times that match the time of day and weekdays, one opening per free stretch (consecutive
    starts of one dentist fold into the first), soonest first, then by dentist."""
    kept = []
    for slot in slots:
        start = clock.local(slot["start"])
        if weekdays is not None and start.weekday() not in weekdays:
            continue
        if part == "morning" and start.hour >= 12:
            continue
        if part == "afternoon" and start.hour < 12:
            continue
        kept.append((start, int(slot["dentist_id"]), clock.local(slot["end"]), slot["start"]))
    kept.sort(key=lambda k: (k[1], k[0]))
    step = timedelta(minutes=step_minutes)
    out: list[Opening] = []
    for start, dentist_id, end, wire in kept:
        last = out[-1] if out else None
        if last is not None and last.dentist_id == dentist_id and timedelta(0) < start - last.last_start <= step:
            out[-1] = Opening(dentist_id, last.start, last.end, last.wire_start, start, end)
        else:
            out.append(Opening(dentist_id, start, end, wire, start, end))
    out.sort(key=lambda o: (o.start, o.dentist_id))
    return out


def group_by_day(openings: Iterable[Opening]) -> list[tuple[date, list[Opening]]]:
    groups: dict[date, list[Opening]] = {}
    for opening in openings:
        groups.setdefault(opening.start.date(), []).append(opening)
    return list(groups.items())


class FindOpeningDialog(QDialog):
    """Search for the next free times and pick one; `opening_chosen` carries it (the caller books it)."""

    opening_chosen = Signal(dict)  # {"dentist_id", "start", "type_id", "chair_id", "duration_minutes"}

    def __init__(self, session: Session, operations: Operations, *, type_id: int | None = None,
                 patient_id: int | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Find next opening")
        self.session = session
        self.operations = operations
        self.patient_id = patient_id
        self.openings: list[Opening] = []  # every matching opening found so far
        self.shown = PAGE
        self.searched_to: date | None = None
        store = session.store
        self.type_combo = QComboBox()
        for row in sorted(store.rows("appointment_type"), key=lambda r: r["id"]):
            if row.get("active", True):
                self.type_combo.addItem(f"{row['name']} ({row['duration_minutes']} min)", row["id"])
        if type_id is not None:
            self.type_combo.setCurrentIndex(max(0, self.type_combo.findData(type_id)))
        step = int(store.settings().get("slot_minutes") or 15)
        self.length_combo = QComboBox()
        self.length_combo.addItem("The treatment's length", None)
        for minutes in range(step, 181, step):
            self.length_combo.addItem(f"{minutes} min", minutes)
        self.dentist_combo = QComboBox()
        self.dentist_combo.addItem("Any dentist", None)
        for row in sorted(store.rows("dentist"), key=lambda r: r.get("name", "")):
            if row.get("active", True):
                self.dentist_combo.addItem(row["name"], row["id"])
        self.chair_combo = QComboBox()
        self.chair_combo.addItem("Any chair", None)
        for row in sorted(store.rows("chair"), key=lambda r: r.get("name", "")):
            if row.get("active", True):
                self.chair_combo.addItem(row["name"], row["id"])
        self.part_combo = QComboBox()
        for key, label in PARTS.items():
            self.part_combo.addItem(label, key)
        self.weekday_boxes: list[QCheckBox] = []
        weekday_row = QHBoxLayout()
        for index, name in enumerate(WEEKDAYS):
            box = QCheckBox(name)
            box.setChecked(index < 5)
            self.weekday_boxes.append(box)
            weekday_row.addWidget(box)
        weekday_row.addStretch(1)
        self.from_edit = QDateEdit()
        self.from_edit.setCalendarPopup(True)
        self.from_edit.setDisplayFormat("ddd dd MMM yyyy")
        today = session.clock.today()
        self.from_edit.setDate(QDate(today.year, today.month, today.day))
        self.search_button = QPushButton("Search")
        self.search_button.setDefault(True)

        form = QFormLayout()
        form.addRow("Treatment", self.type_combo)
        form.addRow("Length", self.length_combo)
        form.addRow("Dentist", self.dentist_combo)
        form.addRow("Chair", self.chair_combo)
        form.addRow("Time of day", self.part_combo)
        form.addRow("Days", weekday_row)
        form.addRow("From", self.from_edit)

        self.status_label = QLabel("Choose what you need, then Search.")
        self.status_label.setWordWrap(True)
        self.results = QTreeWidget()
        self.results.setObjectName("openingsTree")
        self.results.setHeaderLabels(["Opening", "Dentist", "Free until"])
        self.results.setRootIsDecorated(True)
        self.results.setColumnWidth(0, 250)
        self.results.setColumnWidth(1, 140)
        self.more_button = QPushButton("Show more")
        self.more_button.setEnabled(False)
        self.buttons = QDialogButtonBox()
        self.book_button = self.buttons.addButton("Book this time…", QDialogButtonBox.ButtonRole.AcceptRole)
        self.book_button.setEnabled(False)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Close)

        search_row = QHBoxLayout()
        search_row.addStretch(1)
        search_row.addWidget(self.search_button)
        footer = QHBoxLayout()
        footer.addWidget(self.more_button)
        footer.addStretch(1)
        footer.addWidget(self.buttons)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(search_row)
        layout.addWidget(self.status_label)
        layout.addWidget(self.results, 1)
        layout.addLayout(footer)
        self.resize(560, 640)

        self.search_button.clicked.connect(self._on_search_button_clicked)
        self.more_button.clicked.connect(self._on_more_button_clicked)
        self.results.itemSelectionChanged.connect(self._on_results_item_selection_changed)
        self.results.itemDoubleClicked.connect(self._on_results_item_double_clicked)
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)

    # -- the search --------------------------------------------------------------------------

    def weekdays(self) -> frozenset[int]:
        return frozenset(i for i, box in enumerate(self.weekday_boxes) if box.isChecked())

    def _params(self, first: date, last: date) -> dict[str, Any]:
        params: dict[str, Any] = {"type_id": self.type_combo.currentData(), "from": first.isoformat(),
                                  "to": last.isoformat()}
        for key, combo in (("dentist_id", self.dentist_combo), ("chair_id", self.chair_combo),
                           ("duration_minutes", self.length_combo)):
            if combo.currentData() is not None:
                params[key] = combo.currentData()
        if self.patient_id is not None:
            params["patient_id"] = self.patient_id
        return params

    async def search(self) -> None:
        """Search from the chosen date until PAGE openings are found (or MAX_SEARCH_DAYS are looked through)."""
        self.openings = []
        self.shown = PAGE
        first = qdate_to_date(self.from_edit.date())
        self.searched_to = first - timedelta(days=1)
        if not self.weekdays():
            self.status_label.setText("Tick at least one day of the week.")
            self._show()
            return
        self.status_label.setText("Searching…")
        await self._search_more(first, PAGE)

    async def _search_more(self, first: date, wanted: int) -> None:
        limit = qdate_to_date(self.from_edit.date()) + timedelta(days=MAX_SEARCH_DAYS)
        controls = (self.search_button, self.more_button)
        while len(self.openings) < wanted and first <= limit:
            last = min(first + timedelta(days=SEARCH_DAYS - 1), limit)
            slots = await self.operations.run("slots.find", self._params(first, last), controls=controls,
                                              report=self.status_label.setText)
            if slots is None:
                return
            step = int(self.session.store.settings().get("slot_minutes") or 15)
            self.openings += select_openings(slots, self.session.clock, part=self.part_combo.currentData(),
                                             weekdays=self.weekdays(), step_minutes=step)
            self.searched_to = last
            first = last + timedelta(days=1)
        self._show()

    def _show(self) -> None:
        clock = self.session.clock
        dentists = {d["id"]: d.get("name", "") for d in self.session.store.rows("dentist")}
        self.results.clear()
        shown = self.openings[: self.shown]
        for day, openings in group_by_day(shown):
            noun = "opening" if len(openings) == 1 else "openings"
            parent = QTreeWidgetItem([f"{clock.format_day(day)} — {len(openings)} {noun}"])
            font = parent.font(0)
            font.setBold(True)
            parent.setFont(0, font)
            parent.setFlags(parent.flags() & ~Qt.ItemFlag.ItemIsSelectable)
            for opening in openings:
                later = f" (or up to {opening.last_start:%H:%M})" if opening.last_start > opening.start else ""
                child = QTreeWidgetItem([f"{opening.start:%H:%M}–{opening.end:%H:%M}{later}",
                                         dentists.get(opening.dentist_id, ""), f"{opening.free_until:%H:%M}"])
                child.setData(0, Qt.ItemDataRole.UserRole, opening)
                parent.addChild(child)
            self.results.addTopLevelItem(parent)
            parent.setFirstColumnSpanned(True)
            parent.setExpanded(True)
        more = len(self.openings) > self.shown or (self.searched_to is not None and len(self.openings) >= self.shown)
        self.more_button.setEnabled(bool(self.openings) and more)
        if not self.openings:
            if self.weekdays():
                self.status_label.setText(f"No opening matches in the {MAX_SEARCH_DAYS} days from "
                                          f"{clock.format_day(qdate_to_date(self.from_edit.date()))}. "
                                          "Try another dentist, chair, length or time of day.")
        else:
            first = shown[0]
            self.status_label.setText(f"The first {len(shown)} openings; the soonest is "
                                      f"{clock.format_day(first.start.date())} at {first.start:%H:%M}.")

    def visible_openings(self) -> list[Opening]:
        """The openings listed, in order (tests)."""
        out = []
        for i in range(self.results.topLevelItemCount()):
            parent = self.results.topLevelItem(i)
            out += [parent.child(j).data(0, Qt.ItemDataRole.UserRole) for j in range(parent.childCount())]
        return out

    def day_headings(self) -> list[str]:
        return [self.results.topLevelItem(i).text(0) for i in range(self.results.topLevelItemCount())]

    def selected_opening(self) -> Opening | None:
        items = self.results.selectedItems()
        return items[0].data(0, Qt.ItemDataRole.UserRole) if items else None

    def choose(self) -> dict[str, Any] | None:
        opening = self.selected_opening()
        if opening is None:
            return None
        choice = {"dentist_id": opening.dentist_id, "start": opening.wire_start,
                  "type_id": self.type_combo.currentData(), "chair_id": self.chair_combo.currentData(),
                  "duration_minutes": self.length_combo.currentData()}
        self.opening_chosen.emit(choice)
        return choice

    # -- slots -------------------------------------------------------------------------------

    @asyncSlot()
    async def _on_search_button_clicked(self) -> None:
        await self.search()

    @asyncSlot()
    async def _on_more_button_clicked(self) -> None:
        self.shown += PAGE
        if len(self.openings) < self.shown and self.searched_to is not None:
            await self._search_more(self.searched_to + timedelta(days=1), self.shown)
        else:
            self._show()

    def _on_results_item_selection_changed(self) -> None:
        self.book_button.setEnabled(self.selected_opening() is not None)

    def _on_results_item_double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        if item.data(0, Qt.ItemDataRole.UserRole) is not None:
            self._on_buttons_accepted()

    def _on_buttons_accepted(self) -> None:
        if self.choose() is not None:
            self.accept()


def open_find_opening(session: Session, operations: Operations, *, parent: QWidget | None = None,
                      type_id: int | None = None, patient_id: int | None = None) -> FindOpeningDialog:
    """Open the search; a chosen opening opens the booking dialog on that dentist and time."""
    from .booking_dialog import BookingDialog

    dialog = FindOpeningDialog(session, operations, type_id=type_id, patient_id=patient_id, parent=parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def book(choice: dict[str, Any]) -> None:
        start = session.clock.local(choice["start"])
        booking = BookingDialog(session, operations, dentist_id=choice["dentist_id"], day=start, start=start,
                                parent=parent)
        booking.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        booking.open()

    dialog.opening_chosen.connect(book)
    dialog.open()
    return dialog
