"""Add a blockout (meeting, emergency reserve, new patients only, lunch…) to the schedule, and see or
remove the day's blockouts. A type that does not allow online booking keeps patients and the assistant
out of the time; staff book into it only with an explicit override."""

from __future__ import annotations

from datetime import date, time
from typing import Any

from PySide6.QtCore import QDate, Qt, QTime
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from ..clinic_clock import qdate_to_date
from ..operations import Operations
from ..session import Session
from ..store import Change

__all__ = ["BlockoutsDialog"]


class BlockoutsDialog(QDialog):
    """The form for one new blockout, above the list of the chosen day's blockouts (live)."""

    def __init__(self, session: Session, operations: Operations, *, day: date | None = None,
                 dentist_id: int | None = None, start: time | None = None, end: time | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Block time")
        self.session = session
        self.operations = operations
        store = session.store
        self.type_combo = QComboBox()
        for row in sorted(store.rows("blockout_type"), key=lambda r: r["id"]):
            online = "patients may book online" if row.get("allow_online") else "no online booking"
            self.type_combo.addItem(f"{row['name']} ({online})", row["id"])
        self.dentist_combo = QComboBox()
        self.dentist_combo.addItem("Every dentist", None)
        for row in sorted(store.rows("dentist"), key=lambda r: r.get("name", "")):
            if row.get("active", True):
                self.dentist_combo.addItem(row["name"], row["id"])
        if session.role == "dentist":  # a dentist blocks their own time only
            self.dentist_combo.setCurrentIndex(self.dentist_combo.findData(session.dentist_id))
            self.dentist_combo.setEnabled(False)
        elif dentist_id is not None:
            self.dentist_combo.setCurrentIndex(max(0, self.dentist_combo.findData(dentist_id)))
        self.chair_combo = QComboBox()
        self.chair_combo.addItem("Any chair", None)
        for row in sorted(store.rows("chair"), key=lambda r: r.get("name", "")):
            if row.get("active", True):
                self.chair_combo.addItem(row["name"], row["id"])
        chosen = day or session.clock.today()
        self.day_edit = QDateEdit(QDate(chosen.year, chosen.month, chosen.day))
        self.day_edit.setCalendarPopup(True)
        self.day_edit.setDisplayFormat("ddd dd MMM yyyy")
        self.start_edit = QTimeEdit(QTime((start or time(12)).hour, (start or time(12)).minute))
        self.end_edit = QTimeEdit(QTime((end or time(13)).hour, (end or time(13)).minute))
        for edit in (self.start_edit, self.end_edit):
            edit.setDisplayFormat("HH:mm")
            edit.setMinimumWidth(80)
        self.note_edit = QLineEdit()
        self.note_edit.setMaxLength(1000)
        self.note_edit.setPlaceholderText("Staff only, e.g. Team meeting")
        times = QHBoxLayout()
        times.addWidget(self.start_edit)
        times.addWidget(QLabel("to"))
        times.addWidget(self.end_edit)
        times.addStretch(1)
        form = QFormLayout()
        form.addRow("Kind", self.type_combo)
        form.addRow("Dentist", self.dentist_combo)
        form.addRow("Chair", self.chair_combo)
        form.addRow("Day", self.day_edit)
        form.addRow("Time", times)
        form.addRow("Note", self.note_edit)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.day_list = QListWidget()
        self.day_list.setObjectName("dayBlockouts")
        self.delete_button = QPushButton("Remove selected block")
        self.delete_button.setEnabled(False)
        self.buttons = QDialogButtonBox()
        self.add_button = self.buttons.addButton("Add block", QDialogButtonBox.ButtonRole.ApplyRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(QLabel("Blocks on this day"))
        layout.addWidget(self.day_list, 1)
        footer = QHBoxLayout()
        footer.addWidget(self.delete_button)
        footer.addStretch(1)
        footer.addWidget(self.buttons)
        layout.addLayout(footer)
        self.resize(520, 520)

        self.add_button.clicked.connect(self._on_add_button_clicked)
        self.buttons.rejected.connect(self.reject)
        self.delete_button.clicked.connect(self._on_delete_button_clicked)
        self.day_edit.dateChanged.connect(self._on_day_edit_date_changed)
        self.day_list.itemSelectionChanged.connect(self._on_day_list_item_selection_changed)
        session.store.add_listener(self._on_store_changed)
        self.finished.connect(self._on_self_finished)
        self.refresh_day()

    def day(self) -> date:
        return qdate_to_date(self.day_edit.date())

    def refresh_day(self) -> None:
        """List the chosen day's blockouts (everyone's: a clash with another dentist's block matters too)."""
        clock, store = self.session.clock, self.session.store
        types = {t["id"]: t.get("name", "") for t in store.rows("blockout_type")}
        dentists = {d["id"]: d.get("name", "") for d in store.rows("dentist")}
        chairs = {c["id"]: c.get("name", "") for c in store.rows("chair")}
        self.day_list.clear()
        rows = [b for b in store.rows("blockout") if clock.local_date(b["start"]) == self.day()]
        for row in sorted(rows, key=lambda b: b["start"]):
            where = dentists.get(row.get("dentist_id"), "Every dentist") if row.get("dentist_id") else "Every dentist"
            if row.get("chair_id"):
                where += f", {chairs.get(row['chair_id'], 'chair')}"
            note = f" — {row['note']}" if row.get("note") else ""
            text = (f"{clock.local(row['start']):%H:%M}–{clock.local(row['end']):%H:%M}  "
                    f"{types.get(row.get('type_id'), 'Block')} ({where}){note}")
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, row["id"])
            self.day_list.addItem(item)
        if not rows:
            placeholder = QListWidgetItem("No blocks on this day.")
            placeholder.setFlags(Qt.ItemFlag.NoItemFlags)
            self.day_list.addItem(placeholder)

    def texts(self) -> list[str]:
        return [self.day_list.item(i).text() for i in range(self.day_list.count())]

    # -- writes ------------------------------------------------------------------------------

    async def add_blockout(self) -> dict[str, Any] | None:
        clock = self.session.clock
        start_q, end_q = self.start_edit.time(), self.end_edit.time()
        start = clock.at(self.day(), time(start_q.hour(), start_q.minute()))
        end = clock.at(self.day(), time(end_q.hour(), end_q.minute()))
        if end <= start:
            self.message.setText("The block must end after it starts.")
            return None
        params: dict[str, Any] = {"type_id": self.type_combo.currentData(), "start": start.isoformat(),
                                  "end": end.isoformat(), "note": self.note_edit.text().strip()}
        if self.dentist_combo.currentData() is not None:
            params["dentist_id"] = self.dentist_combo.currentData()
        if self.chair_combo.currentData() is not None:
            params["chair_id"] = self.chair_combo.currentData()
        result = await self.operations.run("blockouts.add", params, controls=(self.add_button,),
                                           report=self.message.setText)
        if result is not None:
            self.session.store.upsert("blockout", result)
            self.message.setText(f"Blocked {start:%H:%M}–{end:%H:%M} on {clock.format_day(self.day())}.")
            self.note_edit.clear()
        return result

    async def delete_selected(self) -> bool:
        items = self.day_list.selectedItems()
        if not items or items[0].data(Qt.ItemDataRole.UserRole) is None:
            return False
        blockout_id = items[0].data(Qt.ItemDataRole.UserRole)
        result = await self.operations.run("blockouts.delete", {"id": blockout_id}, controls=(self.delete_button,),
                                           report=self.message.setText)
        return result is not None

    # -- slots -------------------------------------------------------------------------------

    @asyncSlot()
    async def _on_add_button_clicked(self) -> None:
        await self.add_blockout()

    @asyncSlot()
    async def _on_delete_button_clicked(self) -> None:
        await self.delete_selected()

    def _on_day_edit_date_changed(self, _date: QDate) -> None:
        self.refresh_day()

    def _on_day_list_item_selection_changed(self) -> None:
        items = self.day_list.selectedItems()
        self.delete_button.setEnabled(bool(items) and items[0].data(Qt.ItemDataRole.UserRole) is not None)

    def _on_store_changed(self, change: Change) -> None:
        if change.kind in ("blockout", "blockout_type"):
            self.refresh_day()

    def _on_self_finished(self, _result: int) -> None:
        self.session.store.remove_listener(self._on_store_changed)
