"""A short message floating over the bottom right of a window, gone after a few seconds."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QLabel, QWidget

from .error_label import ERROR_BACKGROUND, ERROR_TEXT

__all__ = ["Toast"]

# News from other people's changes shows at most once per interval; what arrives in between is
# folded into one "… and N more" message when the interval ends (1,000 events must not be 1,000 toasts).
NEWS_INTERVAL_MS = 1000


class Toast(QLabel):
    """Informs without stealing focus; an error toast is dark red on pale red, like every error in the app."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("toast")
        self.setWordWrap(True)
        self.setMaximumWidth(420)
        self.setMargin(12)
        self.setAutoFillBackground(True)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setFrameShape(QLabel.Shape.Box)
        self.last_text = ""  # the message shown last (tests, diagnostics)
        self.last_error = False  # whether it was shown as an error (tests)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        # News held back while a message is fresh: folded into one message when `_news_timer` fires.
        self._pending_news: list[str] = []
        self._news_timer = QTimer(self)
        self._news_timer.setSingleShot(True)
        self._news_timer.timeout.connect(self._on_news_timer_timeout)
        parent.installEventFilter(self)
        self.hide()

    def show_message(self, text: str, *, error: bool = False, seconds: float = 4.0) -> None:
        """Show `text` now (the user's own action, e.g. a failure); news waits until it has been read."""
        self._set_colours(error)
        self.last_text = text
        self.last_error = error
        self.setText(text)
        self.adjustSize()
        self._place()
        self.show()
        self.raise_()
        self._timer.start(int(seconds * 1000))
        # An error stays up for its whole time; news arriving meanwhile waits, then shows as one.
        self._news_timer.start(int(seconds * 1000) if error else NEWS_INTERVAL_MS)

    def show_news(self, text: str, *, seconds: float = 4.0) -> None:
        """Show news of someone else's change: at once if none was shown lately, else folded in later."""
        if self._news_timer.isActive():
            self._pending_news.append(text)
            return
        self.show_message(text, seconds=seconds)

    def pending_news(self) -> int:
        """How many news messages wait to be folded into the next one (tests)."""
        return len(self._pending_news)

    def _on_news_timer_timeout(self) -> None:
        if not self._pending_news:
            return
        news, self._pending_news = self._pending_news, []
        text = news[-1] if len(news) == 1 else f"{news[-1]}\n… and {len(news) - 1} more changes"
        self.show_message(text)

    def _set_colours(self, error: bool) -> None:
        palette = self.palette()
        parent = self.parentWidget()
        window = parent.palette() if parent is not None else palette
        if error:
            palette.setColor(QPalette.ColorRole.Window, QColor(ERROR_BACKGROUND))
            palette.setColor(QPalette.ColorRole.WindowText, QColor(ERROR_TEXT))
        else:
            palette.setColor(QPalette.ColorRole.Window, window.color(QPalette.ColorRole.ToolTipBase))
            palette.setColor(QPalette.ColorRole.WindowText, window.color(QPalette.ColorRole.ToolTipText))
        self.setPalette(palette)

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
