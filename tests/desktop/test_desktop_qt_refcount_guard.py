"""Long sessions survive PySide6's reference-count slip on None/True/False (Python 3.11)."""

from __future__ import annotations

import sys

from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import QLabel

import clinic_desktop  # noqa: F401 - importing the package installs the guard


def test_a_day_of_painting_does_not_exhaust_none(qtbot) -> None:
    """200,000 void Qt calls (a day of calendar repaints) leave None and the booleans far from zero."""
    label = QLabel()
    qtbot.addWidget(label)
    pixmap = QPixmap(20, 20)
    painter = QPainter(pixmap)
    for _ in range(100_000):
        painter.setPen(QColor(10, 20, 30))
        label.setEnabled(True)
    painter.end()
    if sys.version_info < (3, 12):
        for singleton in (None, True, False):
            assert sys.getrefcount(singleton) > 1 << 40
