"""A week calendar: Monday to Saturday side by side, each day split per dentist or per chair."""

from __future__ import annotations

from datetime import date, timedelta

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QPainter, QPalette, QPen

from .calendar_grid import CalendarGrid, Column

__all__ = ["WEEK_DAYS", "WeekCalendarView"]

WEEK_DAYS = 6  # Monday to Saturday: the days a clinic may open


class WeekCalendarView(CalendarGrid):
    """The week of `day`: the same blocks, drag, keys and live updates as the day view, six days wide."""

    header_height = 46  # the day over the dentists' or chairs' names

    def shown_days(self) -> list[date]:
        # A Sunday shows the week it starts (the clinic's next working days), not the one it ends.
        monday = self.day + timedelta(days=1) if self.day.weekday() == 6 else self.day - timedelta(days=self.day.weekday())
        return [monday + timedelta(days=offset) for offset in range(WEEK_DAYS)]

    def _paint_headers(self, painter: QPainter, columns: list[Column], column_width: float) -> None:
        palette = self.palette()
        grid = palette.color(QPalette.ColorRole.Mid)
        today = self._clock.today()
        bold = painter.font()
        bold.setBold(True)
        small = painter.font()
        small.setPointSizeF(max(7.0, small.pointSizeF() - 1))
        small_metrics = QFontMetricsF(small)
        day_row = 24.0
        per_day = max(1, sum(1 for column in columns if column.day == columns[0].day)) if columns else 1
        for index, column in enumerate(columns):
            x = self.gutter + index * column_width
            painter.setPen(QPen(grid, 2 if column.first_of_day else 1))
            painter.drawLine(int(x), 0 if column.first_of_day else int(day_row), int(x), self.height())
            if column.first_of_day:
                button = palette.color(QPalette.ColorRole.Highlight if column.day == today else QPalette.ColorRole.Button)
                painter.fillRect(QRectF(x + 1, 0, column_width * per_day - 1, day_row), button)
                painter.setPen(palette.color(QPalette.ColorRole.HighlightedText if column.day == today
                                             else QPalette.ColorRole.ButtonText))
                painter.save()
                painter.setFont(bold)
                label = column.day.strftime("%a %d %b") + ("  (today)" if column.day == today else "")
                painter.drawText(QRectF(x + 4, 0, column_width * per_day - 8, day_row), Qt.AlignmentFlag.AlignCenter, label)
                painter.restore()
            sub = QColor(palette.color(QPalette.ColorRole.Button))
            painter.fillRect(QRectF(x + 1, day_row, column_width - 1, self.header_height - day_row), sub.darker(104))
            painter.setPen(palette.color(QPalette.ColorRole.ButtonText))
            painter.save()
            painter.setFont(small)
            title = small_metrics.elidedText(column.title, Qt.TextElideMode.ElideRight, column_width - 6)
            painter.drawText(QRectF(x + 3, day_row, column_width - 6, self.header_height - day_row),
                             Qt.AlignmentFlag.AlignCenter, title)
            painter.restore()
        painter.setPen(QPen(grid, 1))
        painter.drawLine(self.gutter, int(day_row), self.width(), int(day_row))
