"""A day calendar: one column per dentist, appointments as blocks coloured by type, hours shaded."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QContextMenuEvent,
    QFontMetricsF,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
    QResizeEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from ..clinic_clock import ClinicClock
from ..messages import STATUS_LABELS
from ..models import StrandedAppointments
from ..store import Change, EntityStore

__all__ = ["DayCalendarView"]

_HEADER = 30  # px for the dentists' names
_GUTTER = 56  # px for the hour labels
_HIDDEN_STATUSES = {"cancelled"}  # a cancelled appointment frees its time; the list still shows it
# A store change repaints at most this often: a burst of events on the shown day costs one paint
# per interval, not one per event (the eye cannot tell 80 ms apart; the event loop can).
REPAINT_INTERVAL_MS = 80
_TOP_LEFT = Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft
_STATIC_KINDS = ("dentist", "working_hours", "schedule_exception", "appointment_type", "settings")
_STRANDED_COLOUR = QColor(200, 30, 30)  # the outline and words of an appointment that needs rebooking


def _text_colour_for(background: QColor) -> QColor:
    luminance = 0.299 * background.red() + 0.587 * background.green() + 0.114 * background.blue()
    return QColor(20, 20, 20) if luminance > 150 else QColor(250, 250, 250)


@dataclass(slots=True)
class _Block:
    """One appointment's block as laid out and worded for a paint; reused while nothing it shows changes."""

    row: dict[str, Any]  # the store row it was made from (the store swaps the dict on every change)
    geometry: tuple[int, float, float, int]  # first hour, column width, px per minute, column
    rect: QRectF
    fill: QColor
    text_colour: QColor
    inner: QRectF
    title: str  # already elided to the block's width
    detail: str
    detail_rect: QRectF
    stranded: bool  # outside the dentist's working time now: outlined and worded "needs rebooking"
    # The block's antialiased shape (rounded rect, hatching, in-chair ring) drawn once into a pixmap:
    # drawRoundedRect was a third of every paint. Text stays live, drawn over it, as before.
    shape: QPixmap | None = None
    shape_origin: QPointF | None = None
    shape_ratio: float = 0.0


class DayCalendarView(QWidget):
    """Paints one day; keeps a day -> appointment ids index so a change elsewhere costs nothing."""

    appointment_selected = Signal(int)  # id of the clicked appointment (0 when the selection clears)
    slot_requested = Signal(int, object)  # dentist id, local datetime of an empty spot double-clicked
    context_menu_requested = Signal(int, QPoint)  # appointment id, global position

    def __init__(self, store: EntityStore, clock: ClinicClock, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._clock = clock
        self.day: date = clock.today()
        self.selected_id = 0
        self.only_dentist_id: int | None = None  # a dentist's own calendar shows one column
        self._by_day: dict[date, set[int]] = {}
        self._day_of: dict[int, date] = {}
        self._blocks: list[tuple[QRectF, int]] = []  # painted block rects for hit testing
        self.repaints_requested = 0  # how many store changes touched the shown day (tests, diagnostics)
        self.paints = 0  # how many times the calendar painted (tests, diagnostics)
        self._painted: dict[int, str] = {}  # appointment id -> the words its block showed at the last paint
        # Paint caches. The shown day's rows in start order and its hours (None: recompute).
        self._day_rows: list[dict[str, Any]] | None = None
        self._hours_cache: tuple[int, int] | None = None
        # Everything under the blocks (hours, breaks, days off, grid, headers), drawn once per key.
        self._background: QPixmap | None = None
        self._background_key: tuple[Any, ...] | None = None
        self._static_generation = 0  # bumped when a dentist, hours, exception, type or palette changes
        self._block_cache: dict[int, _Block] = {}  # appointment id -> its laid-out block
        # Appointments a day off or shorter hours left outside working time (asked before listening to
        # the store, so it is current when this view's own listener runs).
        self._stranded = StrandedAppointments.of(store, clock)
        # Store changes on the shown day schedule one repaint per interval instead of one each.
        self._repaint_timer = QTimer(self)
        self._repaint_timer.setSingleShot(True)
        self._repaint_timer.setInterval(REPAINT_INTERVAL_MS)
        self._repaint_timer.timeout.connect(self._on_repaint_timer_timeout)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(480, 540)
        self.setMouseTracking(True)
        self._rebuild_index()
        store.add_listener(self._on_store_changed)
        self._stranded.add_listener(self._on_stranded_changed)

    def detach(self) -> None:
        self._store.remove_listener(self._on_store_changed)
        self._stranded.remove_listener(self._on_stranded_changed)

    # -- own API -----------------------------------------------------------------------------

    def set_day(self, day: date) -> None:
        if day != self.day:
            self.day = day
            self._day_changed()
        self.update()

    def select(self, appointment_id: int) -> None:
        self.selected_id = appointment_id
        self.update()

    def dentists(self) -> list[dict[str, Any]]:
        rows = [row for row in self._store.rows("dentist") if row.get("active", True)]
        if self.only_dentist_id is not None:
            rows = [row for row in rows if row["id"] == self.only_dentist_id]
        return sorted(rows, key=lambda row: row["id"])

    def appointments_on(self, day: date) -> list[dict[str, Any]]:
        rows = (self._store.get("appointment", i) for i in self._by_day.get(day, ()))
        return sorted((row for row in rows if row is not None), key=lambda row: row["start"])

    def visible_appointment_ids(self) -> set[int]:
        """Ids drawn as blocks on the shown day (what a user sees), for tests."""
        return {
            row["id"]
            for row in self.appointments_on(self.day)
            if row.get("status") not in _HIDDEN_STATUSES and self._column_of(row.get("dentist_id")) is not None
        }

    # -- index -------------------------------------------------------------------------------

    def repaint_pending(self) -> bool:
        """True while a store change on the shown day waits for its coalesced repaint."""
        return self._repaint_timer.isActive()

    def _day_changed(self) -> None:
        """The shown day's rows or hours may differ: forget what was derived from them."""
        self._day_rows = None
        self._hours_cache = None

    def _static_changed(self) -> None:
        """Dentists, hours, exceptions, types, zone or palette changed: redraw the background and blocks."""
        self._static_generation += 1
        self._block_cache.clear()
        self._day_changed()

    def _rebuild_index(self) -> None:
        self._by_day = {}
        self._day_of = {}
        for row in self._store.rows("appointment"):
            self._index(row)

    def _index(self, row: dict[str, Any]) -> date:
        day = self._clock.local_date(row["start"])
        self._by_day.setdefault(day, set()).add(row["id"])
        self._day_of[row["id"]] = day
        return day

    def _unindex(self, appointment_id: int) -> date | None:
        day = self._day_of.pop(appointment_id, None)
        if day is not None:
            self._by_day.get(day, set()).discard(appointment_id)
        return day

    def _on_store_changed(self, change: Change) -> None:
        if change.kind == "appointment":
            if change.op == "reset":
                self._rebuild_index()
                touched = {self.day}
            else:
                assert change.row is not None
                old_day = self._unindex(change.row["id"])
                touched = {old_day} if old_day is not None else set()
                if change.op != "remove":
                    touched.add(self._index(change.row))
            if self.day in touched:
                self.repaints_requested += 1
                self._day_changed()
                if change.op == "reset":
                    self._block_cache.clear()
                elif change.op == "remove":
                    self._block_cache.pop(change.row["id"], None)  # type: ignore[index]
                self._schedule_repaint()
        elif change.kind in _STATIC_KINDS:
            if change.kind == "settings":
                self._rebuild_index()
            self._static_changed()
            self._schedule_repaint()
        elif change.kind == "patient":  # a renamed patient: blocks that fall back on the name re-word
            self._block_cache.clear()
            self._schedule_repaint()

    def _on_stranded_changed(self, changed: set[int], _cause: Change) -> None:
        if any(self._day_of.get(appointment_id) == self.day for appointment_id in changed):
            self._schedule_repaint()  # the block is laid out again: its cached flag differs

    def _schedule_repaint(self) -> None:
        if not self._repaint_timer.isActive():
            self._repaint_timer.start()

    def _on_repaint_timer_timeout(self) -> None:
        self.update()

    # -- geometry ----------------------------------------------------------------------------

    def _shown_rows(self) -> list[dict[str, Any]]:
        """`appointments_on(self.day)`, kept until a change touches the shown day."""
        if self._day_rows is None:
            self._day_rows = self.appointments_on(self.day)
        return self._day_rows

    def _hours(self) -> tuple[int, int]:
        if self._hours_cache is None:
            self._hours_cache = self._compute_hours()
        return self._hours_cache

    def _compute_hours(self) -> tuple[int, int]:
        """First and last hour shown: 08-18, widened to fit any working hours or appointment of the day."""
        first, last = 8, 18
        weekday = self.day.weekday()
        for row in self._store.rows("working_hours"):
            if row.get("weekday") == weekday:
                first = min(first, int(row["start"][:2]))
                last = max(last, int(row["end"][:2]) + (1 if row["end"][3:5] != "00" else 0))
        for row in self._shown_rows():
            start, end = self._clock.local(row["start"]), self._clock.local(row["end"])
            first = min(first, start.hour)
            last = max(last, end.hour + (1 if end.minute else 0) if end.date() == self.day else 24)
        return first, min(last, 24)

    def _column_of(self, dentist_id: int | None) -> int | None:
        for column, dentist in enumerate(self.dentists()):
            if dentist["id"] == dentist_id:
                return column
        return None

    def _geometry(self) -> tuple[int, int, float, float]:
        first, last = self._hours()
        columns = max(1, len(self.dentists()))
        column_width = (self.width() - _GUTTER) / columns
        per_minute = (self.height() - _HEADER - 12) / max(60, (last - first) * 60)
        return first, last, column_width, per_minute

    def _y_of(self, moment: datetime, first: int, per_minute: float) -> float:
        local = self._clock.local(moment)
        if local.date() < self.day:
            minutes = 0.0
        elif local.date() > self.day:
            minutes = 24 * 60.0
        else:
            minutes = local.hour * 60 + local.minute + local.second / 60
        return _HEADER + (minutes - first * 60) * per_minute

    # -- painting ----------------------------------------------------------------------------

    def painted_blocks(self) -> dict[int, str]:
        """What the last paint showed: appointment id -> its block's words (elided as drawn), for tests."""
        return dict(self._painted)

    def paintEvent(self, event: QPaintEvent) -> None:
        self.paints += 1
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        first, last, column_width, per_minute = self._geometry()
        painter.drawPixmap(0, 0, self._background_pixmap(first, last, column_width, per_minute))
        self._paint_appointments(painter, first, column_width, per_minute)

        if self.day == self._clock.today():
            now_y = self._y_of(self._clock.now(), first, per_minute)
            painter.setPen(QPen(palette.color(QPalette.ColorRole.Highlight), 2))
            painter.drawLine(_GUTTER, int(now_y), self.width(), int(now_y))
        if not self.dentists():
            painter.setPen(palette.color(QPalette.ColorRole.WindowText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No dentists yet")
        painter.end()

    def _background_pixmap(self, first: int, last: int, column_width: float, per_minute: float) -> QPixmap:
        """Hours, breaks, days off, grid and headers: redrawn only when one of them (or the size) changes."""
        ratio = self.devicePixelRatioF()
        key = (self.width(), self.height(), ratio, self.day, first, last, self.only_dentist_id, self._static_generation)
        if self._background is not None and key == self._background_key:
            return self._background
        pixmap = QPixmap(max(1, round(self.width() * ratio)), max(1, round(self.height() * ratio)))
        pixmap.setDevicePixelRatio(ratio)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setFont(self.font())
        self._paint_background(painter, first, last, column_width, per_minute)
        painter.end()
        self._background, self._background_key = pixmap, key
        return pixmap

    def _paint_background(self, painter: QPainter, first: int, last: int, column_width: float, per_minute: float) -> None:
        palette = self.palette()
        dentists = self.dentists()
        off_hours = palette.color(QPalette.ColorRole.Window)
        painter.fillRect(self.rect(), off_hours)

        for column, dentist in enumerate(dentists):
            x = _GUTTER + column * column_width
            self._paint_working_hours(painter, dentist["id"], x, column_width, first, per_minute)
            self._paint_exceptions(painter, dentist["id"], x, column_width, first, per_minute)

        # Hour lines and labels.
        grid = palette.color(QPalette.ColorRole.Mid)
        faint = QColor(grid)
        faint.setAlpha(70)
        text = palette.color(QPalette.ColorRole.WindowText)
        for hour in range(first, last + 1):
            y = _HEADER + (hour - first) * 60 * per_minute
            painter.setPen(QPen(grid, 1))
            painter.drawLine(int(_GUTTER - 6), int(y), self.width(), int(y))
            painter.setPen(text)
            painter.drawText(QRectF(0, y - 9, _GUTTER - 10, 18), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{hour:02d}:00")
            if hour < last:
                painter.setPen(QPen(faint, 1, Qt.PenStyle.DashLine))
                half = y + 30 * per_minute
                painter.drawLine(_GUTTER, int(half), self.width(), int(half))

        # Column separators and headers.
        header_font = painter.font()
        header_font.setBold(True)
        for column, dentist in enumerate(dentists):
            x = _GUTTER + column * column_width
            painter.setPen(QPen(grid, 1))
            painter.drawLine(int(x), 0, int(x), self.height())
            painter.fillRect(QRectF(x + 1, 0, column_width - 1, _HEADER), palette.color(QPalette.ColorRole.Button))
            painter.setPen(palette.color(QPalette.ColorRole.ButtonText))
            painter.save()
            painter.setFont(header_font)
            painter.drawText(QRectF(x + 4, 0, column_width - 8, _HEADER), Qt.AlignmentFlag.AlignCenter, dentist["name"])
            painter.restore()
        painter.setPen(QPen(grid, 1))
        painter.drawLine(0, _HEADER, self.width(), _HEADER)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._static_changed()
        super().changeEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._block_cache.clear()  # every block's width or height changes with the widget's
        super().resizeEvent(event)

    def _paint_working_hours(self, painter: QPainter, dentist_id: int, x: float, width: float, first: int, per_minute: float) -> None:
        palette = self.palette()
        base = palette.color(QPalette.ColorRole.Base)
        intervals = sorted(
            (row["start"], row["end"])
            for row in self._store.rows("working_hours")
            if row.get("dentist_id") == dentist_id and row.get("weekday") == self.day.weekday()
        )
        for start, end in intervals:
            top = self._y_of(self._clock.at(self.day, start), first, per_minute)
            bottom = self._y_of(self._clock.at(self.day, end), first, per_minute)
            painter.fillRect(QRectF(x + 1, top, width - 1, bottom - top), base)
        # A gap between two intervals of the same day is a break: say so.
        painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
        for (_s1, end), (start, _e2) in zip(intervals, intervals[1:]):
            top = self._y_of(self._clock.at(self.day, end), first, per_minute)
            bottom = self._y_of(self._clock.at(self.day, start), first, per_minute)
            if bottom - top >= 14:
                painter.drawText(QRectF(x, top, width, bottom - top), Qt.AlignmentFlag.AlignCenter, "Break")

    def _paint_exceptions(self, painter: QPainter, dentist_id: int, x: float, width: float, first: int, per_minute: float) -> None:
        palette = self.palette()
        day_start, day_end = self._clock.day_bounds(self.day)
        for row in self._store.rows("schedule_exception"):
            if row.get("dentist_id") not in (None, dentist_id):
                continue
            start, end = self._clock.local(row["start"]), self._clock.local(row["end"])
            if end <= day_start or start >= day_end:
                continue
            top = self._y_of(max(start, day_start), first, per_minute)
            bottom = self._y_of(min(end, day_end), first, per_minute)
            top, bottom = max(top, _HEADER), min(bottom, self.height())
            rect = QRectF(x + 1, top, width - 1, bottom - top)
            if row.get("kind") == "extra":
                painter.fillRect(rect, palette.color(QPalette.ColorRole.Base))
                label = "Extra hours"
            else:
                painter.fillRect(rect, palette.color(QPalette.ColorRole.Window))
                hatch = QColor(palette.color(QPalette.ColorRole.Mid))
                painter.fillRect(rect, QBrush(hatch, Qt.BrushStyle.BDiagPattern))
                label = "Closed" if row.get("dentist_id") is None else "Day off"
            if row.get("reason"):
                label = f"{label}: {row['reason']}"
            painter.setPen(palette.color(QPalette.ColorRole.WindowText))
            painter.drawText(rect.adjusted(4, 4, -4, -4), Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignHCenter | Qt.TextFlag.TextWordWrap, label)

    def _paint_appointments(self, painter: QPainter, first: int, column_width: float, per_minute: float) -> None:
        palette = self.palette()
        self._blocks = []
        self._painted = {}
        columns = {dentist["id"]: column for column, dentist in enumerate(self.dentists())}
        small = painter.font()
        small.setPointSizeF(max(7.0, small.pointSizeF() - 1))
        bold = painter.font()
        bold.setBold(True)
        fonts = (bold, small, QFontMetricsF(bold), QFontMetricsF(small))
        highlight = QPen(palette.color(QPalette.ColorRole.Highlight), 3)
        ratio = self.devicePixelRatioF()
        shown: set[int] = set()
        for row in self._shown_rows():
            if row.get("status") in _HIDDEN_STATUSES:
                continue
            column = columns.get(row.get("dentist_id"))  # type: ignore[arg-type]
            if column is None:
                continue
            geometry = (first, column_width, per_minute, column)
            block = self._block_cache.get(row["id"])
            if (block is None or block.row is not row or block.geometry != geometry
                    or block.stranded != (row["id"] in self._stranded)):
                block = self._block_cache[row["id"]] = self._lay_out_block(row, geometry, fonts)
            shown.add(row["id"])
            rect = block.rect
            if block.shape is None or block.shape_ratio != ratio:
                self._draw_shape(block, row.get("status"), ratio)
            painter.drawPixmap(block.shape_origin, block.shape)
            if row["id"] == self.selected_id:
                painter.setPen(highlight)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRoundedRect(rect.adjusted(-1, -1, 1, 1), 5, 5)
            if block.stranded:  # a red stripe down the left edge and a dashed red frame around it
                painter.fillRect(QRectF(rect.left() + 1, rect.top() + 1, 5, rect.height() - 2), _STRANDED_COLOUR)
                painter.setPen(QPen(_STRANDED_COLOUR, 2.5, Qt.PenStyle.DashLine))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRoundedRect(rect.adjusted(-3, -3, 3, 3), 6, 6)
            self._blocks.append((rect, row["id"]))
            self._painted[row["id"]] = f"{block.title}\n{block.detail}" if block.detail else block.title
            painter.setPen(block.text_colour)
            painter.setFont(bold)
            painter.drawText(block.inner, _TOP_LEFT, block.title)
            if block.detail:
                painter.setFont(small)
                painter.drawText(block.detail_rect, _TOP_LEFT, block.detail)
        for stale in self._block_cache.keys() - shown:  # moved away, cancelled, or another day's
            del self._block_cache[stale]

    @staticmethod
    def _draw_shape(block: _Block, status: str | None, ratio: float) -> None:
        """Draw the block's shape into its pixmap, aligned to the device pixels it will land on."""
        rect, fill = block.rect, block.fill
        left, top = math.floor((rect.left() - 2) * ratio), math.floor((rect.top() - 2) * ratio)
        right, bottom = math.ceil((rect.right() + 2) * ratio), math.ceil((rect.bottom() + 2) * ratio)
        pixmap = QPixmap(max(1, right - left), max(1, bottom - top))
        pixmap.setDevicePixelRatio(ratio)
        pixmap.fill(Qt.GlobalColor.transparent)
        origin = QPointF(left / ratio, top / ratio)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.translate(-origin)
        painter.setBrushOrigin(0, 0)
        painter.setPen(QPen(fill.darker(150), 1))
        painter.setBrush(fill)
        painter.drawRoundedRect(rect, 4, 4)
        if status == "no_show":
            painter.fillRect(rect, QBrush(fill.darker(170), Qt.BrushStyle.FDiagPattern))
        if status == "in_chair":
            painter.setPen(QPen(fill.darker(220), 3))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect.adjusted(1, 1, -1, -1), 4, 4)
        painter.end()
        block.shape, block.shape_origin, block.shape_ratio = pixmap, origin, ratio

    def _lay_out_block(self, row: dict[str, Any], geometry: tuple[int, float, float, int],
                       fonts: tuple[Any, Any, QFontMetricsF, QFontMetricsF]) -> _Block:
        """Where a block goes, its colours and its words elided to fit: the costly part of a paint."""
        first, column_width, per_minute, column = geometry
        _bold, _small, bold_metrics, small_metrics = fonts
        palette = self.palette()
        x = _GUTTER + column * column_width
        top = self._y_of(self._clock.local(row["start"]), first, per_minute)
        bottom = self._y_of(self._clock.local(row["end"]), first, per_minute)
        rect = QRectF(x + 3, top + 1, column_width - 6, max(12.0, bottom - top - 2))
        busy = bool(row.get("busy"))
        appointment_type = self._store.get("appointment_type", row.get("type_id"))
        if busy or appointment_type is None:
            fill = QColor(palette.color(QPalette.ColorRole.Mid))
        else:
            fill = QColor(appointment_type.get("colour") or "#9ca3af")
        status = row.get("status")
        if status in ("completed", "no_show"):
            fill.setAlpha(120)
        text_colour = _text_colour_for(fill) if fill.alpha() == 255 else palette.color(QPalette.ColorRole.WindowText)
        when = f"{self._clock.format_time(row['start'])}–{self._clock.format_time(row['end'])}"
        inner = rect.adjusted(6, 2, -4, -2)
        two_lines = inner.height() >= bold_metrics.height() + small_metrics.height() - 2
        status_text = STATUS_LABELS.get(status or "", status or "")
        stranded = row["id"] in self._stranded
        if stranded:
            status_text = "⚠ needs rebooking"
        if busy:
            title, detail = f"{when} Busy", ""
        else:
            name = row.get("patient_name") or (self._store.get("patient", row.get("patient_id")) or {}).get("name", "")
            type_name = appointment_type["name"] if appointment_type else ""
            if two_lines:
                title, detail = f"{when} {name}", f"{type_name} · {status_text}"
            else:  # too short for two lines: keep the status visible on the one line
                title, detail = f"{when} {name} · {status_text}", ""
        return _Block(
            row=row, geometry=geometry, rect=rect, fill=fill, text_colour=text_colour, inner=inner,
            title=bold_metrics.elidedText(title, Qt.TextElideMode.ElideRight, inner.width()),
            detail=small_metrics.elidedText(detail, Qt.TextElideMode.ElideRight, inner.width()) if detail else "",
            detail_rect=inner.adjusted(0, bold_metrics.height(), 0, 0), stranded=stranded,
        )

    # -- interaction -------------------------------------------------------------------------

    def appointment_at(self, point: QPoint) -> int:
        for rect, appointment_id in reversed(self._blocks):
            if rect.contains(point.toPointF()):
                return appointment_id
        return 0

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.select(self.appointment_at(event.position().toPoint()))
            self.appointment_selected.emit(self.selected_id)
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        point = event.position().toPoint()
        if self.appointment_at(point):
            return
        first, _last, column_width, per_minute = self._geometry()
        column = int((point.x() - _GUTTER) // column_width) if point.x() >= _GUTTER else -1
        dentists = self.dentists()
        if not 0 <= column < len(dentists) or point.y() < _HEADER:
            return
        # The clicked time, down to the clinic's slot grid (the booking dialog offers those starts).
        slot = int(self._store.settings().get("slot_minutes") or 15)
        minutes = first * 60 + (point.y() - _HEADER) / per_minute
        minutes = int(minutes // slot * slot)
        moment = self._clock.at(self.day, f"{minutes // 60:02d}:{minutes % 60:02d}") if minutes < 24 * 60 else None
        if moment is not None:
            self.slot_requested.emit(dentists[column]["id"], moment)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        appointment_id = self.appointment_at(event.pos())
        if appointment_id:
            self.select(appointment_id)
            self.appointment_selected.emit(appointment_id)
            self.context_menu_requested.emit(appointment_id, event.globalPos())
