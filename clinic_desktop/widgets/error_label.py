"""A message line that looks like an error (red, not the palette's highlight) and is never clipped."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QDialog, QLabel, QWidget

__all__ = ["ERROR_BACKGROUND", "ERROR_BORDER", "ERROR_TEXT", "ErrorLabel"]

# One error look for the whole app: dark red on a pale red ground reads as "something is wrong" on
# light and dark palettes alike; the palette's highlight (often blue) reads as "selected".
ERROR_TEXT = "#8c1d18"
ERROR_BACKGROUND = "#fdecea"
ERROR_BORDER = "#e6a29c"


class ErrorLabel(QLabel):
    """Hidden while empty; shown as an error box when text is set, and its dialog grows to show all of it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorLabel")
        self.setWordWrap(True)
        self.setStyleSheet(f"QLabel#errorLabel {{ color: {ERROR_TEXT}; background: {ERROR_BACKGROUND}; "
                           f"border: 1px solid {ERROR_BORDER}; border-radius: 4px; padding: 6px 8px; }}")
        self.hide()

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setVisible(bool(text))
        if text:
            QTimer.singleShot(0, self._fit_dialog)

    def clear(self) -> None:
        super().clear()
        self.hide()

    def is_clipped(self) -> bool:
        """Whether the text needs more height than the label has (tests: "a dialog that fits the text")."""
        return self.isVisible() and self.heightForWidth(self.width()) > self.height()

    def _fit_dialog(self) -> None:
        """Grow the dialog (never a main window, never narrower) until the whole message shows."""
        window = self.window()
        layout = window.layout() if isinstance(window, QDialog) else None
        if layout is None:
            return
        width = window.width()
        need = layout.totalHeightForWidth(width) if layout.hasHeightForWidth() else layout.totalSizeHint().height()
        if need > window.height():
            window.resize(width, need)
