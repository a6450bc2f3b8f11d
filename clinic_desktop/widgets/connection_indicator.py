"""Status bar part: connection state and the last commit-to-screen latency."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

__all__ = ["ConnectionIndicator"]

# "last sync" is rewritten at most this often: at 1,000 events a second, a relabel per event is
# work nobody can read; the newest value shows when the interval ends.
LATENCY_INTERVAL_MS = 250
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
        self.latency_ms: float | None = None  # the newest latency reported, shown or about to be
        self._latency_shown = True  # False while a newer value waits for `_latency_timer`
        self._latency_timer = QTimer(self)
        self._latency_timer.setSingleShot(True)
        self._latency_timer.setInterval(LATENCY_INTERVAL_MS)
        self._latency_timer.timeout.connect(self._on_latency_timer_timeout)

    def set_state(self, state: str) -> None:
        self.state = state
        self.state_label.setText(_STATE_TEXT.get(state, state))

    def set_latency(self, milliseconds: float) -> None:
        self.latency_ms = milliseconds
        if self._latency_timer.isActive():
            self._latency_shown = False
            return
        self._show_latency(milliseconds)
        self._latency_timer.start()

    def _on_latency_timer_timeout(self) -> None:
        if not self._latency_shown and self.latency_ms is not None:
            self._show_latency(self.latency_ms)
            self._latency_timer.start()

    def _show_latency(self, milliseconds: float) -> None:
        self._latency_shown = True
        if milliseconds < 1000:
            self.latency_label.setText(f"last sync {milliseconds:.0f} ms")
        else:
            self.latency_label.setText(f"last sync {milliseconds / 1000:.1f} s")
