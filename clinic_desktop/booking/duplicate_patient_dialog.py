"""Quick-add found likely duplicates: use one of them, or create the new patient anyway."""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..messages import format_birth_date

__all__ = ["DuplicatePatientDialog"]

_MATCHED = {"name": "same name", "phone": "same phone", "email": "same email"}


class DuplicatePatientDialog(QDialog):
    """The server's candidates (name, date of birth, phone, email, why they match); the first is selected.

    "Use this patient" returns the selected one, "Create anyway" creates the new record; Esc does neither.
    """

    def __init__(self, new_name: str, candidates: list[dict[str, Any]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._candidates = candidates
        self.choice: tuple[str, dict[str, Any] | None] = ("cancel", None)  # ("use", patient) | ("create", None)
        self.setWindowTitle("Possible duplicate patient")
        self.setMinimumWidth(620)
        layout = QVBoxLayout(self)
        intro = QLabel(f"<b>{_escape(new_name)}</b> may already be registered. Check the date of birth and phone "
                       "before creating a second record for the same person.")
        intro.setWordWrap(True)
        layout.addWidget(intro)

        self.table = QTableWidget(len(candidates), 5)
        self.table.setHorizontalHeaderLabels(["Name", "Date of birth", "Phone", "Email", "Matches on"])
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setStyleSheet("QTableWidget::item { padding: 0 10px; }")
        for row, patient in enumerate(candidates):
            values = (patient.get("name") or "", format_birth_date(patient.get("date_of_birth")) or "unknown",
                      patient.get("phone") or "—", patient.get("email") or "—",
                      ", ".join(_MATCHED.get(m, m) for m in patient.get("matched") or []))
            for column, text in enumerate(values):
                self.table.setItem(row, column, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        shown = min(len(candidates), 6)  # up to six rows without scrolling, no empty space below them
        height = (header.sizeHint().height() + sum(self.table.rowHeight(r) for r in range(shown))
                  + 2 * self.table.frameWidth())
        self.table.setFixedHeight(height)
        layout.addWidget(self.table)

        self.buttons = QDialogButtonBox()
        self.use_button = self.buttons.addButton("Use this patient", QDialogButtonBox.ButtonRole.AcceptRole)
        self.create_button = self.buttons.addButton("Create anyway", QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.use_button.setDefault(True)
        layout.addWidget(self.buttons)
        self.use_button.clicked.connect(self._on_use_button_clicked)
        self.create_button.clicked.connect(self._on_create_button_clicked)
        self.buttons.rejected.connect(self.reject)
        self.table.itemSelectionChanged.connect(self._on_table_item_selection_changed)
        self.table.doubleClicked.connect(self._on_use_button_clicked)
        if candidates:
            self.table.selectRow(0)
        self._on_table_item_selection_changed()

    async def ask(self) -> tuple[str, dict[str, Any] | None]:
        """Show the dialog (non-modal) and return ("use", patient), ("create", None) or ("cancel", None)."""
        answered: asyncio.Future[tuple[str, dict[str, Any] | None]] = asyncio.get_running_loop().create_future()

        def on_finished(_result: int) -> None:
            if not answered.done():
                answered.set_result(self.choice)

        self.finished.connect(on_finished)
        self.open()
        return await answered

    def selected(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows()
        return self._candidates[rows[0].row()] if rows else None

    def _on_table_item_selection_changed(self) -> None:
        self.use_button.setEnabled(self.selected() is not None)

    def _on_use_button_clicked(self, *_args: object) -> None:
        patient = self.selected()
        if patient is not None:
            self.choice = ("use", patient)
            self.accept()

    def _on_create_button_clicked(self) -> None:
        self.choice = ("create", None)
        self.accept()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
