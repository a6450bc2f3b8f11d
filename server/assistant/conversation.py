"""Conversation state: what was offered, what is being asked, and the in-memory store that holds it."""

from __future__ import annotations

import secrets
import time as _time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from .parsing import When

__all__ = ["Slot", "Offer", "Draft", "Booked", "Conversation", "ConversationStore"]


@dataclass(frozen=True)
class Slot:
    """A free slot exactly as `slots.find` returned it, with the type it was found for."""

    dentist_id: int
    start: str  # ISO instant, as the server sent it (never rebuilt, so it round-trips exactly)
    end: str
    type_id: int

    def local_start(self, tz: ZoneInfo) -> datetime:
        return datetime.fromisoformat(self.start).astimezone(tz).replace(tzinfo=None)

    def to_wire(self) -> dict[str, Any]:
        return {"dentist_id": self.dentist_id, "start": self.start, "end": self.end, "type_id": self.type_id}


@dataclass
class Draft:
    """A request being assembled over several turns ("a cleaning" ... "next week" ... "Dr Patel")."""

    intent: Literal["book", "move", "availability"]
    type_id: int | None = None
    dentist_id: int | None = None
    when: When | None = None
    earliest: bool = False
    appointment: dict[str, Any] | None = None  # the appointment being moved


@dataclass
class Offer:
    """Numbered slots shown to the user; only these can be booked."""

    number: int  # n-th offer of this conversation, part of the idempotency key
    kind: Literal["book", "move"]
    slots: list[Slot]
    draft: Draft
    more: list[Slot] = field(default_factory=list)  # further real slots for "other times"


@dataclass
class Booked:
    """The last confirmed offer, kept so a retried confirmation replays instead of booking twice."""

    offer: Offer
    index: int
    appointment: dict[str, Any]


@dataclass
class Conversation:
    """One user's dialogue with the assistant."""

    id: str
    owner_id: int
    last_active: float
    draft: Draft | None = None
    offer: Offer | None = None
    offers_made: int = 0
    booked: Booked | None = None
    # What the last question was, and the numbered things it offered to pick from.
    awaiting: Literal["type", "date", "appointment", "confirm_cancel", "patient"] | None = None
    options: list[Any] = field(default_factory=list)
    pending_text: str | None = None  # the request to resume once a patient is chosen
    pending_action: Literal["move", "cancel"] | None = None
    pending_target: str = ""  # where a move should go, kept while asking which appointment
    patient_id: int | None = None  # staff: the patient being served
    patient_name: str | None = None
    llm_messages: list[dict[str, Any]] = field(default_factory=list)  # model context, bounded

    def clear_question(self) -> None:
        self.awaiting = None
        self.options = []


class ConversationStore:
    """Conversations by id, owned by one user each; idle ones expire and the count is bounded."""

    def __init__(self, *, max_idle_seconds: float = 3600.0, max_count: int = 5000) -> None:
        self._items: OrderedDict[str, Conversation] = OrderedDict()
        self.max_idle_seconds = max_idle_seconds
        self.max_count = max_count

    def __len__(self) -> int:
        return len(self._items)

    def get_or_create(self, conversation_id: str | None, owner_id: int, now: float | None = None) -> Conversation:
        """The caller's conversation, or a new one (an unknown, expired or foreign id starts afresh)."""
        now = _time.monotonic() if now is None else now
        self._expire(now)
        conv = self._items.get(conversation_id) if conversation_id else None
        if conv is None or conv.owner_id != owner_id:
            conv = Conversation(id=secrets.token_urlsafe(16), owner_id=owner_id, last_active=now)
            self._items[conv.id] = conv
            while len(self._items) > self.max_count:
                self._items.popitem(last=False)
        conv.last_active = now
        self._items.move_to_end(conv.id)
        return conv

    def _expire(self, now: float) -> None:
        while self._items:
            oldest = next(iter(self._items.values()))
            if now - oldest.last_active <= self.max_idle_seconds:
                break
            self._items.popitem(last=False)
