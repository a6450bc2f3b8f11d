"""The pinboard: appointments parked while the front desk looks for a slot on another day.

Drag a block from the calendar onto it to park it (it stays booked where it is until placed), browse
to any day, then drag its card from here onto the grid: the grid judges the target exactly as for
any drag, and the move goes through the same validated write. Cards follow the store live; a parked
appointment cancelled or moved by someone else shows its new state, and leaves when it is gone.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFocusEvent,
    QFontMetricsF,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import QApplication, QSizePolicy, QWidget

from ..clinic_clock import ClinicClock, parse_instant
from ..messages import STATUS_LABELS
from ..store import Change, EntityStore
from .calendar_blocks import STATUS_COLOURS, paint_status_badge

__all__ = ["Pinboard"]

_TITLE = 26  # px for the title
_CARD = 52  # px per card
_GAP = 6


class Pinboard(QWidget):
    """A column of parked appointments; drags them out through signals the admin view forwards to the grid."""

    drag_moved = Signal(int, QPoint)  # a card dragged: appointment id, global pointer position
    drag_released = Signal(int, QPoint)  # a card let go: appointment id, global pointer position
    appointment_activated = Signal(int)  # a card double-clicked (or Enter): show where it is booked now
    changed = Signal()  # a card parked or removed

    def __init__(self, store: EntityStore, clock: ClinicClock, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._clock = clock
        self._parked: list[int] = []  # appointment ids, in the order they were parked
        self.current = 0  # the card the keyboard is on
        self._press: tuple[QPointF, int] | None = None
        self.dragging = 0  # the card being dragged out (0: none)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 120)
        self.setToolTip("Drag an appointment here to park it, go to another day, then drag it onto the calendar.\n"
                        "Delete removes the selected card (the appointment stays booked).")
        store.add_listener(self._on_store_changed)

    def detach(self) -> None:
        self._store.remove_listener(self._on_store_changed)

    # -- own API -----------------------------------------------------------------------------

    def parked_ids(self) -> list[int]:
        return list(self._parked)

    def park(self, appointment_id: int) -> bool:
        """Park an appointment (a scheduled or confirmed one, shown in full); False when it cannot be."""
        row = self._store.get("appointment", appointment_id)
        if row is None or row.get("busy") or row.get("status") not in ("scheduled", "confirmed"):
            return False
        if appointment_id not in self._parked:
            self._parked.append(appointment_id)
            self.changed.emit()
        self.current = appointment_id
        self.update()
        return True

    def unpark(self, appointment_id: int) -> None:
        if appointment_id in self._parked:
            self._parked.remove(appointment_id)
            if self.current == appointment_id:
                self.current = self._parked[-1] if self._parked else 0
            self.changed.emit()
            self.update()

    def card_rect(self, appointment_id: int) -> QRect | None:
        if appointment_id not in self._parked:
            return None
        index = self._parked.index(appointment_id)
        return QRect(6, _TITLE + 4 + index * (_CARD + _GAP), self.width() - 12, _CARD)

    def card_at(self, point: QPoint) -> int:
        for appointment_id in self._parked:
            rect = self.card_rect(appointment_id)
            if rect is not None and rect.contains(point):
                return appointment_id
        return 0

    def contains_global(self, point: QPoint) -> bool:
        """Is a global position over the pinboard (where a drag from the calendar was let go)?"""
        return self.isVisible() and self.rect().contains(self.mapFromGlobal(point))

    # -- painting ----------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Window))
        painter.setPen(QPen(palette.color(QPalette.ColorRole.Mid), 1, Qt.PenStyle.DashLine))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(1, 1, -1, -1), 6, 6)
        bold = painter.font()
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(palette.color(QPalette.ColorRole.WindowText))
        painter.drawText(QRectF(8, 0, self.width() - 16, _TITLE), Qt.AlignmentFlag.AlignVCenter,
                         f"Pinboard ({len(self._parked)})" if self._parked else "Pinboard")
        small = QFontMetricsF(self.font())
        if not self._parked:
            painter.setFont(self.font())
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(QRectF(10, _TITLE, self.width() - 20, self.height() - _TITLE - 6),
                             Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap,
                             "Drag an appointment here to park it while you look for a time on another day.")
        for appointment_id in self._parked:
            row = self._store.get("appointment", appointment_id)
            rect = self.card_rect(appointment_id)
            if row is None or rect is None:
                continue
            self._paint_card(painter, row, QRectF(rect), bold, small)
        painter.end()

    def _paint_card(self, painter: QPainter, row: dict[str, Any], rect: QRectF, bold: Any, metrics: QFontMetricsF) -> None:
        palette = self.palette()
        kind = self._store.get("appointment_type", row.get("type_id")) or {}
        fill = QColor(kind.get("colour") or "#9ca3af")
        painter.setPen(QPen(fill.darker(150), 1))
        painter.setBrush(fill.lighter(125))
        painter.drawRoundedRect(rect, 5, 5)
        if row["id"] == self.current and self.hasFocus() or row["id"] == self.dragging:
            painter.setPen(QPen(palette.color(QPalette.ColorRole.Highlight), 2.5))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect.adjusted(-1, -1, 1, 1), 6, 6)
        status = str(row.get("status") or "")
        if status in STATUS_COLOURS:
            paint_status_badge(painter, status, QPointF(rect.right() - 11, rect.top() + 11), 7)
        start, end = parse_instant(row["start"]), parse_instant(row["end"])
        minutes = int((end - start).total_seconds() // 60)
        name = row.get("patient_name") or "Appointment"
        line1 = metrics.elidedText(f"{name}", Qt.TextElideMode.ElideRight, rect.width() - 34)
        line2 = metrics.elidedText(f"{kind.get('name', '')} · {minutes} min · {STATUS_LABELS.get(status, status)}",
                                   Qt.TextElideMode.ElideRight, rect.width() - 14)
        line3 = metrics.elidedText(f"now {self._clock.format_when(row['start'])}", Qt.TextElideMode.ElideRight,
                                   rect.width() - 14)
        painter.setPen(QColor(20, 20, 20))
        painter.setFont(bold)
        painter.drawText(rect.adjusted(7, 3, -26, 0), Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft, line1)
        painter.setFont(self.font())
        line_height = metrics.height()
        painter.drawText(rect.adjusted(7, 3 + line_height, -7, 0), Qt.AlignmentFlag.AlignTop, line2)
        painter.drawText(rect.adjusted(7, 3 + 2 * line_height, -7, 0), Qt.AlignmentFlag.AlignTop, line3)

    # -- mouse and keys ----------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            card = self.card_at(event.position().toPoint())
            if card:
                self.current = card
                self._press = (QPointF(event.position()), card)
                self.update()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._press is not None:
            start, card = self._press
            if self.dragging or (event.position() - start).manhattanLength() >= QApplication.startDragDistance():
                self.dragging = card
                self.setCursor(Qt.CursorShape.ClosedHandCursor)
                self.drag_moved.emit(card, self.mapToGlobal(event.position().toPoint()))
                self.update()
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._press is not None:
            card = self.dragging
            self._press = None
            self.dragging = 0
            self.unsetCursor()
            self.update()
            if card:
                self.drag_released.emit(card, self.mapToGlobal(event.position().toPoint()))
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        card = self.card_at(event.position().toPoint())
        if card:
            self.appointment_activated.emit(card)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Up, Qt.Key.Key_Down) and self._parked:
            index = self._parked.index(self.current) if self.current in self._parked else -1
            index = min(max(index + (1 if key == Qt.Key.Key_Down else -1), 0), len(self._parked) - 1)
            self.current = self._parked[index]
            self.update()
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.current:
            self.appointment_activated.emit(self.current)
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.current:
            self.unpark(self.current)
        else:
            super().keyPressEvent(event)

    def focusInEvent(self, event: QFocusEvent) -> None:
        if not self.current and self._parked:
            self.current = self._parked[0]
        self.update()
        super().focusInEvent(event)

    def focusOutEvent(self, event: QFocusEvent) -> None:
        self.update()
        super().focusOutEvent(event)

    def _on_store_changed(self, change: Change) -> None:
        if change.kind != "appointment" or not self._parked:
            return
        if change.op == "reset":
            gone = [i for i in self._parked if self._store.get("appointment", i) is None]
        elif change.row is not None and change.row["id"] in self._parked:
            row = change.row
            gone = [row["id"]] if change.op == "remove" or row.get("status") not in ("scheduled", "confirmed") else []
        else:
            return
        for appointment_id in gone:
            self.unpark(appointment_id)
        self.update()
