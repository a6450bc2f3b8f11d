"""The banner that says writes are disabled while the connection is down."""

from __future__ import annotations

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel, QWidget

__all__ = ["OfflineBanner"]

_TEXT = {
    "reconnecting": "Connection to the clinic server lost — reconnecting. Changes are disabled until it is back; "
    "nothing is being saved or queued.",
    "offline": "Offline — not connected to the clinic server. Changes are disabled; nothing is being saved or queued.",
}


class OfflineBanner(QLabel):
    """Hidden while connected; otherwise a full-width strip in the palette's highlight colours."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("offlineBanner")
        self.setWordWrap(True)
        self.setMargin(8)
        self.setAutoFillBackground(True)
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Window, palette.color(QPalette.ColorRole.Highlight))
        palette.setColor(QPalette.ColorRole.WindowText, palette.color(QPalette.ColorRole.HighlightedText))
        self.setPalette(palette)
        font = self.font()
        font.setBold(True)
        self.setFont(font)
        self.hide()

    def set_state(self, state: str) -> None:
        text = _TEXT.get(state)
        if text is None:
            self.hide()
        else:
            self.setText(text)
            self.show()
