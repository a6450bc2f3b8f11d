"""The calendar's legend: a swatch per appointment type (the block's colour) and a badge per status."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QWidget

from ..store import Change, EntityStore

__all__ = ["TypeLegend"]


class TypeLegend(QWidget):
    """Types rebuilt when an appointment type changes (rare; follows the store); statuses are fixed."""

    def __init__(self, store: EntityStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self._rebuild()
        store.add_listener(self._on_store_changed)

    def detach(self) -> None:
        self._store.remove_listener(self._on_store_changed)

    def labels(self) -> list[str]:
        """The words the legend shows, in order (tests)."""
        out = []
        for index in range(self._layout.count()):
            item = self._layout.itemAt(index)
            widget = item.widget() if item is not None else None
            if isinstance(widget, QLabel) and widget.text():
                out.append(widget.text())
        return out

    def _rebuild(self) -> None:
        # The status badges are drawn by the calendar's own painter: imported here, where it is used.
        from ..admin.calendar_blocks import (
            STATUS_LEGEND_LABELS,
            STATUS_ORDER,
            status_badge_pixmap,
        )

        while self._layout.count():
            item = self._layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        ratio = self.devicePixelRatioF()
        for row in sorted(self._store.rows("appointment_type"), key=lambda r: r["id"]):
            swatch = QPixmap(12, 12)
            swatch.fill(QColor(row.get("colour") or "#9ca3af"))
            icon = QLabel()
            icon.setPixmap(swatch)
            self._layout.addWidget(icon)
            self._layout.addWidget(QLabel(row["name"]))
            self._layout.addSpacing(4)
        separator = QFrame()
        separator.setFrameShape(QFrame.Shape.VLine)
        separator.setFrameShadow(QFrame.Shadow.Sunken)
        self._layout.addWidget(separator)
        for status in STATUS_ORDER:
            icon = QLabel()
            icon.setPixmap(status_badge_pixmap(status, 15, ratio))
            self._layout.addWidget(icon)
            self._layout.addWidget(QLabel(STATUS_LEGEND_LABELS[status]))
            self._layout.addSpacing(4)
        self._layout.addStretch(1)

    def _on_store_changed(self, change: Change) -> None:
        if change.kind == "appointment_type":
            self._rebuild()
