"""AssistantService: the entry point the `assistant.message` RPC handler calls."""

from __future__ import annotations

import asyncio
import copy
import logging
import time as _time
import weakref
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from server.protocol import Reason, RpcError
from server.waitlist import offers_note

from .clinic import Call, Clinic
from .conversation import ConversationStore, DatabaseConversationStore
from .engine import RuleEngine, Turn
from .llm import LlmConfig, LlmEngine, LlmUnusable

__all__ = ["AssistantService", "FALLBACK_NOTE", "MAX_TEXT"]

log = logging.getLogger(__name__)

MAX_TEXT = 1000  # characters; a booking request is a sentence or two
FALLBACK_NOTE = "(The smart assistant isn't answering right now, but booking still works.)"
_LLM_BACKOFF_SECONDS = 30.0  # after a failure, skip the model for a while instead of waiting on it every turn


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class AssistantService:
    """Holds conversations (per user, expiring; in the database when the server runs) and answers messages.

    Every read and write goes through `call`, the server's own RPC dispatcher for the caller's
    session, so the assistant has exactly the rights of the logged-in user.
    """

    def __init__(
        self,
        *,
        llm: LlmConfig | None = None,
        clock: Callable[[], datetime] = _utc_now,
        max_conversations: int = 5000,
        idle_seconds: float = 3600.0,
        store: ConversationStore | DatabaseConversationStore | None = None,
        waitlist_offers: Callable[[int], Awaitable[list[dict[str, Any]]]] | None = None,
    ) -> None:
        # A patient's open waitlist offers (server/waitlist.py), mentioned in every reply while they are open.
        self._waitlist_offers = waitlist_offers
        self._clock = clock
        # The server passes a DatabaseConversationStore (shared by its instances); alone, memory will do.
        self._store = store or ConversationStore(max_idle_seconds=idle_seconds, max_count=max_conversations)
        self._rules = RuleEngine()
        self._llm = LlmEngine(llm, self._rules) if llm is not None else None
        self._llm_down_until = 0.0
        # One message at a time per conversation, so a double-sent confirmation is handled in order.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def conversation_count(self) -> int:
        if isinstance(self._store, DatabaseConversationStore):
            return await self._store.count()
        return len(self._store)

    async def handle(
        self,
        *,
        user: dict[str, Any],
        text: str,
        conversation_id: str | None,
        call: Call,
        acting_for_patient_id: int | None = None,
    ) -> dict[str, Any]:
        """Answer one `assistant.message`: {conversation_id, reply, slots?, appointment?}."""
        if not isinstance(text, str) or not text.strip():
            raise RpcError.app(Reason.INVALID_PARAMS, "Invalid params", fields={"text": "must be non-empty text"})
        if len(text) > MAX_TEXT:
            raise RpcError.app(Reason.INVALID_PARAMS, "Invalid params",
                               fields={"text": f"must be at most {MAX_TEXT} characters"})
        if conversation_id is not None and not isinstance(conversation_id, str):
            raise RpcError.app(Reason.INVALID_PARAMS, "Invalid params", fields={"conversation_id": "must be text"})
        lock_key = conversation_id or f"new:{user['id']}"
        lock = self._locks.get(lock_key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[lock_key] = lock
        async with lock:
            conv = await self._store.load(conversation_id, int(user["id"]))
            if user.get("role") == "patient":
                patient_id = user.get("patient_id")
            else:
                if acting_for_patient_id is not None and acting_for_patient_id != conv.patient_id:
                    conv.patient_id, conv.patient_name = acting_for_patient_id, None
                    conv.offer, conv.draft, conv.booked = None, None, None
                    conv.clear_question()
                patient_id = conv.patient_id
            now = self._clock()
            if now.tzinfo is None:
                now = now.replace(tzinfo=timezone.utc)
            clinic = Clinic(call, user, now, patient_id)
            turn = await self._respond(conv, text, clinic)
            # If another instance answered a message of this conversation meanwhile, its state stays and this
            # turn's is dropped (`save` checks the version); a booking cannot happen twice either way, because
            # each offer's idempotency key is part of the state both turns started from.
            await self._store.save(conv)
        if self._waitlist_offers is not None and user.get("role") == "patient" and patient_id is not None:
            note = offers_note(await self._waitlist_offers(int(patient_id)))
            if note:
                turn.reply = f"{turn.reply}\n\n{note}"
        result: dict[str, Any] = {"conversation_id": conv.id, "reply": turn.reply}
        if turn.slots is not None:
            result["slots"] = [s.to_wire() for s in turn.slots]
        if turn.appointment is not None:
            result["appointment"] = turn.appointment
        return result

    async def _respond(self, conv: Any, text: str, clinic: Clinic) -> Turn:
        try:
            if self._llm is not None and _time.monotonic() >= self._llm_down_until:
                saved = copy.deepcopy(conv)
                try:
                    return await self._llm.respond(conv, text, clinic)
                except LlmUnusable as exc:
                    log.warning("assistant model unusable, answering offline: %s", exc)
                    self._llm_down_until = _time.monotonic() + _LLM_BACKOFF_SECONDS
                    written = conv.booked is not None and conv.booked is not saved.booked and \
                        (saved.booked is None or conv.booked.appointment != saved.booked.appointment)
                    if not written:
                        conv.__dict__.update(saved.__dict__)
                turn = await self._rules.respond(conv, text, clinic)
                turn.reply = f"{FALLBACK_NOTE} {turn.reply}"
                return turn
            return await self._rules.respond(conv, text, clinic)
        except RpcError as exc:
            if exc.reason in (None, Reason.UNAUTHENTICATED):
                raise
            directory = await clinic.directory() if exc.reason != Reason.RATE_LIMITED else None
            if directory is None:
                wait = exc.extra.get("retry_after")
                return Turn("Too many requests just now; please try again" + (f" in {wait} seconds." if wait else " shortly."))
            return Turn(self._rules._explain(exc, directory))
