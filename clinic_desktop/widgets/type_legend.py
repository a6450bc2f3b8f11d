"""A row of coloured swatches naming the appointment types, so the calendar's colours can be read."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from ..store import Change, EntityStore

__all__ = ["TypeLegend"]


class TypeLegend(QWidget):
    """Rebuilt when an appointment type changes (rare); follows the store."""

    def __init__(self, store: EntityStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(10)
        self._rebuild()
        store.add_listener(self._on_store_changed)

    def detach(self) -> None:
        self._store.remove_listener(self._on_store_changed)

    def _rebuild(self) -> None:
        while self._layout.count():
            item = self._layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        for row in sorted(self._store.rows("appointment_type"), key=lambda r: r["id"]):
            swatch = QPixmap(12, 12)
            swatch.fill(QColor(row.get("colour") or "#9ca3af"))
            icon = QLabel()
            icon.setPixmap(swatch)
            self._layout.addWidget(icon)
            self._layout.addWidget(QLabel(row["name"]))
        self._layout.addStretch(1)

    def _on_store_changed(self, change: Change) -> None:
        if change.kind == "appointment_type":
            self._rebuild()
