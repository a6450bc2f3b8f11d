"""Before a day off or shorter hours is saved: the booked appointments it would leave outside working time."""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLayout,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..session import Session

__all__ = ["StrandedWarningDialog"]

_MESSAGE_WIDTH = 520  # px: the dialog is laid out at a fixed size around its wrapped message and rows


class StrandedWarningDialog(QDialog):
    """Lists patient, time and dentist of each stranded appointment; "Save anyway" accepts, "Cancel" rejects."""

    def __init__(self, session: Session, stranded: list[dict[str, Any]], *, change: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Booked appointments in the way")
        store, clock = session.store, session.clock
        count = len(stranded)
        icon = QLabel()
        icon.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(40, 40))
        self.message = QLabel(
            f"<b>{change} leaves {count} booked appointment{'s' if count != 1 else ''} outside working time.</b><br>"
            "If you save anyway, they stay booked and are flagged in the calendar and in the "
            "“Needs rebooking” list until each is moved or cancelled.")
        self.message.setWordWrap(True)
        self.message.setFixedWidth(_MESSAGE_WIDTH)
        self.message.setTextFormat(Qt.TextFormat.RichText)
        header = QHBoxLayout()
        header.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        header.addWidget(self.message, 1, Qt.AlignmentFlag.AlignTop)

        self.table = QTableWidget(count, 3)
        self.table.setHorizontalHeaderLabels(["Patient", "When", "Dentist"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setAlternatingRowColors(True)
        for row_index, row in enumerate(stranded):
            dentist = (store.get("dentist", row.get("dentist_id")) or {}).get("name", "")
            cells = (str(row.get("patient_name") or "(busy)"),
                     f"{clock.format_when(row['start'])}–{clock.format_time(row['end'])}", dentist)
            for column, text in enumerate(cells):
                self.table.setItem(row_index, column, QTableWidgetItem(text))
        header_view = self.table.horizontalHeader()
        header_view.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header_view.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header_view.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.table.resizeRowsToContents()
        rows_height = sum(self.table.rowHeight(r) for r in range(count))
        frame = 2 * self.table.frameWidth() + header_view.sizeHint().height()
        self.table.setMinimumHeight(min(320, frame + rows_height))  # every row shown, up to ten or so
        self.table.setMaximumHeight(frame + rows_height)  # no empty rows below the last one

        self.buttons = QDialogButtonBox()
        self.save_button = self.buttons.addButton("Save anyway", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        # Enter must not strand patients by accident: Cancel is the default, "Save anyway" never is.
        self.save_button.setAutoDefault(False)
        self.cancel_button.setDefault(True)
        layout = QVBoxLayout(self)
        layout.setSizeConstraint(QLayout.SizeConstraint.SetFixedSize)  # as tall as its rows, never padded out
        layout.addLayout(header)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.buttons)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.cancel_button.setDefault(True)  # the button box picks the accept button on show otherwise
        self.cancel_button.setFocus()

    async def ask(self) -> bool:
        """Show the dialog (window-modal; the feed keeps running) and return True for "Save anyway"."""
        answered: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def on_finished(result: int) -> None:
            if not answered.done():
                answered.set_result(QDialog.DialogCode(result) == QDialog.DialogCode.Accepted)

        self.finished.connect(on_finished)
        self.open()
        return await answered

    def patients(self) -> list[str]:
        """The patient names listed, top to bottom (what the user reads)."""
        return [self.table.item(row, 0).text() for row in range(self.table.rowCount())]
