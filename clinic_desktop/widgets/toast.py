"""A short message floating over the bottom right of a window, gone after a few seconds."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel, QWidget

__all__ = ["Toast"]


class Toast(QLabel):
    """Informs without stealing focus; an error toast uses the palette's highlight for contrast."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("toast")
        self.setWordWrap(True)
        self.setMaximumWidth(420)
        self.setMargin(12)
        self.setAutoFillBackground(True)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        parent.installEventFilter(self)
        self.hide()

    def show_message(self, text: str, *, error: bool = False, seconds: float = 4.0) -> None:
        palette = self.palette()
        parent = self.parentWidget()
        window = parent.palette() if parent is not None else palette
        if error:
            palette.setColor(QPalette.ColorRole.Window, window.color(QPalette.ColorRole.Highlight))
            palette.setColor(QPalette.ColorRole.WindowText, window.color(QPalette.ColorRole.HighlightedText))
        else:
            palette.setColor(QPalette.ColorRole.Window, window.color(QPalette.ColorRole.ToolTipBase))
            palette.setColor(QPalette.ColorRole.WindowText, window.color(QPalette.ColorRole.ToolTipText))
        self.setPalette(palette)
        self.setFrameShape(QLabel.Shape.Box)
        self.setText(text)
        self.adjustSize()
        self._place()
        self.show()
        self.raise_()
        self._timer.start(int(seconds * 1000))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.parentWidget() and event.type() == QEvent.Type.Resize and self.isVisible():
            self._place()
        return False

    def _place(self) -> None:
        parent = self.parentWidget()
        if parent is None:
            return
        margin = 16
        self.move(parent.width() - self.width() - margin, parent.height() - self.height() - margin - 28)
