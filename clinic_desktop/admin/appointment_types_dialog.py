"""The admin's appointment types: colour, name, length, online booking and recall of each. Live.

A type's colour fills its blocks on every schedule and its swatch in the legend, on every workstation, as
soon as it is saved. A new length applies to bookings made from then on; booked appointments keep theirs.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QColorDialog,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from server.protocol import Reason, RpcError

from ..operations import Operations
from ..session import Session
from ..store import Change

__all__ = ["AppointmentTypesDialog", "swatch"]

COLUMNS = ("Colour", "Name", "Length", "Online booking", "Recall")
MAX_MINUTES = 480  # the server's longest appointment (server/booking/rules.py MAX_DURATION_MINUTES)


def swatch(colour: QColor, width: int = 16, height: int = 16) -> QPixmap:
    """A filled rectangle in `colour` with a darker frame, so a pale colour still shows on white."""
    pixmap = QPixmap(width, height)
    pixmap.fill(colour)
    painter = QPainter(pixmap)
    painter.setPen(colour.darker(160))
    painter.drawRect(0, 0, width - 1, height - 1)
    painter.end()
    return pixmap


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    recall = row.get("recall_months")
    return (str(row.get("colour") or ""), str(row.get("name") or ""), f"{row.get('duration_minutes')} min",
            "Yes" if row.get("patient_bookable") else "Staff only",
            f"every {recall} months" if recall else "No recall")


class AppointmentTypesDialog(QDialog):
    """A table of the types (id order) above an editor for the selected one; saving sends the version shown."""

    def __init__(self, session: Session, operations: Operations, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Appointment types")
        self.session = session
        self.operations = operations
        self.type_ids: list[int] = []  # the table's rows, in order
        self.seen: dict[str, Any] | None = None  # the selected type as the editor last loaded it
        self.colour = QColor()  # the colour chosen in the editor (saved with the rest)
        self.saving = False  # while a save is on the way, the editor is not reloaded under it
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.name_edit = QLineEdit()
        self.name_edit.setMaxLength(100)
        self.length_spin = QSpinBox()
        self.length_spin.setSuffix(" min")
        self.bookable_check = QCheckBox("Patients may book it online")
        self.recall_spin = QSpinBox()
        self.recall_spin.setRange(0, 120)
        self.recall_spin.setSpecialValueText("No recall")
        self.recall_spin.setSuffix(" months")
        self.swatch_label = QLabel()
        self.colour_label = QLabel()
        self.colour_button = QPushButton("Colour…")
        colour_row = QHBoxLayout()
        colour_row.addWidget(self.swatch_label)
        colour_row.addWidget(self.colour_label)
        colour_row.addWidget(self.colour_button)
        colour_row.addStretch(1)
        self.editor = QGroupBox("Selected type")
        form = QFormLayout(self.editor)
        form.addRow("Name", self.name_edit)
        form.addRow("Colour", colour_row)
        form.addRow("Length", self.length_spin)
        form.addRow("", self.bookable_check)
        form.addRow("Recall", self.recall_spin)
        self.save_button = QPushButton("Save changes")
        self.add_button = QPushButton("Add as new type")
        actions = QHBoxLayout()
        actions.addStretch(1)
        actions.addWidget(self.add_button)
        actions.addWidget(self.save_button)
        form.addRow(actions)
        self.message = QLabel()
        self.message.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.editor)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self.table.itemSelectionChanged.connect(self._on_table_item_selection_changed)
        self.colour_button.clicked.connect(self._on_colour_button_clicked)
        self.save_button.clicked.connect(self._on_save_button_clicked)
        self.add_button.clicked.connect(self._on_add_button_clicked)
        buttons.rejected.connect(self.reject)
        session.store.add_listener(self._on_store_changed)
        self.finished.connect(self._on_self_finished)
        self.resize(640, 480)
        self._apply_slot_step()
        self.rebuild()
        if self.type_ids:
            self.select_type(self.type_ids[0])

    # -- the table ---------------------------------------------------------------------------

    def rebuild(self) -> None:
        """Fill the table from the store (a handful of rows), keeping the selection."""
        selected = self.seen["id"] if self.seen else None
        rows = sorted(self.session.store.rows("appointment_type"), key=lambda r: r["id"])
        self.type_ids = [row["id"] for row in rows]
        blocked = self.table.blockSignals(True)
        self.table.setRowCount(len(rows))
        for index, row in enumerate(rows):
            for column, text in enumerate(_cells(row)):
                self.table.setItem(index, column, QTableWidgetItem(text))
            self._paint_swatch(index, row)
        if selected in self.type_ids:
            self.table.selectRow(self.type_ids.index(selected))
        self.table.blockSignals(blocked)

    def _refresh_row(self, row: dict[str, Any]) -> None:
        """One type changed: its cells change in place."""
        index = self.type_ids.index(row["id"])
        for column, text in enumerate(_cells(row)):
            self.table.item(index, column).setText(text)
        self._paint_swatch(index, row)

    def _paint_swatch(self, index: int, row: dict[str, Any]) -> None:
        pixmap = swatch(QColor(row.get("colour") or "#9ca3af"))
        icon = QIcon(pixmap)
        icon.addPixmap(pixmap, QIcon.Mode.Selected)  # the true colour on the selected row too, not tinted
        self.table.item(index, 0).setIcon(icon)

    def texts(self) -> list[tuple[str, ...]]:
        """What the table shows, row by row (tests)."""
        return [tuple(self.table.item(r, c).text() for c in range(len(COLUMNS))) for r in range(self.table.rowCount())]

    def select_type(self, type_id: int) -> None:
        self.table.selectRow(self.type_ids.index(type_id))

    # -- the editor --------------------------------------------------------------------------

    def _apply_slot_step(self) -> None:
        """Lengths go in the clinic's slot steps (the server refuses others)."""
        step = max(1, int(self.session.store.settings().get("slot_minutes") or 15))
        self.length_spin.setSingleStep(step)
        self.length_spin.setRange(max(step, 5), MAX_MINUTES)

    def load_editor(self, row: dict[str, Any] | None) -> None:
        """Show `row` in the editor; saving later sends its version, the one the admin saw."""
        self.seen = row
        self.editor.setEnabled(row is not None)
        self.save_button.setEnabled(row is not None)
        row = row or {}
        self.editor.setTitle(f"Edit {row['name']}" if row else "Selected type")
        self.name_edit.setText(row.get("name", ""))
        self.length_spin.setValue(int(row.get("duration_minutes") or 30))
        self.bookable_check.setChecked(bool(row.get("patient_bookable")))
        self.recall_spin.setValue(int(row.get("recall_months") or 0))
        self.set_colour(QColor(row.get("colour") or "#9ca3af"))

    def set_colour(self, colour: QColor) -> None:
        """The colour to save (from the colour dialog, or given directly), previewed beside the button."""
        self.colour = QColor(colour)
        self.swatch_label.setPixmap(swatch(self.colour, 40, 20))
        self.colour_label.setText(self.colour.name())

    def pick_colour(self) -> QColorDialog:
        """Ask for a colour, starting from the current one; OK hands it to `set_colour`, Cancel keeps the old one.

        Opened window-modal with `open()`, not `exec()`: no nested event loop under qasync.
        """
        picker = QColorDialog(self.colour, self)
        picker.setWindowTitle(f"Colour for {self.name_edit.text().strip() or 'the type'}")
        picker.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        picker.colorSelected.connect(self.set_colour)
        picker.open()
        return picker

    def editor_values(self) -> dict[str, Any]:
        """The editor's fields as the wire names them."""
        return {
            "name": " ".join(self.name_edit.text().split()),
            "colour": self.colour.name(),
            "duration_minutes": self.length_spin.value(),
            "patient_bookable": self.bookable_check.isChecked(),
            "recall_months": self.recall_spin.value() or None,
        }

    def changes(self) -> dict[str, Any]:
        """The fields the admin changed from what the editor loaded."""
        if self.seen is None:
            return {}
        return {key: value for key, value in self.editor_values().items() if value != self.seen.get(key)}

    # -- writes ------------------------------------------------------------------------------

    async def save(self) -> dict[str, Any] | None:
        """Send what changed with the version shown; a conflict says why and shows the latest."""
        seen, changes = self.seen, self.changes()
        if seen is None:
            return None
        if not changes:
            self.message.setText("Nothing to save: nothing was changed.")
            return None
        conflicts: list[RpcError] = []
        self.saving = True
        try:
            result = await self.operations.run(
                "appointment_types.update", {"id": seen["id"], "version": seen["version"], **changes},
                controls=(self.save_button, self.add_button), report=self.message.setText,
                refusals={Reason.VERSION_CONFLICT}, refused=conflicts.append)
            latest = result if result is not None else (conflicts[0].extra.get("current") if conflicts else None)
            if isinstance(latest, dict):
                self.session.store.upsert("appointment_type", latest)
                self.load_editor(self.session.store.get("appointment_type", latest["id"]))
        finally:
            self.saving = False
        if conflicts:
            self.message.setText(f"{conflicts[0].message} Your changes were not saved.")
        elif result is not None:
            self.message.setText(f"Saved {result['name']}.")
        return result

    async def add(self) -> dict[str, Any] | None:
        """A new type from the editor's fields (it needs a name of its own)."""
        result = await self.operations.run("appointment_types.create", self.editor_values(),
                                           controls=(self.save_button, self.add_button), report=self.message.setText)
        if result is not None:
            self.session.store.upsert("appointment_type", result)
            self.select_type(result["id"])
            self.message.setText(f"Added {result['name']}.")
        return result

    # -- slots -------------------------------------------------------------------------------

    def _on_table_item_selection_changed(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        self.load_editor(self.session.store.get("appointment_type", self.type_ids[rows[0].row()]) if rows else None)
        self.message.clear()

    def _on_colour_button_clicked(self) -> None:
        self.pick_colour()

    @asyncSlot()
    async def _on_save_button_clicked(self) -> None:
        await self.save()

    @asyncSlot()
    async def _on_add_button_clicked(self) -> None:
        await self.add()

    def _on_store_changed(self, change: Change) -> None:
        if change.kind == "settings":
            self._apply_slot_step()
            return
        if change.kind != "appointment_type":
            return
        if change.op == "update" and change.row is not None and change.row["id"] in self.type_ids:
            self._refresh_row(change.row)
        else:
            self.rebuild()
        if self.saving or self.seen is None or (change.row is not None and change.row["id"] != self.seen["id"]):
            return
        latest = self.session.store.get("appointment_type", self.seen["id"])
        if latest is None:
            self.load_editor(None)
        elif latest["version"] != self.seen["version"]:
            if self.changes():  # keep what the admin is typing; saving will be refused and show the latest
                self.message.setText(f"Someone else has just changed {latest['name']}. If you save, you will see "
                                     "their version and can make your change again.")
            else:
                self.load_editor(latest)

    def _on_self_finished(self, _result: int) -> None:
        self.session.store.remove_listener(self._on_store_changed)
