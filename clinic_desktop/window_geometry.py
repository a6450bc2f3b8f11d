"""Windows that fit the screen they are on: sized and placed inside its available geometry.

Sizes are in Qt's device-independent pixels, so at 150 % scaling a 1600x1000 screen offers 1067x667
and a window asked to be 1280x800 is shrunk to fit rather than hanging off the edge.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QRect, QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

__all__ = ["available_geometry", "fit_to_screen"]

# Room for the title bar and frame that the window manager adds around the client area.
_DECORATION = QSize(16, 40)


def available_geometry(window: QWidget) -> QRect:
    """The usable area (without task bars and docks) of the screen the window is on."""
    screen = window.screen() or QGuiApplication.primaryScreen()
    return screen.availableGeometry()


def fit_to_screen(window: QWidget, preferred: QSize, saved: QByteArray | None = None) -> None:
    """Restore `saved` geometry or take `preferred`, then shrink and move the window inside the screen.

    Only the start is fitted here; that the content never widens the window afterwards is up to the
    widgets (long labels elide or wrap rather than raise their minimum width, see ChatPanel).
    """
    area = available_geometry(window)
    room = QSize(max(200, area.width() - _DECORATION.width()), max(200, area.height() - _DECORATION.height()))
    if saved is not None and not saved.isEmpty() and window.restoreGeometry(saved):
        size = window.size()
    else:
        size = preferred
    size = size.boundedTo(room)
    window.resize(size)
    frame = QRect(window.pos(), size)
    if not area.contains(frame):
        frame.moveCenter(area.center())
        frame.moveTopLeft(frame.topLeft().expandedTo(area.topLeft()))
        window.move(frame.topLeft())
