"""The read-only, one-row-at-a-time table every front-desk list shows, and finding a row in it by id."""

from __future__ import annotations

from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget

__all__ = ["list_table", "select_row"]


def list_table(headers: list[str]) -> QTableWidget:
    """A table with these columns: not editable, whole rows selected one at a time, the last column stretched."""
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().hide()
    table.setAlternatingRowColors(True)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return table


def select_row(table: QTableWidget, role: int, value: object) -> bool:
    """Select the row whose first cell holds `value` under `role`; False when no row does."""
    for r in range(table.rowCount()):
        if table.item(r, 0).data(role) == value:
            table.selectRow(r)
            return True
    return False
