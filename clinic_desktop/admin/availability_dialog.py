"""A dentist's weekly working hours and exceptions (days off, extra hours), edited live.

Before anything is saved the server is asked what the change would strand (`dry_run`): booked
appointments left outside working time are listed and the user chooses to save anyway or not.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any

from PySide6.QtCore import QDate, Qt, QTime
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from ..clinic_clock import qdate_to_date
from ..operations import Operations
from ..session import Session
from ..store import Change
from .stranded_warning_dialog import StrandedWarningDialog

__all__ = ["AvailabilityDialog"]

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# "09:00-13:00", "9-13", "9:00 - 13:30", "0900-1300", "9.30–12", "9h-13h": hours, then optional minutes.
_TIME = r"(\d{1,2})(?:[:.h]?(\d{2}))?h?"
_INTERVAL = re.compile(rf"^\s*{_TIME}\s*(?:-|–|—|to)\s*{_TIME}\s*$", re.IGNORECASE)
_EXCEPTION_ROLE = Qt.ItemDataRole.UserRole + 1


def parse_day_hours(text: str) -> list[tuple[str, str]]:
    """"09:00-12:00, 13:00-17:00" -> [("09:00","12:00"), ("13:00","17:00")]; empty means a day off.

    Forgiving, as people type hours: "9-13", "9:00 - 13:30", "0900-1300" and ";" between intervals.
    """
    intervals = []
    for part in filter(None, (p.strip() for p in re.split(r"[,;]", text))):
        match = _INTERVAL.match(part)
        if not match:
            raise ValueError(f"“{part}” is not like 09:00-12:00 (or 9-12)")
        h1, m1, h2, m2 = (int(g or 0) for g in match.groups())
        start, end = f"{h1:02d}:{m1:02d}", f"{h2:02d}:{m2:02d}"
        if not (0 <= h1 < 24 and 0 <= h2 <= 24 and m1 < 60 and m2 < 60) or (h2 == 24 and m2):
            raise ValueError(f"“{part}” is not a time of day (00:00 to 24:00)")
        if end <= start:
            raise ValueError(f"“{part}” does not end after it starts")
        intervals.append((start, end))
    return sorted(intervals)


class AvailabilityDialog(QDialog):
    """Weekly hours as one editable line per weekday; exceptions listed with add and delete."""

    def __init__(self, session: Session, operations: Operations, *, dentist_id: int | None = None,
                 lock_dentist: bool = False, day: date | None = None, parent: QWidget | None = None) -> None:
        """`day`: the day the user is looking at, the new day off's default (tomorrow when not given)."""
        super().__init__(parent)
        self._session = session
        self._operations = operations
        self._edited = False  # the user typed in the weekly table; do not overwrite it live
        self.stranded_warning: StrandedWarningDialog | None = None  # open while the user decides
        self.setWindowTitle("Working hours and days off")
        self.setMinimumSize(620, 640)
        layout = QVBoxLayout(self)

        top = QHBoxLayout()
        top.addWidget(QLabel("Dentist"))
        self.dentist_combo = QComboBox()
        for row in sorted(session.store.rows("dentist"), key=lambda r: r["id"]):
            self.dentist_combo.addItem(row["name"], row["id"])
        if dentist_id is not None:
            self.dentist_combo.setCurrentIndex(max(0, self.dentist_combo.findData(dentist_id)))
        self.dentist_combo.setEnabled(not lock_dentist)
        top.addWidget(self.dentist_combo, 1)
        layout.addLayout(top)

        weekly_box = QGroupBox("Weekly hours (e.g. 9-12, 13-17 or 09:00-12:00, 13:00-17:30; empty = not working)")
        weekly_layout = QVBoxLayout(weekly_box)
        self.weekly_table = QTableWidget(7, 1)
        self.weekly_table.setHorizontalHeaderLabels(["Hours"])
        self.weekly_table.setVerticalHeaderLabels(list(_WEEKDAYS))
        self.weekly_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.weekly_table.setMinimumHeight(230)
        weekly_layout.addWidget(self.weekly_table)
        self.save_button = QPushButton("Save weekly hours")
        weekly_layout.addWidget(self.save_button, 0, Qt.AlignmentFlag.AlignRight)
        layout.addWidget(weekly_box)

        exceptions_box = QGroupBox("Days off and extra hours")
        exceptions_layout = QVBoxLayout(exceptions_box)
        self.exception_list = QListWidget()
        exceptions_layout.addWidget(self.exception_list)
        add_row = QHBoxLayout()
        first = day or session.clock.today() + timedelta(days=1)
        # Typed like 24/12/2026 and 09:30 (every section takes digits; the calendar pops up on demand).
        self.from_date = self._date_edit(first)
        self.from_time = self._time_edit(time(9))
        self.to_date = self._date_edit(first)
        self.to_time = self._time_edit(time(17))
        self.all_day_check = QCheckBox("All day")
        self.all_day_check.setChecked(True)
        self.kind_combo = QComboBox()
        self.kind_combo.addItem("Day off / closed", "closed")
        self.kind_combo.addItem("Extra hours", "extra")
        self.reason_edit = QLineEdit()
        self.reason_edit.setPlaceholderText("Reason")
        add_row.addWidget(QLabel("From"))
        add_row.addWidget(self.from_date)
        add_row.addWidget(self.from_time)
        add_row.addWidget(QLabel("to"))
        add_row.addWidget(self.to_date)
        add_row.addWidget(self.to_time)
        add_row.addWidget(self.all_day_check)
        add_row.addStretch(1)
        exceptions_layout.addLayout(add_row)
        add_row2 = QHBoxLayout()
        add_row2.addWidget(self.kind_combo)
        add_row2.addWidget(self.reason_edit, 1)
        self.add_button = QPushButton("Add")
        self.delete_button = QPushButton("Delete selected")
        add_row2.addWidget(self.add_button)
        add_row2.addWidget(self.delete_button)
        exceptions_layout.addLayout(add_row2)
        layout.addWidget(exceptions_box, 1)

        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)
        layout.addWidget(self.message_label)
        close_button = QPushButton("Close")
        layout.addWidget(close_button, 0, Qt.AlignmentFlag.AlignRight)

        close_button.clicked.connect(self.accept)
        self.dentist_combo.currentIndexChanged.connect(self._on_dentist_combo_current_index_changed)
        self.weekly_table.itemChanged.connect(self._on_weekly_table_item_changed)
        self.save_button.clicked.connect(self._on_save_button_clicked)
        self.add_button.clicked.connect(self._on_add_button_clicked)
        self.delete_button.clicked.connect(self._on_delete_button_clicked)
        self.all_day_check.toggled.connect(self._on_all_day_check_toggled)
        self.from_date.dateChanged.connect(self._on_from_date_date_changed)
        self.finished.connect(self._on_finished)
        session.store.add_listener(self._on_store_changed)
        self._on_all_day_check_toggled(True)
        self._fill()

    def dentist_id(self) -> int | None:
        return self.dentist_combo.currentData()

    @staticmethod
    def _date_edit(day: date) -> QDateEdit:
        edit = QDateEdit(QDate(day.year, day.month, day.day))
        edit.setDisplayFormat("dd/MM/yyyy")  # no weekday name: a name section cannot be typed into
        edit.setCalendarPopup(True)
        edit.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToNearestValue)
        return edit

    @staticmethod
    def _time_edit(wall: time) -> QTimeEdit:
        edit = QTimeEdit(QTime(wall.hour, wall.minute))
        edit.setDisplayFormat("HH:mm")
        return edit

    def exception_span(self) -> tuple[datetime, datetime]:
        """The new exception's local wall-clock start and end: whole days when "All day" is ticked."""
        first, last = qdate_to_date(self.from_date.date()), qdate_to_date(self.to_date.date())
        if self.all_day_check.isChecked():
            return datetime.combine(first, time(0)), datetime.combine(last + timedelta(days=1), time(0))
        start, end = self.from_time.time(), self.to_time.time()
        return (datetime.combine(first, time(start.hour(), start.minute())),
                datetime.combine(last, time(end.hour(), end.minute())))

    # -- filling -----------------------------------------------------------------------------

    def _fill(self) -> None:
        self._fill_weekly()
        self._fill_exceptions()

    def _fill_weekly(self) -> None:
        dentist_id = self.dentist_id()
        by_day: dict[int, list[tuple[str, str]]] = {d: [] for d in range(7)}
        for row in self._session.store.rows("working_hours"):
            if row.get("dentist_id") == dentist_id:
                by_day[row["weekday"]].append((row["start"][:5], row["end"][:5]))
        self.weekly_table.blockSignals(True)
        for weekday in range(7):
            text = ", ".join(f"{s}-{e}" for s, e in sorted(by_day[weekday]))
            self.weekly_table.setItem(weekday, 0, QTableWidgetItem(text))
        self.weekly_table.blockSignals(False)
        self._edited = False

    def _fill_exceptions(self) -> None:
        dentist_id = self.dentist_id()
        clock = self._session.clock
        now = clock.now()
        self.exception_list.clear()
        rows = [row for row in self._session.store.rows("schedule_exception")
                if row.get("dentist_id") in (dentist_id, None) and clock.local(row["end"]) >= now]
        for row in sorted(rows, key=lambda r: r["start"]):
            kind = "Extra hours" if row.get("kind") == "extra" else "Day off"
            if row.get("dentist_id") is None:
                kind = "Clinic closed" if row.get("kind") != "extra" else "Clinic extra hours"
            text = f"{clock.format_when(row['start'])} – {clock.format_when(row['end'])}   {kind}"
            if row.get("reason"):
                text += f": {row['reason']}"
            item = QListWidgetItem(text)
            item.setData(_EXCEPTION_ROLE, row["id"])
            self.exception_list.addItem(item)
        if not rows:
            self.exception_list.addItem("No days off or extra hours planned.")

    def _on_store_changed(self, change: Change) -> None:
        if change.kind == "working_hours" and not self._edited:
            self._fill_weekly()
        elif change.kind == "schedule_exception":
            self._fill_exceptions()

    # -- slots -------------------------------------------------------------------------------

    def _on_dentist_combo_current_index_changed(self, _index: int) -> None:
        self._fill()

    def _on_weekly_table_item_changed(self, _item: QTableWidgetItem) -> None:
        self._edited = True

    def _on_save_button_clicked(self) -> None:
        weekly = []
        try:
            for weekday in range(7):
                item = self.weekly_table.item(weekday, 0)
                for start, end in parse_day_hours(item.text() if item else ""):
                    weekly.append({"weekday": weekday, "start": start, "end": end})
        except ValueError as exc:
            self._say(f"{_WEEKDAYS[weekday]}: {exc}.", error=True)
            return
        self._session.tasks.spawn(self._save(weekly), name="availability.set")

    async def _save(self, weekly: list[dict[str, Any]]) -> None:
        params = {"dentist_id": self.dentist_id(), "weekly": weekly}
        if not await self._may_save("availability.set", params, self.save_button, "Saving these weekly hours"):
            return
        result = await self._operations.run("availability.set", params,
                                            controls=[self.save_button], report=lambda t: self._say(t, error=True))
        if result is not None:
            self._edited = False
            self._say(self._saved_text("Weekly hours saved.", result))

    async def _may_save(self, method: str, params: dict[str, Any], button: QWidget, change: str) -> bool:
        """Ask the server what the change would strand; if anything, let the user decide. False: do not save."""
        preview = await self._operations.run(method, dict(params, dry_run=True), controls=[button],
                                             report=lambda t: self._say(t, error=True))
        if preview is None:
            return False
        stranded = preview.get("stranded") if isinstance(preview, dict) else None
        if not stranded:
            return True
        warning = StrandedWarningDialog(self._session, stranded, change=change, parent=self)
        self.stranded_warning = warning  # tests and screenshots look at it while it is open
        go_ahead = await warning.ask()
        warning.deleteLater()
        self.stranded_warning = None
        if not go_ahead:
            self._say("Not saved: nothing changed.")
        return go_ahead

    @staticmethod
    def _saved_text(done: str, result: Any) -> str:
        count = len(result.get("stranded") or ()) if isinstance(result, dict) else 0
        if not count:
            return done
        return f"{done} {count} appointment{'s need' if count != 1 else ' needs'} rebooking: see “Needs rebooking”."

    def _on_all_day_check_toggled(self, checked: bool) -> None:
        self.from_time.setEnabled(not checked)
        self.to_time.setEnabled(not checked)

    def _on_from_date_date_changed(self, day: QDate) -> None:
        if self.to_date.date() < day:  # a span cannot end before it starts: keep "to" in step
            self.to_date.setDate(day)

    def _on_add_button_clicked(self) -> None:
        start, end = self.exception_span()
        if end <= start:
            self._say("The end must be after the start.", error=True)
            return
        zone = self._session.clock.zone
        params = {"dentist_id": self.dentist_id(), "start": start.replace(tzinfo=zone).isoformat(),
                  "end": end.replace(tzinfo=zone).isoformat(), "kind": self.kind_combo.currentData(),
                  "reason": self.reason_edit.text().strip()}
        self._session.tasks.spawn(self._add(params), name="exceptions.add")

    async def _add(self, params: dict[str, Any]) -> None:
        if params["kind"] == "closed" and not await self._may_save("exceptions.add", params, self.add_button,
                                                                   "This day off"):
            return
        result = await self._operations.run("exceptions.add", params, controls=[self.add_button],
                                            report=lambda t: self._say(t, error=True))
        if result is not None:
            self.reason_edit.clear()
            if isinstance(result, dict) and "id" in result:
                self._session.store.upsert("schedule_exception", {k: v for k, v in result.items() if k != "stranded"})
            self._say(self._saved_text("Added.", result))

    def _on_delete_button_clicked(self) -> None:
        item = self.exception_list.currentItem()
        exception_id = item.data(_EXCEPTION_ROLE) if item is not None else None
        if exception_id is None:
            self._say("Select a day off or extra hours to delete.", error=True)
            return
        self._session.tasks.spawn(self._delete(exception_id), name="exceptions.delete")

    async def _delete(self, exception_id: int) -> None:
        result = await self._operations.run("exceptions.delete", {"id": exception_id},
                                            controls=[self.delete_button], report=lambda t: self._say(t, error=True))
        if result is not None:
            self._say("Deleted.")

    def _say(self, text: str, *, error: bool = False) -> None:
        palette = self.palette()
        role = QPalette.ColorRole.Highlight if error else QPalette.ColorRole.WindowText
        label_palette = self.message_label.palette()
        label_palette.setColor(QPalette.ColorRole.WindowText, palette.color(role))
        self.message_label.setPalette(label_palette)
        self.message_label.setText(text)

    def _on_finished(self, _result: int) -> None:
        self._session.store.remove_listener(self._on_store_changed)


