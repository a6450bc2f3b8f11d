"""Conversation state: what was offered, what is being asked, and the in-memory store that holds it."""

from __future__ import annotations

import dataclasses
import json
import secrets
import time as _time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo

import asyncpg

from .parsing import When

__all__ = ["Slot", "Offer", "Draft", "Booked", "Conversation", "ConversationStore", "DatabaseConversationStore",
           "dump_conversation", "load_conversation"]


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


# --------------------------------------------------------------------------- JSON form

_CLASSES = {cls.__name__: cls for cls in (Slot, Draft, Offer, Booked, Conversation, When)}


def _encode(value: Any) -> Any:
    """Tagged JSON: dataclasses by class name, dates and times by ISO text, tuples kept apart from lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"$": type(value).__name__, "f": fields}
    if isinstance(value, datetime):
        return {"$": "datetime", "v": value.isoformat()}
    if isinstance(value, date):
        return {"$": "date", "v": value.isoformat()}
    if isinstance(value, time):
        return {"$": "time", "v": value.isoformat()}
    if isinstance(value, tuple):
        return {"$": "tuple", "v": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {"$": "dict", "v": {k: _encode(v) for k, v in value.items()}}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value["$"]
    if tag == "dict":
        return {k: _decode(v) for k, v in value["v"].items()}
    if tag == "tuple":
        return tuple(_decode(v) for v in value["v"])
    if tag in ("datetime", "date", "time"):
        return {"datetime": datetime, "date": date, "time": time}[tag].fromisoformat(value["v"])
    return _CLASSES[tag](**{k: _decode(v) for k, v in value["f"].items()})


def dump_conversation(conv: Conversation) -> str:
    return json.dumps(_encode(conv), separators=(",", ":"))


def load_conversation(text: str) -> Conversation:
    conv = _decode(json.loads(text))
    if not isinstance(conv, Conversation):
        raise ValueError("not a conversation")
    return conv


# --------------------------------------------------------------------------- stores


class ConversationStore:
    """Conversations by id in this process's memory, for a server of its own (and the unit tests).

    Owned by one user each; idle ones expire; each user keeps at most `per_user` (their oldest goes
    first), so one user's flood never evicts another user's conversation; the total is bounded too.
    """

    def __init__(self, *, max_idle_seconds: float = 3600.0, max_count: int = 5000, per_user: int = 20) -> None:
        self._items: OrderedDict[str, Conversation] = OrderedDict()
        self.max_idle_seconds = max_idle_seconds
        self.max_count = max_count
        self.per_user = per_user

    def __len__(self) -> int:
        return len(self._items)

    async def load(self, conversation_id: str | None, owner_id: int) -> Conversation:
        return self.get_or_create(conversation_id, owner_id)

    async def save(self, conv: Conversation) -> None:
        """Nothing to do: the conversation is this very object."""

    def get_or_create(self, conversation_id: str | None, owner_id: int, now: float | None = None) -> Conversation:
        """The caller's conversation, or a new one (an unknown, expired or foreign id starts afresh)."""
        now = _time.monotonic() if now is None else now
        self._expire(now)
        conv = self._items.get(conversation_id) if conversation_id else None
        if conv is None or conv.owner_id != owner_id:
            conv = Conversation(id=secrets.token_urlsafe(16), owner_id=owner_id, last_active=now)
            own = [c.id for c in self._items.values() if c.owner_id == owner_id]
            for old in own[:max(0, len(own) + 1 - self.per_user)]:
                del self._items[old]
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


class DatabaseConversationStore:
    """Conversations in the `assistant_conversations` table, so every server instance continues them.

    `load` reads the row (or starts a conversation); `save` writes it back only if nobody saved it since
    (`version`), and answers False otherwise so the caller can answer from the newer state. Idle ones
    are deleted; each user keeps at most `per_user`, their oldest going first.
    """

    def __init__(self, pool_provider, *, max_idle_seconds: float = 3600.0, per_user: int = 20) -> None:
        self._pool_provider = pool_provider
        self.max_idle_seconds = max_idle_seconds
        self.per_user = per_user
        self._versions: dict[str, int] = {}

    async def _pool(self) -> asyncpg.Pool:
        return await self._pool_provider()

    async def load(self, conversation_id: str | None, owner_id: int) -> Conversation:
        pool = await self._pool()
        if conversation_id:
            row = await pool.fetchrow(
                "SELECT state::text AS state, version FROM assistant_conversations"
                " WHERE id = $1 AND owner_id = $2 AND updated_at > clock_timestamp() - make_interval(secs => $3)",
                conversation_id, owner_id, self.max_idle_seconds)
            if row is not None:
                conv = load_conversation(row["state"])
                self._versions[conv.id] = row["version"]
                return conv
        conv = Conversation(id=secrets.token_urlsafe(16), owner_id=owner_id, last_active=_time.monotonic())
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM assistant_conversations WHERE updated_at < clock_timestamp() - make_interval(secs => $1)",
                               self.max_idle_seconds)
            await conn.execute(
                "DELETE FROM assistant_conversations WHERE id IN (SELECT id FROM assistant_conversations"
                " WHERE owner_id = $1 ORDER BY updated_at DESC OFFSET $2)", owner_id, max(0, self.per_user - 1))
            await conn.execute("INSERT INTO assistant_conversations (id, owner_id, state) VALUES ($1, $2, $3::jsonb)",
                               conv.id, owner_id, dump_conversation(conv))
        self._versions[conv.id] = 1
        return conv

    async def save(self, conv: Conversation) -> bool:
        version = self._versions.pop(conv.id, None)
        pool = await self._pool()
        saved = await pool.fetchval(
            "UPDATE assistant_conversations SET state = $2::jsonb, version = version + 1, updated_at = clock_timestamp()"
            " WHERE id = $1 AND ($3::int IS NULL OR version = $3) RETURNING version",
            conv.id, dump_conversation(conv), version)
        return saved is not None

    async def count(self) -> int:
        return await (await self._pool()).fetchval("SELECT count(*) FROM assistant_conversations")
