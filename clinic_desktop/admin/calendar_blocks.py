"""How one appointment or blockout looks on the schedule, shared by the day and week views and the legend.

A block is coloured by its appointment type (the type's configurable colour) and says its status at a
glance twice: a stripe down its left edge and a round badge in its top-right corner, each in the
status's colour, the badge with an icon drawn as lines (no font glyph that a platform may lack).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPixmap,
)

from ..clinic_clock import ClinicClock
from ..messages import STATUS_LABELS
from ..store import EntityStore

__all__ = [
    "STATUS_COLOURS",
    "STATUS_LEGEND_LABELS",
    "STATUS_ORDER",
    "STRANDED_COLOUR",
    "Block",
    "draw_shape",
    "lay_out_block",
    "paint_block",
    "paint_blockout",
    "paint_status_badge",
    "status_badge_pixmap",
    "text_colour_for",
]

# The statuses a block can show, in the order a day runs (the legend lists them so).
STATUS_ORDER = ("scheduled", "confirmed", "checked_in", "in_chair", "completed", "no_show")
# One colour per status, distinct from each other and readable on any type colour (they sit in a badge).
STATUS_COLOURS: dict[str, QColor] = {
    "scheduled": QColor("#d97706"),  # amber: not yet confirmed, someone should call
    "confirmed": QColor("#16a34a"),  # green: the patient said yes
    "checked_in": QColor("#2563eb"),  # blue: arrived, in the waiting room
    "in_chair": QColor("#7c3aed"),  # violet: being treated now
    "completed": QColor("#475569"),  # slate: done
    "no_show": QColor("#dc2626"),  # red: did not come
}
# What the legend and tooltips call the statuses (the front desk's words: "arrived" is "checked in").
STATUS_LEGEND_LABELS = {**STATUS_LABELS, "scheduled": "Unconfirmed", "checked_in": "Arrived"}
STRANDED_COLOUR = QColor(200, 30, 30)  # the outline and words of an appointment that needs rebooking
_STRIPE = 4.0  # px: the status stripe down a block's left edge
_BADGE = 7.0  # px: the radius of the status badge
_TOP_LEFT = Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft


def text_colour_for(background: QColor) -> QColor:
    luminance = 0.299 * background.red() + 0.587 * background.green() + 0.114 * background.blue()
    return QColor(20, 20, 20) if luminance > 150 else QColor(250, 250, 250)


@dataclass(slots=True)
class Block:
    """One appointment's block as laid out and worded for a paint; reused while nothing it shows changes."""

    row: dict[str, Any]  # the store row it was made from (the store swaps the dict on every change)
    geometry: tuple[Any, ...]  # what its place was computed from (first hour, widths, column)
    rect: QRectF
    fill: QColor
    text_colour: QColor
    inner: QRectF
    title: str  # already elided to the block's width
    detail: str
    detail_rect: QRectF
    stranded: bool  # outside the dentist's working time now: outlined and worded "needs rebooking"
    status: str
    # The block's antialiased shape (rounded rect, hatching, ring, stripe, badge) drawn once into a
    # pixmap: drawRoundedRect was a third of every paint. Text stays live, drawn over it.
    shape: QPixmap | None = None
    shape_origin: QPointF | None = None
    shape_ratio: float = 0.0


def lay_out_block(row: dict[str, Any], rect: QRectF, geometry: tuple[Any, ...], *, store: EntityStore,
                  clock: ClinicClock, palette: QPalette, fonts: tuple[QFont, QFont, QFontMetricsF, QFontMetricsF],
                  stranded: bool) -> Block:
    """A block's colours and its words elided to fit `rect`: the costly part of a paint."""
    _bold, _small, bold_metrics, small_metrics = fonts
    busy = bool(row.get("busy"))
    appointment_type = store.get("appointment_type", row.get("type_id"))
    if busy or appointment_type is None:
        fill = QColor(palette.color(QPalette.ColorRole.Mid))
    else:
        fill = QColor(appointment_type.get("colour") or "#9ca3af")
    status = str(row.get("status") or "")
    if status in ("completed", "no_show"):
        fill.setAlpha(120)
    text_colour = text_colour_for(fill) if fill.alpha() == 255 else palette.color(QPalette.ColorRole.WindowText)
    when = f"{clock.format_time(row['start'])}–{clock.format_time(row['end'])}"
    badge_room = 0.0 if busy else 2 * _BADGE + 2
    inner = rect.adjusted(_STRIPE + 4, 2, -4, -2)
    title_width = max(0.0, inner.width() - badge_room)
    two_lines = inner.height() >= bold_metrics.height() + small_metrics.height() - 2
    status_text = STATUS_LABELS.get(status, status)
    if stranded:
        status_text = "⚠ needs rebooking"
    narrow = title_width < bold_metrics.horizontalAdvance("00:00–00:00 Patient")
    if busy:
        title, detail = f"{when} Busy", ""
    else:
        name = row.get("patient_name") or (store.get("patient", row.get("patient_id")) or {}).get("name", "")
        type_name = appointment_type["name"] if appointment_type else ""
        if narrow and two_lines:  # a week's narrow column: who first, then when and what (the badge says the status)
            title, detail = name, f"{clock.format_time(row['start'])} {type_name} · {status_text}"
        elif two_lines:
            title, detail = f"{when} {name}", f"{type_name} · {status_text}"
        else:  # too short for two lines: keep the status visible on the one line
            title, detail = f"{when} {name} · {status_text}", ""
    return Block(
        row=row, geometry=geometry, rect=rect, fill=fill, text_colour=text_colour, inner=inner,
        title=bold_metrics.elidedText(title, Qt.TextElideMode.ElideRight, title_width),
        detail=small_metrics.elidedText(detail, Qt.TextElideMode.ElideRight, inner.width()) if detail else "",
        detail_rect=inner.adjusted(0, bold_metrics.height(), 0, 0), stranded=stranded,
        status="busy" if busy else status,
    )


def draw_shape(block: Block, ratio: float) -> None:
    """Draw the block's shape into its pixmap, aligned to the device pixels it will land on."""
    rect, fill, status = block.rect, block.fill, block.status
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
    colour = STRANDED_COLOUR if block.stranded else STATUS_COLOURS.get(status)
    if colour is not None:
        stripe = QPainterPath()
        stripe.addRoundedRect(QRectF(rect.left(), rect.top(), _STRIPE + 3, rect.height()), 4, 4)
        clip = QPainterPath()
        clip.addRect(QRectF(rect.left(), rect.top(), _STRIPE, rect.height()))
        painter.fillPath(stripe.intersected(clip), colour)
    if status in STATUS_COLOURS and rect.height() >= 2 * _BADGE and rect.width() >= 4 * _BADGE:
        centre = QPointF(rect.right() - _BADGE - 2, rect.top() + _BADGE + 2)
        paint_status_badge(painter, status, centre, _BADGE)
    painter.end()
    block.shape, block.shape_origin, block.shape_ratio = pixmap, origin, ratio


def paint_status_badge(painter: QPainter, status: str, centre: QPointF, radius: float) -> None:
    """A round badge in the status's colour with its icon: ? unconfirmed, ✓ confirmed, → arrived,
    a seated dot in chair, ✓✓ completed, ✗ no-show."""
    colour = STATUS_COLOURS.get(status)
    if colour is None:
        return
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(QColor(255, 255, 255), 1.2))
    painter.setBrush(colour)
    painter.drawEllipse(centre, radius, radius)
    r = radius
    x, y = centre.x(), centre.y()
    pen = QPen(QColor(255, 255, 255), max(1.4, r / 4.5), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
               Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    if status == "scheduled":  # a question mark
        path = QPainterPath(QPointF(x - r * 0.35, y - r * 0.25))
        path.cubicTo(QPointF(x - r * 0.35, y - r * 0.75), QPointF(x + r * 0.4, y - r * 0.75),
                     QPointF(x + r * 0.35, y - r * 0.25))
        path.cubicTo(QPointF(x + r * 0.3, y + r * 0.05), QPointF(x, y), QPointF(x, y + r * 0.2))
        painter.drawPath(path)
        painter.drawPoint(QPointF(x, y + r * 0.55))
    elif status == "confirmed":  # a tick
        painter.drawPolyline([QPointF(x - r * 0.45, y), QPointF(x - r * 0.1, y + r * 0.35),
                              QPointF(x + r * 0.5, y - r * 0.35)])
    elif status == "checked_in":  # an arrow in
        painter.drawLine(QPointF(x - r * 0.5, y), QPointF(x + r * 0.45, y))
        painter.drawPolyline([QPointF(x + r * 0.05, y - r * 0.4), QPointF(x + r * 0.45, y),
                              QPointF(x + r * 0.05, y + r * 0.4)])
    elif status == "in_chair":  # a filled dot: someone is seated
        painter.setBrush(QColor(255, 255, 255))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawEllipse(centre, r * 0.4, r * 0.4)
    elif status == "completed":  # two ticks
        for dx in (-0.2, 0.2):
            painter.drawPolyline([QPointF(x + (dx - 0.35) * r, y), QPointF(x + (dx - 0.1) * r, y + r * 0.3),
                                  QPointF(x + (dx + 0.3) * r, y - r * 0.3)])
    elif status == "no_show":  # a cross
        d = r * 0.38
        painter.drawLine(QPointF(x - d, y - d), QPointF(x + d, y + d))
        painter.drawLine(QPointF(x - d, y + d), QPointF(x + d, y - d))
    painter.restore()


def status_badge_pixmap(status: str, size: int = 16, ratio: float = 1.0) -> QPixmap:
    """The status badge alone, for the legend."""
    pixmap = QPixmap(max(1, round(size * ratio)), max(1, round(size * ratio)))
    pixmap.setDevicePixelRatio(ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    paint_status_badge(painter, status, QPointF(size / 2, size / 2), size / 2 - 1)
    painter.end()
    return pixmap


def paint_block(painter: QPainter, block: Block, *, ratio: float, selected: bool, highlight: QPen,
                fonts: tuple[QFont, QFont, QFontMetricsF, QFontMetricsF], pinned: bool = False) -> None:
    """Draw a laid-out block: its cached shape, selection and warning frames, then its words."""
    bold, small, _bold_metrics, _small_metrics = fonts
    rect = block.rect
    if block.shape is None or block.shape_ratio != ratio:
        draw_shape(block, ratio)
    painter.drawPixmap(block.shape_origin, block.shape)
    if pinned:  # parked on the pinboard: still booked here, but about to move
        painter.setPen(QPen(QColor(30, 30, 30), 1.5, Qt.PenStyle.DotLine))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(rect.adjusted(1.5, 1.5, -1.5, -1.5), 4, 4)
    if selected:
        painter.setPen(highlight)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(rect.adjusted(-1, -1, 1, 1), 5, 5)
    if block.stranded:  # a dashed red frame around it (the stripe is red too)
        painter.setPen(QPen(STRANDED_COLOUR, 2.5, Qt.PenStyle.DashLine))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(rect.adjusted(-3, -3, 3, 3), 6, 6)
    painter.setPen(block.text_colour)
    painter.setFont(bold)
    painter.drawText(block.inner, _TOP_LEFT, block.title)
    if block.detail:
        painter.setFont(small)
        painter.drawText(block.detail_rect, _TOP_LEFT, block.detail)


def paint_blockout(painter: QPainter, rect: QRectF, colour: QColor, label: str, palette: QPalette) -> None:
    """A blockout: hatched in its type's colour, framed, labelled (meeting, lunch, emergency reserve…)."""
    tint = QColor(colour)
    tint.setAlpha(60)
    painter.fillRect(rect, tint)
    hatch = QColor(colour)
    hatch.setAlpha(150)
    painter.fillRect(rect, QBrush(hatch, Qt.BrushStyle.BDiagPattern))
    painter.setPen(QPen(colour.darker(130), 1))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawRect(rect.adjusted(0.5, 0.5, -0.5, -0.5))
    if rect.height() >= 12:
        painter.setPen(palette.color(QPalette.ColorRole.WindowText))
        font = QFont(painter.font())
        font.setItalic(True)
        painter.save()
        painter.setFont(font)
        metrics = QFontMetricsF(font)
        text = metrics.elidedText(label, Qt.TextElideMode.ElideRight, max(0.0, rect.width() - 8))
        painter.drawText(rect.adjusted(4, 2, -4, -2), Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft, text)
        painter.restore()
