"""The schedule grid the day and week views share: columns of days × dentists or chairs, blocks, drag, keys.

A painted widget (not a QGraphicsScene): the blocks are cached pixmaps, so a burst of events costs
one coalesced repaint. Direct manipulation follows DESIGN.md: a drag is a *proposal* drawn from the
local store (outlined green or red with a reason, `calendar_drop.check_drop`); a drop emits
`move_requested` with the row as it was when the drag started; the owner sends it through the
operations helper and calls `finish_drop`; a refusal animates the ghost back to where the
appointment still is. Nothing changes locally before the server says yes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from PySide6.QtCore import (
    QEasingCurve,
    QEvent,
    QPoint,
    QPointF,
    QRectF,
    Qt,
    QTimer,
    QVariantAnimation,
    Signal,
)
from PySide6.QtGui import (
    QBrush,
    QColor,
    QContextMenuEvent,
    QFocusEvent,
    QFontMetricsF,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
    QResizeEvent,
)
from PySide6.QtWidgets import QApplication, QSizePolicy, QWidget

from ..clinic_clock import ClinicClock, parse_instant
from ..models import StrandedAppointments
from ..store import Change, EntityStore
from . import calendar_blocks as blocks
from .calendar_drop import MOVABLE, Proposal, Verdict, changes_for, check_drop

__all__ = ["CalendarGrid", "Column", "DragState"]

_HIDDEN_STATUSES = {"cancelled"}  # a cancelled appointment frees its time; the list still shows it
# A store change repaints at most this often: a burst of events on the shown days costs one paint
# per interval, not one per event (the eye cannot tell 80 ms apart; the event loop can).
REPAINT_INTERVAL_MS = 80
SNAP_BACK_MS = 220  # how long a refused drop takes to glide back to where the appointment still is
REFUSAL_SECONDS = 5  # how long the reason for a refusal stays on the grid
_STATIC_KINDS = ("dentist", "chair", "working_hours", "schedule_exception", "appointment_type", "settings",
                 "blockout", "blockout_type")
_RESIZE_GRIP = 6  # px at a block's bottom edge that resize instead of move
FREE_COLOUR = QColor("#16a34a")
REFUSED_COLOUR = QColor("#dc2626")


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the grid: a day and a dentist or a chair (chair None: appointments with no chair)."""

    day: date
    title: str
    dentist_id: int | None = None  # a dentist column
    chair_id: int | None = None  # a chair column (with by_chair)
    by_chair: bool = False
    first_of_day: bool = True  # the week view draws a heavier line before each day


@dataclass(slots=True)
class DragState:
    """A drag in progress (or waiting for the server after its drop)."""

    appointment_id: int
    seen: dict[str, Any]  # the row when the drag started: its version goes with the write
    mode: str  # "move" or "resize"
    grab_minutes: float  # where in the block the pointer took it, so the block does not jump
    origin: QRectF | None  # the block's rect when the drag started (None: it came from elsewhere)
    external: bool = False  # from the pinboard
    proposal: Proposal | None = None
    verdict: Verdict | None = None
    rect: QRectF | None = None  # the target's rect on the grid
    point: QPointF | None = None
    pending: bool = False  # dropped: waiting for the server's answer


class CalendarGrid(QWidget):
    """Paints the shown days; keeps a day -> appointment ids index so a change elsewhere costs nothing."""

    appointment_selected = Signal(int)  # id of the clicked appointment (0 when the selection clears)
    slot_requested = Signal(int, object)  # dentist id (0 in a chair column), local datetime of a free spot
    context_menu_requested = Signal(int, QPoint)  # appointment id, global position
    move_requested = Signal(object, object, str)  # the row as seen, the changes, words for the outcome
    drop_refused = Signal(str)  # a drop the local store already shows is not free: the reason
    released_outside = Signal(int, QPoint)  # a drag let go off the grid (the pinboard?): id, global position
    open_requested = Signal(int)  # Enter on an appointment
    cancel_requested = Signal(int)  # Delete on an appointment

    header_height = 30  # px for the column titles
    gutter = 56  # px for the hour labels

    def __init__(self, store: EntityStore, clock: ClinicClock, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._clock = clock
        self.day: date = clock.today()
        self.selected_id = 0
        self.only_dentist_id: int | None = None  # a dentist's own calendar shows one column
        self.only_resource_id: int | None = None  # one dentist's (or chair's) columns only
        self.by_chair = False  # one column per chair instead of per dentist
        self.editable = False  # drag, resize, keyboard cancel: the front desk turns it on
        self.pinned_ids: set[int] = set()  # parked on the pinboard: drawn with a dotted frame
        self._by_day: dict[date, set[int]] = {}
        self._day_of: dict[int, date] = {}
        self._blocks: list[tuple[QRectF, int]] = []  # painted block rects for hit testing
        self.repaints_requested = 0  # how many store changes touched the shown days (tests, diagnostics)
        self.paints = 0  # how many times the calendar painted (tests, diagnostics)
        self._painted: dict[int, str] = {}  # appointment id -> the words its block showed at the last paint
        # Paint caches: the shown days' rows in start order, their columns and hours (None: recompute).
        self._day_rows: list[dict[str, Any]] | None = None
        self._columns_cache: list[Column] | None = None
        self._hours_cache: tuple[int, int] | None = None
        # Everything under the blocks (hours, breaks, days off, blockouts, grid, headers), drawn once per key.
        self._background: QPixmap | None = None
        self._background_key: tuple[Any, ...] | None = None
        self._static_generation = 0  # bumped when a dentist, chair, hours, exception, type or palette changes
        self._block_cache: dict[int, blocks.Block] = {}  # appointment id -> its laid-out block
        self._stranded = StrandedAppointments.of(store, clock)
        self._repaint_timer = QTimer(self)
        self._repaint_timer.setSingleShot(True)
        self._repaint_timer.setInterval(REPAINT_INTERVAL_MS)
        self._repaint_timer.timeout.connect(self._on_repaint_timer_timeout)
        # Direct manipulation.
        self.drag: DragState | None = None
        self._press: tuple[QPointF, int, str] | None = None  # where a press on a block happened, before it drags
        self._snap: tuple[QRectF, QRectF | None, QColor] | None = None  # a refused ghost gliding back
        self._snap_animation = QVariantAnimation(self)
        self._snap_animation.setDuration(SNAP_BACK_MS)
        self._snap_animation.setStartValue(0.0)
        self._snap_animation.setEndValue(1.0)
        self._snap_animation.setEasingCurve(QEasingCurve.Type.OutCubic)
        self._snap_animation.valueChanged.connect(self._on_snap_animation_value_changed)
        self._snap_animation.finished.connect(self._on_snap_animation_finished)
        self._snap_progress = 0.0
        self.last_refusal = ""  # the reason the last drop was refused (shown on the grid a while; tests)
        self._refusal_at: QRectF | None = None
        self._refusal_timer = QTimer(self)
        self._refusal_timer.setSingleShot(True)
        self._refusal_timer.setInterval(REFUSAL_SECONDS * 1000)
        self._refusal_timer.timeout.connect(self._on_refusal_timer_timeout)
        # Keyboard: the slot under the cursor when no appointment is selected (column, minute of day).
        self.cursor_slot: tuple[int, int] | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(480, 540)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._rebuild_index()
        store.add_listener(self._on_store_changed)
        self._stranded.add_listener(self._on_stranded_changed)

    def detach(self) -> None:
        self._store.remove_listener(self._on_store_changed)
        self._stranded.remove_listener(self._on_stranded_changed)

    # -- what is shown -----------------------------------------------------------------------

    def shown_days(self) -> list[date]:
        """The days drawn side by side (the day view: one; the week view: Monday to Saturday)."""
        return [self.day]

    def set_day(self, day: date) -> None:
        if day != self.day:
            before = self.shown_days()
            self.day = day
            if self.shown_days() != before:
                self._columns_cache = None  # a column is a day and a dentist (or chair)
                self._day_changed()
                self.cursor_slot = None
        self.update()

    def set_by_chair(self, by_chair: bool) -> None:
        """One column per chair (True) or per dentist (False)."""
        if by_chair != self.by_chair:
            self.by_chair = by_chair
            self.only_resource_id = None
            self.cursor_slot = None
            self._static_changed()
            self.update()

    def set_only_resource(self, resource_id: int | None) -> None:
        """Show one dentist's (or, by chair, one chair's) columns only; None shows them all."""
        if resource_id != self.only_resource_id:
            self.only_resource_id = resource_id
            self.cursor_slot = None
            self._static_changed()
            self.update()

    def select(self, appointment_id: int) -> None:
        self.selected_id = appointment_id
        if appointment_id:
            self.cursor_slot = None
        self.update()

    def dentists(self) -> list[dict[str, Any]]:
        rows = [row for row in self._store.rows("dentist") if row.get("active", True)]
        if self.only_dentist_id is not None:
            rows = [row for row in rows if row["id"] == self.only_dentist_id]
        return sorted(rows, key=lambda row: row["id"])

    def chairs(self) -> list[dict[str, Any]]:
        return sorted((row for row in self._store.rows("chair") if row.get("active", True)), key=lambda row: row["id"])

    def appointments_on(self, day: date) -> list[dict[str, Any]]:
        rows = (self._store.get("appointment", i) for i in self._by_day.get(day, ()))
        return sorted((row for row in rows if row is not None), key=lambda row: row["start"])

    def columns(self) -> list[Column]:
        if self._columns_cache is None:
            self._columns_cache = self._compute_columns()
        return self._columns_cache

    def _compute_columns(self) -> list[Column]:
        out: list[Column] = []
        if self.by_chair:
            resources = [(row["id"], row["name"]) for row in self.chairs()]
            if self.only_resource_id is not None:
                resources = [r for r in resources if r[0] == self.only_resource_id]
            elif any(row.get("chair_id") is None and row.get("status") not in _HIDDEN_STATUSES
                     for row in self._shown_rows()):
                resources.append((None, "No chair"))
        else:
            resources = [(row["id"], row["name"]) for row in self.dentists()]
            if self.only_resource_id is not None:
                resources = [r for r in resources if r[0] == self.only_resource_id]
        for day in self.shown_days():
            for index, (resource_id, name) in enumerate(resources):
                if self.by_chair:
                    out.append(Column(day, name, chair_id=resource_id, by_chair=True, first_of_day=index == 0))
                else:
                    out.append(Column(day, name, dentist_id=resource_id, first_of_day=index == 0))
        return out

    def _column_index(self) -> dict[tuple[date, int | None], int]:
        return {(column.day, column.chair_id if column.by_chair else column.dentist_id): index
                for index, column in enumerate(self.columns())}

    def column_of_row(self, row: dict[str, Any]) -> int | None:
        day = self._day_of.get(row["id"])
        key = row.get("chair_id") if self.by_chair else row.get("dentist_id")
        return self._column_index().get((day, key)) if day is not None else None  # type: ignore[arg-type]

    def visible_appointment_ids(self) -> set[int]:
        """Ids drawn as blocks on the shown days (what a user sees), for tests."""
        index = self._column_index()
        return {
            row["id"]
            for row in self._shown_rows()
            if row.get("status") not in _HIDDEN_STATUSES
            and (self._day_of.get(row["id"]), row.get("chair_id") if self.by_chair else row.get("dentist_id")) in index
        }

    def block_rect(self, appointment_id: int) -> QRectF | None:
        """Where the appointment's block was painted last (None: not shown), for tests and drags."""
        return next((rect for rect, shown in self._blocks if shown == appointment_id), None)

    # -- index -------------------------------------------------------------------------------

    def repaint_pending(self) -> bool:
        """True while a store change on the shown days waits for its coalesced repaint."""
        return self._repaint_timer.isActive()

    def _day_changed(self) -> None:
        """The shown days' rows or hours may differ: forget what was derived from them."""
        self._day_rows = None
        self._hours_cache = None
        if self.by_chair:  # the "No chair" column comes and goes with the rows
            self._columns_cache = None

    def _static_changed(self) -> None:
        """Dentists, chairs, hours, exceptions, types, zone or palette changed: redraw the background and blocks."""
        self._static_generation += 1
        self._block_cache.clear()
        self._columns_cache = None
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
                touched = True
            else:
                assert change.row is not None
                old_day = self._unindex(change.row["id"])
                days = {old_day} if old_day is not None else set()
                if change.op != "remove":
                    days.add(self._index(change.row))
                touched = any(day in days for day in self.shown_days())
            if touched:
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
        shown = set(self.shown_days())
        if any(self._day_of.get(appointment_id) in shown for appointment_id in changed):
            self._schedule_repaint()  # the block is laid out again: its cached flag differs

    def _schedule_repaint(self) -> None:
        if not self._repaint_timer.isActive():
            self._repaint_timer.start()

    def _on_repaint_timer_timeout(self) -> None:
        self.update()

    # -- geometry ----------------------------------------------------------------------------

    def _shown_rows(self) -> list[dict[str, Any]]:
        """The shown days' appointments, kept until a change touches one of those days."""
        if self._day_rows is None:
            rows: list[dict[str, Any]] = []
            for day in self.shown_days():
                rows.extend(self.appointments_on(day))
            self._day_rows = rows
        return self._day_rows

    def _hours(self) -> tuple[int, int]:
        if self._hours_cache is None:
            self._hours_cache = self._compute_hours()
        return self._hours_cache

    def _compute_hours(self) -> tuple[int, int]:
        """First and last hour shown: 08-18, widened to fit any working hours or appointment of the days."""
        first, last = 8, 18
        weekdays = {day.weekday() for day in self.shown_days()}
        for row in self._store.rows("working_hours"):
            if row.get("weekday") in weekdays:
                first = min(first, int(row["start"][:2]))
                last = max(last, int(row["end"][:2]) + (1 if row["end"][3:5] != "00" else 0))
        for row in self._shown_rows():
            start, end = self._clock.local(row["start"]), self._clock.local(row["end"])
            first = min(first, start.hour)
            last = max(last, end.hour + (1 if end.minute else 0) if end.date() == start.date() else 24)
        return first, min(last, 24)

    def _geometry(self) -> tuple[int, int, float, float]:
        first, last = self._hours()
        columns = max(1, len(self.columns()))
        column_width = (self.width() - self.gutter) / columns
        per_minute = (self.height() - self.header_height - 12) / max(60, (last - first) * 60)
        return first, last, column_width, per_minute

    def _y_of(self, moment: datetime, first: int, per_minute: float, day: date | None = None) -> float:
        local = self._clock.local(moment)
        day = day or self.day
        if local.date() < day:
            minutes = 0.0
        elif local.date() > day:
            minutes = 24 * 60.0
        else:
            minutes = local.hour * 60 + local.minute + local.second / 60
        return self.header_height + (minutes - first * 60) * per_minute

    def _y_of_minute(self, minute: float, first: int, per_minute: float) -> float:
        return self.header_height + (minute - first * 60) * per_minute

    def _minute_at(self, y: float, first: int, per_minute: float) -> float:
        return first * 60 + (y - self.header_height) / max(per_minute, 1e-6)

    def _column_at(self, x: float, column_width: float) -> int | None:
        if x < self.gutter:
            return None
        index = int((x - self.gutter) // column_width)
        return index if 0 <= index < len(self.columns()) else None

    def _slot_minutes(self) -> int:
        return max(1, int(self._store.settings().get("slot_minutes") or 15))

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
        today = self._clock.today()
        if today in self.shown_days():
            now_y = self._y_of(self._clock.now(), first, per_minute, today)
            painter.setPen(QPen(palette.color(QPalette.ColorRole.Highlight), 2))
            for index, column in enumerate(self.columns()):
                if column.day == today:
                    x = self.gutter + index * column_width
                    painter.drawLine(int(x), int(now_y), int(x + column_width), int(now_y))
        self._paint_cursor(painter, first, column_width, per_minute)
        self._paint_drag(painter)
        if not self.columns():
            painter.setPen(palette.color(QPalette.ColorRole.WindowText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No chairs yet" if self.by_chair else "No dentists yet")
        painter.end()

    def _background_pixmap(self, first: int, last: int, column_width: float, per_minute: float) -> QPixmap:
        """Hours, breaks, days off, blockouts, grid and headers: redrawn only when one of them (or the size) changes."""
        ratio = self.devicePixelRatioF()
        key = (self.width(), self.height(), ratio, tuple(self.columns()), first, last, self._static_generation,
               self._clock.today())
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
        columns = self.columns()
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Window))
        for index, column in enumerate(columns):
            x = self.gutter + index * column_width
            self._paint_working_hours(painter, column, x, column_width, first, per_minute)
            self._paint_exceptions(painter, column, x, column_width, first, per_minute)
            self._paint_blockouts(painter, column, x, column_width, first, per_minute)

        grid = palette.color(QPalette.ColorRole.Mid)
        faint = QColor(grid)
        faint.setAlpha(70)
        text = palette.color(QPalette.ColorRole.WindowText)
        for hour in range(first, last + 1):
            y = self._y_of_minute(hour * 60, first, per_minute)
            painter.setPen(QPen(grid, 1))
            painter.drawLine(int(self.gutter - 6), int(y), self.width(), int(y))
            painter.setPen(text)
            painter.drawText(QRectF(0, y - 9, self.gutter - 10, 18), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             f"{hour:02d}:00")
            if hour < last:
                painter.setPen(QPen(faint, 1, Qt.PenStyle.DashLine))
                half = y + 30 * per_minute
                painter.drawLine(self.gutter, int(half), self.width(), int(half))
        painter.setPen(QPen(grid, 1))
        painter.drawLine(0, self.header_height, self.width(), self.header_height)
        self._paint_headers(painter, columns, column_width)

    def _paint_headers(self, painter: QPainter, columns: list[Column], column_width: float) -> None:
        """One title per column (the week view draws days over them)."""
        palette = self.palette()
        grid = palette.color(QPalette.ColorRole.Mid)
        header_font = painter.font()
        header_font.setBold(True)
        metrics = QFontMetricsF(header_font)
        for index, column in enumerate(columns):
            x = self.gutter + index * column_width
            painter.setPen(QPen(grid, 1))
            painter.drawLine(int(x), 0, int(x), self.height())
            painter.fillRect(QRectF(x + 1, 0, column_width - 1, self.header_height), palette.color(QPalette.ColorRole.Button))
            painter.setPen(palette.color(QPalette.ColorRole.ButtonText))
            painter.save()
            painter.setFont(header_font)
            title = metrics.elidedText(column.title, Qt.TextElideMode.ElideRight, column_width - 8)
            painter.drawText(QRectF(x + 4, 0, column_width - 8, self.header_height), Qt.AlignmentFlag.AlignCenter, title)
            painter.restore()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._static_changed()
        super().changeEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._block_cache.clear()  # every block's width or height changes with the widget's
        super().resizeEvent(event)

    def _working_intervals(self, column: Column) -> list[tuple[str, str]]:
        weekday = column.day.weekday()
        if column.by_chair:  # a chair works when any dentist does
            dentists = {row["id"] for row in self.dentists()}
            spans = sorted((row["start"], row["end"]) for row in self._store.rows("working_hours")
                           if row.get("dentist_id") in dentists and row.get("weekday") == weekday)
            merged: list[tuple[str, str]] = []
            for start, end in spans:
                if merged and start <= merged[-1][1]:
                    merged[-1] = (merged[-1][0], max(merged[-1][1], end))
                else:
                    merged.append((start, end))
            return merged
        return sorted((row["start"], row["end"]) for row in self._store.rows("working_hours")
                      if row.get("dentist_id") == column.dentist_id and row.get("weekday") == weekday)

    def _paint_working_hours(self, painter: QPainter, column: Column, x: float, width: float, first: int,
                             per_minute: float) -> None:
        palette = self.palette()
        base = palette.color(QPalette.ColorRole.Base)
        intervals = self._working_intervals(column)
        for start, end in intervals:
            top = self._y_of(self._clock.at(column.day, start), first, per_minute, column.day)
            bottom = self._y_of(self._clock.at(column.day, end), first, per_minute, column.day)
            painter.fillRect(QRectF(x + 1, top, width - 1, bottom - top), base)
        painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
        for (_s1, end), (start, _e2) in itertools.pairwise(intervals):
            top = self._y_of(self._clock.at(column.day, end), first, per_minute, column.day)
            bottom = self._y_of(self._clock.at(column.day, start), first, per_minute, column.day)
            if bottom - top >= 14:
                painter.drawText(QRectF(x, top, width, bottom - top), Qt.AlignmentFlag.AlignCenter, "Break")

    def _day_span(self, row: dict[str, Any], day: date, first: int, per_minute: float) -> tuple[float, float] | None:
        day_start, day_end = self._clock.day_bounds(day)
        start, end = self._clock.local(row["start"]), self._clock.local(row["end"])
        if end <= day_start or start >= day_end:
            return None
        top = self._y_of(max(start, day_start), first, per_minute, day)
        bottom = self._y_of(min(end, day_end - timedelta(microseconds=1)), first, per_minute, day)
        return max(top, self.header_height), min(bottom, self.height())

    def _paint_exceptions(self, painter: QPainter, column: Column, x: float, width: float, first: int,
                          per_minute: float) -> None:
        palette = self.palette()
        for row in self._store.rows("schedule_exception"):
            if column.by_chair and row.get("dentist_id") is not None:
                continue  # a dentist's day off does not close a chair
            if not column.by_chair and row.get("dentist_id") not in (None, column.dentist_id):
                continue
            span = self._day_span(row, column.day, first, per_minute)
            if span is None:
                continue
            rect = QRectF(x + 1, span[0], width - 1, span[1] - span[0])
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
            painter.drawText(rect.adjusted(4, 4, -4, -4),
                             Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignHCenter | Qt.TextFlag.TextWordWrap, label)

    def _paint_blockouts(self, painter: QPainter, column: Column, x: float, width: float, first: int,
                         per_minute: float) -> None:
        """Blockouts (meeting, lunch, emergency reserve…) of this column's dentist or chair, or the whole clinic."""
        for row in self._store.rows("blockout"):
            dentist_id, chair_id = row.get("dentist_id"), row.get("chair_id")
            if column.by_chair:
                applies = chair_id == column.chair_id if chair_id is not None else dentist_id is None
            else:
                applies = dentist_id == column.dentist_id if dentist_id is not None else chair_id is None
            if not applies or column.chair_id is None and column.by_chair:
                continue
            span = self._day_span(row, column.day, first, per_minute)
            if span is None:
                continue
            kind = self._store.get("blockout_type", row.get("type_id")) or {}
            label = kind.get("name") or "Blocked"
            if row.get("note"):
                label = f"{label}: {row['note']}"
            colour = QColor(kind.get("colour") or "#94a3b8")
            blocks.paint_blockout(painter, QRectF(x + 1, span[0], width - 1, span[1] - span[0]), colour, label,
                                  self.palette())

    def _fonts(self, painter: QPainter) -> tuple[Any, Any, QFontMetricsF, QFontMetricsF]:
        small = painter.font()
        small.setPointSizeF(max(7.0, small.pointSizeF() - 1))
        bold = painter.font()
        bold.setBold(True)
        return bold, small, QFontMetricsF(bold), QFontMetricsF(small)

    def _block_rect(self, row: dict[str, Any], column: int, first: int, column_width: float, per_minute: float) -> QRectF:
        day = self.columns()[column].day
        x = self.gutter + column * column_width
        top = self._y_of(self._clock.local(row["start"]), first, per_minute, day)
        bottom = self._y_of(self._clock.local(row["end"]), first, per_minute, day)
        return QRectF(x + 3, top + 1, column_width - 6, max(12.0, bottom - top - 2))

    def _paint_appointments(self, painter: QPainter, first: int, column_width: float, per_minute: float) -> None:
        palette = self.palette()
        self._blocks = []
        self._painted = {}
        index = self._column_index()
        fonts = self._fonts(painter)
        highlight = QPen(palette.color(QPalette.ColorRole.Highlight), 3)
        ratio = self.devicePixelRatioF()
        shown: set[int] = set()
        for row in self._shown_rows():
            if row.get("status") in _HIDDEN_STATUSES:
                continue
            column = index.get((self._day_of.get(row["id"]), row.get("chair_id") if self.by_chair else row.get("dentist_id")))  # type: ignore[arg-type]
            if column is None:
                continue
            geometry = (first, column_width, per_minute, column)
            stranded = row["id"] in self._stranded
            block = self._block_cache.get(row["id"])
            if block is None or block.row is not row or block.geometry != geometry or block.stranded != stranded:
                rect = self._block_rect(row, column, first, column_width, per_minute)
                block = self._block_cache[row["id"]] = blocks.lay_out_block(
                    row, rect, geometry, store=self._store, clock=self._clock, palette=palette, fonts=fonts,
                    stranded=stranded)
            shown.add(row["id"])
            blocks.paint_block(painter, block, ratio=ratio, selected=row["id"] == self.selected_id,
                               highlight=highlight, fonts=fonts, pinned=row["id"] in self.pinned_ids)
            self._blocks.append((block.rect, row["id"]))
            self._painted[row["id"]] = f"{block.title}\n{block.detail}" if block.detail else block.title
        for stale in self._block_cache.keys() - shown:  # moved away, cancelled, or another day's
            del self._block_cache[stale]

    def _paint_cursor(self, painter: QPainter, first: int, column_width: float, per_minute: float) -> None:
        """The keyboard's slot (when no appointment is selected): a dashed highlight."""
        if self.cursor_slot is None or self.selected_id:
            return
        column, minute = self.cursor_slot
        if column >= len(self.columns()):
            return
        x = self.gutter + column * column_width
        top = self._y_of_minute(minute, first, per_minute)
        rect = QRectF(x + 2, top, column_width - 4, self._slot_minutes() * per_minute)
        colour = self.palette().color(QPalette.ColorRole.Highlight)
        fill = QColor(colour)
        fill.setAlpha(40)
        painter.fillRect(rect, fill)
        painter.setPen(QPen(colour, 1.5, Qt.PenStyle.DashLine))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(rect)

    def _paint_drag(self, painter: QPainter) -> None:
        """The drag's target outline (green free, red not, with the reason), or a refused ghost gliding back."""
        if self._snap is not None:
            start, end, fill = self._snap
            t = self._snap_progress
            if end is None:
                rect, alpha = start, int(160 * (1 - t))
            else:
                rect = QRectF(start.left() + (end.left() - start.left()) * t, start.top() + (end.top() - start.top()) * t,
                              start.width() + (end.width() - start.width()) * t,
                              start.height() + (end.height() - start.height()) * t)
                alpha = 160
            ghost = QColor(fill)
            ghost.setAlpha(alpha)
            painter.setPen(QPen(REFUSED_COLOUR, 2))
            painter.setBrush(ghost)
            painter.drawRoundedRect(rect, 4, 4)
        if self._refusal_at is not None and self.last_refusal:
            self._paint_label(painter, self._refusal_at, f"✗ {self.last_refusal}", REFUSED_COLOUR)
        drag = self.drag
        if drag is None or drag.rect is None or drag.verdict is None:
            return
        colour = FREE_COLOUR if drag.verdict.free else REFUSED_COLOUR
        origin = self.block_rect(drag.appointment_id)
        if origin is not None:  # lifted: the block stays where it is booked, dimmed, until the server agrees
            painter.fillRect(origin, QColor(255, 255, 255, 140))
            painter.setPen(QPen(self.palette().color(QPalette.ColorRole.Mid), 1.5, Qt.PenStyle.DashLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(origin, 4, 4)
        fill = QColor(self._fill_of(drag.seen))
        fill.setAlpha(150 if not drag.pending else 90)
        painter.setBrush(fill)
        painter.setPen(QPen(colour, 3, Qt.PenStyle.DashLine if drag.pending else Qt.PenStyle.SolidLine))
        painter.drawRoundedRect(drag.rect, 4, 4)
        assert drag.proposal is not None
        when = f"{self._clock.format_time(drag.proposal.start)}–{self._clock.format_time(drag.proposal.end)}"
        font = painter.font()
        font.setBold(True)
        painter.save()
        painter.setFont(font)
        painter.setPen(blocks.text_colour_for(self._fill_of(drag.seen)))
        inner = drag.rect.adjusted(8, 2, -6, -2)
        title = QFontMetricsF(font).elidedText(f"{when} {drag.seen.get('patient_name') or ''}",
                                               Qt.TextElideMode.ElideRight, inner.width())
        painter.drawText(inner, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft, title)
        painter.restore()
        if drag.pending:
            text = f"Saving {when}…"
        else:
            text = ("✓ " if drag.verdict.free else "✗ ") + (drag.verdict.reason if not drag.verdict.free else
                                                            drag.verdict.reason.removeprefix("Free: "))
            if drag.verdict.note:
                text += f" — {drag.verdict.note}"
        self._paint_label(painter, drag.rect, text, colour)

    def _paint_label(self, painter: QPainter, anchor: QRectF, text: str, colour: QColor) -> None:
        """A small white tag under (or above) `anchor` with `text` in `colour`."""
        font = painter.font()
        font.setBold(True)
        metrics = QFontMetricsF(font)
        width = min(metrics.horizontalAdvance(text) + 14, max(120.0, self.width() - self.gutter - 8))
        height = metrics.height() + 8
        x = min(max(float(self.gutter), anchor.left()), self.width() - width - 2)
        y = anchor.bottom() + 4
        if y + height > self.height():
            y = anchor.top() - height - 4
        rect = QRectF(x, y, width, height)
        painter.save()
        painter.setFont(font)
        painter.setPen(QPen(colour, 1.5))
        painter.setBrush(QColor(255, 255, 255, 235))
        painter.drawRoundedRect(rect, 4, 4)
        painter.setPen(colour.darker(120))
        painter.drawText(rect.adjusted(7, 0, -7, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         metrics.elidedText(text, Qt.TextElideMode.ElideRight, rect.width() - 14))
        painter.restore()

    def _fill_of(self, row: dict[str, Any]) -> QColor:
        kind = self._store.get("appointment_type", row.get("type_id"))
        return QColor((kind or {}).get("colour") or "#9ca3af")

    # -- direct manipulation -----------------------------------------------------------------

    def drag_mode_at(self, point: QPointF) -> str:
        """"resize" on a block's bottom edge, "move" elsewhere on a block, "" off blocks."""
        for rect, _appointment_id in reversed(self._blocks):
            if rect.contains(point):
                return "resize" if rect.bottom() - point.y() <= _RESIZE_GRIP and rect.height() > 2 * _RESIZE_GRIP else "move"
        return ""

    def begin_drag(self, appointment_id: int, mode: str = "move", *, grab_minutes: float = 0.0,
                   external: bool = False) -> bool:
        """Start dragging an appointment (mouse, pinboard, tests and screenshots); False when it cannot move."""
        row = self._store.get("appointment", appointment_id)
        if row is None or row.get("busy") or not self.editable:
            return False
        self._clear_refusal()
        if not external:
            self.select(appointment_id)
        self.drag = DragState(appointment_id=appointment_id, seen=row, mode=mode, grab_minutes=grab_minutes,
                              origin=None if external else self.block_rect(appointment_id), external=external)
        return True

    def drag_to(self, point: QPointF | QPoint) -> Verdict | None:
        """Move the drag's pointer to `point` (widget coordinates); returns the target's verdict (None: off the grid)."""
        drag = self.drag
        if drag is None or drag.pending:
            return None
        point = QPointF(point)  # a QPoint from a caller is fine too
        drag.point = point
        first, _last, column_width, per_minute = self._geometry()
        proposal = self._proposal_at(drag, point, first, column_width, per_minute)
        if proposal is None:
            drag.proposal = drag.verdict = drag.rect = None
        elif proposal != drag.proposal:
            drag.proposal = proposal
            drag.verdict = self.check(drag.seen, proposal)
            column = self._target_column(drag, point, column_width)
            assert column is not None
            x = self.gutter + column * column_width
            day = self.columns()[column].day
            top = self._y_of(proposal.start, first, per_minute, day)
            bottom = self._y_of(proposal.end, first, per_minute, day)
            drag.rect = QRectF(x + 3, top + 1, column_width - 6, max(12.0, bottom - top - 2))
        self.update()
        return drag.verdict

    def check(self, row: dict[str, Any], proposal: Proposal) -> Verdict:
        """The local verdict on moving `row` to `proposal` (the undo runs through it too)."""
        others = self.appointments_on(self._clock.local_date(proposal.start))
        return check_drop(self._store, self._clock, row, proposal, others=others, now=self._clock.now())

    def _target_column(self, drag: DragState, point: QPointF, column_width: float) -> int | None:
        if drag.mode == "resize":
            return self.column_of_row(drag.seen)
        return self._column_at(point.x(), column_width)

    def _proposal_at(self, drag: DragState, point: QPointF, first: int, column_width: float,
                     per_minute: float) -> Proposal | None:
        if not self.rect().contains(point.toPoint()):
            return None
        column_index = self._target_column(drag, point, column_width)
        if column_index is None:
            return None
        column = self.columns()[column_index]
        row = drag.seen
        slot = self._slot_minutes()
        start, end = parse_instant(row["start"]), parse_instant(row["end"])
        length = max(slot, int((end - start).total_seconds() // 60))
        if drag.mode == "resize":
            start_minute = self._clock.local(start).hour * 60 + self._clock.local(start).minute
            end_minute = round(self._minute_at(point.y(), first, per_minute) / slot) * slot
            end_minute = min(max(end_minute, start_minute + slot), 24 * 60)
            return Proposal(row["id"], start, start + timedelta(minutes=end_minute - start_minute), row["dentist_id"],
                            row.get("chair_id"))
        minute = self._minute_at(point.y(), first, per_minute) - drag.grab_minutes
        minute = int(min(max(round(minute / slot) * slot, 0), 24 * 60 - length))
        new_start = self._clock.at(column.day, f"{minute // 60:02d}:{minute % 60:02d}")
        dentist_id = row["dentist_id"] if column.by_chair else column.dentist_id
        chair_id = column.chair_id if column.by_chair else row.get("chair_id")
        if column.by_chair and chair_id is None:
            chair_id = row.get("chair_id")  # the "No chair" column keeps whatever chair it has (none)
        return Proposal(row["id"], new_start, new_start + timedelta(minutes=length), int(dentist_id or 0), chair_id)

    def drop(self) -> Verdict | None:
        """Let go: a free target asks the owner to save it; a taken one snaps back with the reason."""
        drag = self.drag
        if drag is None or drag.pending:
            return None
        if drag.proposal is None or drag.verdict is None:  # off the grid: perhaps onto the pinboard
            self.drag = None
            point = drag.point or QPointF(-1, -1)
            self.released_outside.emit(drag.appointment_id, self.mapToGlobal(point.toPoint()))
            self.update()
            return None
        verdict = drag.verdict
        if not verdict.free:
            self._refuse(drag, verdict.reason)
            self.drop_refused.emit(verdict.reason)
            return verdict
        changes = changes_for(drag.seen, drag.proposal)
        if not changes:  # back where it was
            self.drag = None
            self.update()
            return verdict
        drag.pending = True
        self.update()
        when = self._clock.format_when(drag.proposal.start)
        who = drag.seen.get("patient_name") or "Appointment"
        words = f"{who}: now {when}" if drag.mode == "move" else \
            f"{who}: now {changes.get('duration_minutes')} minutes"
        self.move_requested.emit(drag.seen, changes, words)
        return verdict

    def finish_drop(self, saved: bool, reason: str = "") -> None:
        """The server answered the drop: saved (the block moves with the store), or refused: glide back, say why."""
        drag = self.drag
        if drag is None:
            return
        if saved:
            self.drag = None
            self.update()
        else:
            self._refuse(drag, reason)

    def cancel_drag(self) -> None:
        if self.drag is not None and not self.drag.pending:
            self.drag = None
            self.update()

    def snapping_back(self) -> bool:
        """True while a refused drop's ghost glides back (tests wait for it)."""
        return self._snap is not None

    def _refuse(self, drag: DragState, reason: str) -> None:
        self.drag = None
        if drag.rect is not None:
            self._snap = (QRectF(drag.rect), self.block_rect(drag.appointment_id), self._fill_of(drag.seen))
            self._snap_progress = 0.0
            self._snap_animation.stop()
            self._snap_animation.start()
        if reason:
            self.last_refusal = reason
            self._refusal_at = self.block_rect(drag.appointment_id) or drag.rect
            self._refusal_timer.start()
        self.update()

    def _clear_refusal(self) -> None:
        self._refusal_at = None
        self._refusal_timer.stop()

    def _on_snap_animation_value_changed(self, value: object) -> None:
        self._snap_progress = float(value)  # type: ignore[arg-type]
        self.update()

    def _on_snap_animation_finished(self) -> None:
        self._snap = None
        self.update()

    def _on_refusal_timer_timeout(self) -> None:
        self._refusal_at = None
        self.update()

    # -- mouse -------------------------------------------------------------------------------

    def appointment_at(self, point: QPoint) -> int:
        for rect, appointment_id in reversed(self._blocks):
            if rect.contains(point.toPointF()):
                return appointment_id
        return 0

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            point = event.position()
            self.select(self.appointment_at(point.toPoint()))
            self.appointment_selected.emit(self.selected_id)
            if not self.selected_id:
                self.cursor_slot = self._slot_at(point)
            mode = self.drag_mode_at(point)
            self._press = (QPointF(point), self.selected_id, mode) if self.editable and self.selected_id else None
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        point = event.position()
        if self._press is not None and self.drag is None:
            start, appointment_id, mode = self._press
            if (point - start).manhattanLength() >= QApplication.startDragDistance():
                rect = self.block_rect(appointment_id)
                _first, _last, _width, per_minute = self._geometry()
                grab = 0.0 if rect is None else (start.y() - rect.top() - 1) / max(per_minute, 1e-6)
                if self.begin_drag(appointment_id, mode, grab_minutes=grab):
                    self.setCursor(Qt.CursorShape.SizeVerCursor if mode == "resize" else Qt.CursorShape.ClosedHandCursor)
        if self.drag is not None and not self.drag.external:
            self.drag_to(point)
        elif self.editable:
            mode = self.drag_mode_at(point)
            self.setCursor({"resize": Qt.CursorShape.SizeVerCursor, "move": Qt.CursorShape.OpenHandCursor}.get(
                mode, Qt.CursorShape.ArrowCursor))
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = None
            if self.drag is not None and not self.drag.external and not self.drag.pending:
                self.drag_to(event.position())
                self.drop()
            self.unsetCursor()
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        point = event.position().toPoint()
        if self.appointment_at(point):
            return
        slot = self._slot_at(event.position())
        if slot is not None:
            self._request_slot(*slot)

    def _slot_at(self, point: QPointF) -> tuple[int, int] | None:
        """The (column, minute of day) of the slot under `point`, down to the clinic's slot grid."""
        first, _last, column_width, per_minute = self._geometry()
        column = self._column_at(point.x(), column_width)
        if column is None or point.y() < self.header_height:
            return None
        slot = self._slot_minutes()
        minute = int(self._minute_at(point.y(), first, per_minute) // slot * slot)
        return (column, minute) if 0 <= minute < 24 * 60 else None

    def _request_slot(self, column_index: int, minute: int) -> None:
        column = self.columns()[column_index]
        moment = self._clock.at(column.day, f"{minute // 60:02d}:{minute % 60:02d}")
        self.slot_requested.emit(0 if column.by_chair else int(column.dentist_id or 0), moment)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        appointment_id = self.appointment_at(event.pos())
        if appointment_id:
            self.select(appointment_id)
            self.appointment_selected.emit(appointment_id)
            self.context_menu_requested.emit(appointment_id, event.globalPos())

    # -- keyboard ----------------------------------------------------------------------------

    def _cursor(self) -> tuple[int, int] | None:
        """Where the keyboard is: the selected block's column and start, or the slot cursor."""
        if self.selected_id:
            row = self._store.get("appointment", self.selected_id)
            column = self.column_of_row(row) if row is not None else None
            if row is not None and column is not None:
                local = self._clock.local(row["start"])
                return column, local.hour * 60 + local.minute
        if self.cursor_slot is not None:
            return self.cursor_slot
        if not self.columns():
            return None
        first, _last = self._hours()
        return 0, max(first * 60, 8 * 60) - self._slot_minutes()

    def _block_covering(self, column: int, minute: int) -> dict[str, Any] | None:
        index = self._column_index()
        col = self.columns()[column]
        moment = self._clock.at(col.day, f"{minute // 60:02d}:{minute % 60:02d}")
        for row in self.appointments_on(col.day):
            if row.get("status") in _HIDDEN_STATUSES:
                continue
            key = (col.day, row.get("chair_id") if self.by_chair else row.get("dentist_id"))
            if index.get(key) != column:  # type: ignore[arg-type]
                continue
            if parse_instant(row["start"]) <= moment < parse_instant(row["end"]):
                return row
        return None

    def move_cursor(self, columns: int, slots: int) -> None:
        """Arrow keys: to the next slot or block up/down, or the next column left/right."""
        cursor = self._cursor()
        if cursor is None:
            return
        column, minute = cursor
        slot = self._slot_minutes()
        if slots > 0 and self.selected_id:  # from a block, down goes to just after it
            row = self._store.get("appointment", self.selected_id)
            if row is not None:
                end = self._clock.local(row["end"])
                minute = end.hour * 60 + end.minute - slot if end.date() == self._clock.local_date(row["start"]) else minute
        column = min(max(column + columns, 0), len(self.columns()) - 1)
        minute = min(max(minute + slots * slot, 0), 24 * 60 - slot)
        row = self._block_covering(column, minute)
        if row is not None:
            self.select(row["id"])
        else:
            self.selected_id = 0
            self.cursor_slot = (column, minute)
            self.update()
        self.appointment_selected.emit(self.selected_id)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        moves = {Qt.Key.Key_Up: (0, -1), Qt.Key.Key_Down: (0, 1), Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0)}
        if key in moves and not event.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier):
            self.move_cursor(*moves[key])
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if self.selected_id:
                self.open_requested.emit(self.selected_id)
            elif self.cursor_slot is not None:
                self._request_slot(*self.cursor_slot)
        elif key == Qt.Key.Key_Delete and self.selected_id and self.editable:
            self.cancel_requested.emit(self.selected_id)
        elif key == Qt.Key.Key_Escape and self.drag is not None:
            self.cancel_drag()
        else:
            super().keyPressEvent(event)

    def focusInEvent(self, event: QFocusEvent) -> None:
        if not self.selected_id and self.cursor_slot is None:
            self.cursor_slot = self._cursor()
        self.update()
        super().focusInEvent(event)

    @staticmethod
    def movable(row: dict[str, Any] | None) -> bool:
        return row is not None and not row.get("busy") and row.get("status") in MOVABLE
