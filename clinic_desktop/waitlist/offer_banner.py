"""The patient's waitlist offers: a banner that appears the moment an earlier time is offered and goes the
moment it is taken, withdrawn or expired. Accept books it (if nobody was quicker); "No thanks" declines it."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..operations import Operations
from ..session import Session
from ..store import Change
from .waitlist_text import offer_text, open_offers

__all__ = ["OfferBanner"]

_STYLE = """
QFrame#offerBanner { background: #fff4d6; border: 1px solid #e0b84d; border-radius: 6px; }
QLabel#offerTitle { font-weight: bold; color: #6b4a00; }
"""


class OfferBanner(QFrame):
    """Live from the store: one line per open offer of this patient, each with Accept and No thanks."""

    def __init__(self, session: Session, operations: Operations, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("offerBanner")
        self.setStyleSheet(_STYLE)
        self._session = session
        self._operations = operations
        self.accept_buttons: dict[int, QPushButton] = {}
        self.decline_buttons: dict[int, QPushButton] = {}
        self.offer_labels: dict[int, QLabel] = {}
        self._shown: list[int] = []
        self.title = QLabel()
        self.title.setObjectName("offerTitle")
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.dismiss_button = QToolButton()
        self.dismiss_button.setText("×")
        self.dismiss_button.setToolTip("Hide this message")
        self._rows = QVBoxLayout()
        self._rows.setContentsMargins(0, 0, 0, 0)
        header = QHBoxLayout()
        header.addWidget(self.title, 1)
        header.addWidget(self.dismiss_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.addLayout(header)
        layout.addLayout(self._rows)
        layout.addWidget(self.message)
        self._clock_timer = QTimer(self)  # an offer past its time leaves even before the server says so
        self._clock_timer.setInterval(15_000)
        self._clock_timer.timeout.connect(self._fill)
        self._clock_timer.start()
        self.dismiss_button.clicked.connect(self._on_dismiss_button_clicked)
        session.store.add_listener(self._on_store_changed)
        self._fill()

    def detach(self) -> None:
        self._session.store.remove_listener(self._on_store_changed)

    def offer_ids(self) -> list[int]:
        """The offers shown, top to bottom."""
        return list(self._shown)

    def offers(self) -> list[dict[str, Any]]:
        store = self._session.store
        return open_offers(store.rows("waitlist_offer"), self._session.clock, patient_id=self._session.patient_id)

    def _fill(self) -> None:
        offers = self.offers()
        ids = [o["id"] for o in offers]
        if ids != self._shown:
            self._rebuild(offers)
        said = bool(self.message.text())
        self.message.setVisible(said)
        self.dismiss_button.setVisible(said)  # it hides a message; an open offer stays until answered
        self.setVisible(bool(ids) or said)

    def _rebuild(self, offers: list[dict[str, Any]]) -> None:
        while self._rows.count():
            item = self._rows.takeAt(0)
            if item.layout() is not None:
                while item.layout().count():
                    child = item.layout().takeAt(0).widget()
                    if child is not None:
                        child.deleteLater()
        self.accept_buttons.clear()
        self.decline_buttons.clear()
        self.offer_labels.clear()
        store, clock = self._session.store, self._session.clock
        for offer in offers:
            type_name = (store.get("appointment_type", offer["type_id"]) or {}).get("name", "Appointment")
            dentist = (store.get("dentist", offer["dentist_id"]) or {}).get("name", "")
            line = QHBoxLayout()
            text = QLabel(offer_text(offer, clock, type_name=type_name, dentist_name=dentist))
            text.setWordWrap(True)
            accept = QPushButton("Accept")
            accept.setDefault(True)
            decline = QPushButton("No thanks")
            accept.clicked.connect(lambda _=False, oid=offer["id"]: self._on_accept_clicked(oid))
            decline.clicked.connect(lambda _=False, oid=offer["id"]: self._on_decline_clicked(oid))
            line.addWidget(text, 1)
            line.addWidget(accept)
            line.addWidget(decline)
            self._rows.addLayout(line)
            self.accept_buttons[offer["id"]] = accept
            self.decline_buttons[offer["id"]] = decline
            self.offer_labels[offer["id"]] = text
        self._shown = [o["id"] for o in offers]
        count = len(offers)
        self.title.setText("" if not count else "An earlier time is free for you — from the waitlist" if count == 1
                           else f"{count} earlier times are free for you — from the waitlist")
        self.title.setVisible(bool(count))

    # -- actions -----------------------------------------------------------------------------

    async def accept_offer(self, offer_id: int) -> dict[str, Any] | None:
        self._say("")
        result = await self._operations.run("waitlist.accept", {"offer_id": offer_id},
                                            controls=[self.accept_buttons.get(offer_id)], report=self._say)
        if result is not None:
            self._session.store.upsert("appointment", result["appointment"])
            self._session.store.upsert("waitlist_offer", result["offer"])
            self._say(f"Booked: {self._session.clock.format_when(result['appointment']['start'])}. See you then!")
        return result

    async def decline_offer(self, offer_id: int) -> dict[str, Any] | None:
        result = await self._operations.run("waitlist.decline", {"offer_id": offer_id},
                                            controls=[self.decline_buttons.get(offer_id)], report=self._say)
        if result is not None:
            self._session.store.upsert("waitlist_offer", result)
            self._say("")
        return result

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self._fill()

    # -- slots -------------------------------------------------------------------------------

    def _on_accept_clicked(self, offer_id: int) -> None:
        self._session.tasks.spawn(self.accept_offer(offer_id), name="waitlist.accept")

    def _on_decline_clicked(self, offer_id: int) -> None:
        self._session.tasks.spawn(self.decline_offer(offer_id), name="waitlist.decline")

    def _on_dismiss_button_clicked(self) -> None:
        self._say("")

    def _on_store_changed(self, change: Change) -> None:
        if change.kind in ("waitlist_offer", "appointment_type", "dentist"):
            self._fill()
