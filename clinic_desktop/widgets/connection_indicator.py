"""Status bar part: connection state and the last commit-to-screen latency."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

__all__ = ["ConnectionIndicator"]

_STATE_TEXT = {"connected": "● Connected", "reconnecting": "◌ Reconnecting…", "offline": "○ Offline"}


class ConnectionIndicator(QWidget):
    """Shows "Connected" / "Reconnecting…" / "Offline" and "last sync N ms"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        self.state_label = QLabel(_STATE_TEXT["offline"])
        self.state_label.setObjectName("connectionState")
        # Room for the widest state from the start: the status bar lays out lazily, so a label sized
        # for "Offline" would show a clipped "● Conne" until the next relayout (and would jump about).
        metrics = self.state_label.fontMetrics()
        self.state_label.setMinimumWidth(max(metrics.horizontalAdvance(text) for text in _STATE_TEXT.values()) + 4)
        self.latency_label = QLabel("")
        self.latency_label.setObjectName("syncLatency")
        layout.addWidget(self.state_label)
        layout.addWidget(self.latency_label)
        self.state = "offline"

    def set_state(self, state: str) -> None:
        self.state = state
        self.state_label.setText(_STATE_TEXT.get(state, state))

    def set_latency(self, milliseconds: float) -> None:
        if milliseconds < 1000:
            self.latency_label.setText(f"last sync {milliseconds:.0f} ms")
        else:
            self.latency_label.setText(f"last sync {milliseconds / 1000:.1f} s")
