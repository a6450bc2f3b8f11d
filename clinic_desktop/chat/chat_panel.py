"""Chat with the booking assistant; offered slots become buttons that confirm with one click.

Contract: `assistant.message` {text, conversation_id?, patient_id?} ->
{conversation_id, reply, slots?: [{dentist_id, start, end, type_id}], appointment?}.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QPalette, QTextCursor
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ..operations import Operations
from ..session import Session

__all__ = ["ChatPanel"]

_GREETING = ("Hello! I can find you a time. Try “a check-up next Tuesday afternoon” "
             "or “cleaning with Dr Patel this week”.")


class ChatPanel(QGroupBox):
    """Transcript, the slots last offered as buttons, and an input line."""

    appointment_booked = Signal(dict)

    def __init__(self, session: Session, operations: Operations, *, patient_id: int | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__("Booking assistant", parent)
        self._session = session
        self._operations = operations
        self.patient_id = patient_id  # set when staff chat on a patient's behalf
        self.conversation_id: str | None = None
        self.offered: list[dict[str, Any]] = []
        self.transcript = QTextBrowser()
        self.transcript.setObjectName("chatTranscript")
        self.transcript.setOpenLinks(False)
        self.slot_area = QWidget()
        self.slot_layout = QVBoxLayout(self.slot_area)
        self.slot_layout.setContentsMargins(0, 0, 0, 0)
        self.input = QLineEdit()
        self.input.setPlaceholderText("Ask for a time…")
        self.send_button = QPushButton("Send")
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        row.addWidget(self.send_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.transcript, 1)
        layout.addWidget(self.slot_area)
        layout.addWidget(self.status_label)
        layout.addLayout(row)
        self.input.returnPressed.connect(self._on_input_return_pressed)
        self.send_button.clicked.connect(self._on_send_button_clicked)
        self._append("Assistant", _GREETING)

    def write_controls(self) -> list[QWidget]:
        return [self.input, self.send_button]

    # -- sending -----------------------------------------------------------------------------

    def _on_input_return_pressed(self) -> None:
        self._send_typed()

    def _on_send_button_clicked(self) -> None:
        self._send_typed()

    def _send_typed(self) -> None:
        text = self.input.text().strip()
        if text:
            self.input.clear()
            self._session.tasks.spawn(self.send(text), name="assistant.message")

    async def send(self, text: str) -> dict[str, Any] | None:
        """Send one message and show the reply (and any offered slots or booked appointment)."""
        self._append("You", text)
        params: dict[str, Any] = {"text": text}
        if self.conversation_id:
            params["conversation_id"] = self.conversation_id
        if self.patient_id is not None and self._session.role != "patient":
            params["patient_id"] = self.patient_id
        self.status_label.setText("The assistant is thinking…")
        result = await self._operations.run("assistant.message", params,
                                            controls=[self.send_button, self.slot_area],
                                            report=self._on_failure)
        if result is None:
            return None
        self.status_label.clear()
        self.conversation_id = result.get("conversation_id") or self.conversation_id
        self._append("Assistant", str(result.get("reply") or ""))
        self._show_slots(result.get("slots") or [])
        appointment = result.get("appointment")
        if isinstance(appointment, dict) and "id" in appointment:
            self._session.store.upsert("appointment", appointment)
            self.appointment_booked.emit(appointment)
        return result

    def _on_failure(self, text: str) -> None:
        self.status_label.setText(text)
        self._append("Assistant", f"Sorry — {text[0].lower()}{text[1:]}" if text else "Sorry, that failed.")

    # -- rendering ---------------------------------------------------------------------------

    def _show_slots(self, slots: list[dict[str, Any]]) -> None:
        while self.slot_layout.count():
            item = self.slot_layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.offered = list(slots)
        clock, store = self._session.clock, self._session.store
        for number, slot in enumerate(slots, start=1):
            dentist = (store.get("dentist", slot.get("dentist_id")) or {}).get("name", "")
            appointment_type = (store.get("appointment_type", slot.get("type_id")) or {}).get("name", "")
            detail = " · ".join(part for part in (dentist, appointment_type) if part)
            label = f"{number}. {clock.format_when(slot['start'])}" + (f"\n{detail}" if detail else "")
            button = QPushButton(label)
            button.setObjectName(f"chatSlot{number}")
            # A long label must not widen the panel (and the window past the screen): two short lines,
            # and the button takes the panel's width whatever its text asks for (the tooltip has it all).
            button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            button.setStyleSheet("text-align: left; padding: 4px 10px;")
            button.setToolTip(label.replace("\n", "  "))
            button.clicked.connect(lambda _checked=False, n=number: self.choose_option(n))
            self.slot_layout.addWidget(button)

    def choose_option(self, number: int) -> None:
        """Clicking an offered slot confirms it in words the assistant understands."""
        self._session.tasks.spawn(self.send(f"book option {number}"), name="assistant.message")

    def _append(self, who: str, text: str) -> None:
        palette = self.palette()
        accent = palette.color(QPalette.ColorRole.Link if who == "Assistant" else QPalette.ColorRole.WindowText)
        body = html.escape(text).replace("\n", "<br>")
        self.transcript.append(f'<p><b style="color:{accent.name()}">{html.escape(who)}:</b> {body}</p>')
        self.transcript.moveCursor(QTextCursor.MoveOperation.End)

    def transcript_text(self) -> str:
        return self.transcript.toPlainText()
