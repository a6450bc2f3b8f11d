"""The offline, rule-based booking assistant: understands a sentence, asks, offers, books.

It never invents a slot (every offer comes from `slots.find`), never writes without an explicit
confirmation, and reaches the clinic only through `Clinic`, i.e. the same RPC path as every client.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from server.protocol import Reason, RpcError

from .clinic import Clinic, Directory, fmt_asked, fmt_day, fmt_when
from .conversation import Booked, Conversation, Draft, Offer, Slot
from .parsing import (
    When,
    detect_intent,
    is_no,
    is_yes,
    match_dentist,
    match_type,
    mentions_type_word,
    normalise,
    parse_choice,
    parse_ordinal,
    parse_when,
    split_move,
    wants_more,
)

__all__ = ["Turn", "RuleEngine", "MAX_OFFERED", "HELP_TEXT", "idempotency_key"]

MAX_OFFERED = 5

HELP_TEXT = (
    "I can book, move or cancel appointments and tell you what's free. Try: "
    "\"a cleaning with Dr Patel next Tuesday afternoon\", \"earliest check-up\", "
    "\"move my Friday appointment to next week\", \"cancel my appointment tomorrow\", "
    "\"when is my next appointment?\" or \"is Dr Smith free on Monday morning?\"."
)

_EARLIEST = re.compile(r"\b(earliest|soonest|first available|first free|asap|as soon as possible|next available|next free)\b")


@dataclass
class Turn:
    """What one message produced: the reply, the slots offered now, the appointment written now."""

    reply: str
    slots: list[Slot] | None = None
    appointment: dict[str, Any] | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # structured outcome, for the language model


def idempotency_key(conversation_id: str, offer: Offer, slot: Slot) -> str:
    """Same conversation, same offer, same slot -> same key: a retried confirmation never double-books."""
    raw = f"{conversation_id}:{offer.number}:{slot.dentist_id}:{slot.start}:{slot.type_id}"
    return "assistant-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def _spread(slots: list[Slot], directory: Directory, limit: int) -> list[Slot]:
    """Pick up to `limit` slots spread over the window (an hour apart, two a day), soonest first."""
    chosen: list[Slot] = []
    per_day: dict[date, int] = {}
    days = {s.local_start(directory.tz).date() for s in slots}
    cap = 2 if len(days) > 2 else limit
    for s in slots:
        local = s.local_start(directory.tz)
        if per_day.get(local.date(), 0) >= cap:
            continue
        if any(abs((local - c.local_start(directory.tz)).total_seconds()) < 3600 for c in chosen):
            continue
        chosen.append(s)
        per_day[local.date()] = per_day.get(local.date(), 0) + 1
        if len(chosen) == limit:
            break
    for s in slots:
        if len(chosen) >= limit:
            break
        if s not in chosen:
            chosen.append(s)
    return sorted(chosen, key=lambda s: (datetime.fromisoformat(s.start), s.dentist_id))


def _article(name: str) -> str:
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name.lower()


class RuleEngine:
    """Rule-based intent and slot parsing over a conversation's state; runs with no model."""

    async def respond(self, conv: Conversation, text: str, clinic: Clinic) -> Turn:
        """Answer one message, updating the conversation."""
        turn = await self._respond(conv, text.strip(), clinic)
        if not turn.facts.get("done") and not turn.facts.get("replay"):
            conv.booked = None  # a later, different message ends the window for replaying a confirmation
        return turn

    async def _respond(self, conv: Conversation, text: str, clinic: Clinic) -> Turn:
        if not text:
            return Turn(HELP_TEXT)
        directory = await clinic.directory()

        if conv.awaiting == "patient":
            return await self._answer_patient(conv, text, clinic)
        handled = await self._answer_question(conv, text, clinic, directory)
        if handled is not None:
            return handled
        if conv.offer is not None:
            turn = await self._answer_offer(conv, text, clinic, directory)
            if turn is not None:
                return turn
        elif conv.booked is not None:
            turn = await self._replay_confirmation(conv, text, clinic, directory)
            if turn is not None:
                return turn
        return await self._new_request(conv, text, clinic, directory)

    # ------------------------------------------------------------------ new requests

    async def _new_request(self, conv: Conversation, text: str, clinic: Clinic, directory: Directory) -> Turn:
        intent = detect_intent(text)
        norm = normalise(text)
        if intent == "greeting":
            return Turn("Hello! " + HELP_TEXT)
        if intent == "thanks":
            return Turn("You're welcome!")
        if intent == "help":
            return Turn(HELP_TEXT)
        if intent in ("book", "move", "cancel", "list") and self._needs_patient(conv, clinic, intent):
            conv.awaiting, conv.pending_text = "patient", text
            return Turn("Who is the patient? Tell me their name and I'll look them up.")
        if intent == "cancel":
            return await self._start_cancel(conv, text, clinic, directory)
        if intent == "move":
            return await self._start_move(conv, text, clinic, directory)
        if intent == "list":
            return await self._list(conv, text, clinic, directory)
        if intent == "availability":
            return await self._availability(conv, text, clinic, directory)

        local_now = await clinic.local_now()
        when = parse_when(text, local_now)
        kind = match_type(text, await clinic.bookable_types()) or match_type(text, directory.types)
        dentist = match_dentist(text, directory.dentists)
        if intent == "unknown" and kind is None and mentions_type_word(text) is None:
            if conv.draft is not None and (not when.is_empty or dentist is not None):
                return await self._refine(conv, text, clinic, directory, when, dentist)
            if when.is_empty and dentist is None and not _EARLIEST.search(norm):
                return Turn("Sorry, I didn't catch that. " + HELP_TEXT)
        if self._needs_patient(conv, clinic, "book"):
            conv.awaiting, conv.pending_text = "patient", text
            return Turn("Who is the patient? Tell me their name and I'll look them up.")
        draft = Draft(intent="book", type_id=kind["id"] if kind else None,
                      dentist_id=dentist["id"] if dentist else None,
                      when=None if when.is_empty else when, earliest=bool(_EARLIEST.search(norm)))
        return await self._continue_draft(conv, draft, text, clinic, directory)

    def _needs_patient(self, conv: Conversation, clinic: Clinic, intent: str) -> bool:
        if clinic.is_patient or clinic.patient_id is not None:
            return False
        return not (intent == "list" and clinic.user.get("role") == "dentist")

    async def _refine(self, conv: Conversation, text: str, clinic: Clinic, directory: Directory,
                      when: When, dentist: dict[str, Any] | None) -> Turn:
        """"What about Thursday?" / "with Dr Patel instead": change the pending request and search again."""
        assert conv.draft is not None
        draft = replace(conv.draft)
        if not when.is_empty:
            draft.when = when.merged_over(None) if when.has_date or when.alternatives else when.merged_over(draft.when)
            draft.earliest = False
        if dentist is not None:
            draft.dentist_id = dentist["id"]
        if conv.offer is not None and conv.offer.kind == "move":
            return await self._search(conv, draft, clinic, directory, kind="move")
        return await self._continue_draft(conv, draft, text, clinic, directory)

    async def _continue_draft(self, conv: Conversation, draft: Draft, text: str, clinic: Clinic,
                              directory: Directory) -> Turn:
        """Ask for what is missing or ambiguous, else search and offer."""
        conv.draft = draft
        conv.offer = None
        if draft.type_id is None:
            wanted = mentions_type_word(text)
            if wanted is not None and clinic.is_patient:
                return self._refuse_type(wanted, clinic)  # named, but not among the types a patient may book
            conv.awaiting = "type"
            return Turn(await self._type_question(clinic))
        t = directory.type_by_id(draft.type_id)
        if clinic.is_patient and t is not None and not t.get("patient_bookable", True):
            conv.draft = None
            return self._refuse_type(str(t["name"]), clinic)
        if draft.when is not None and draft.when.alternatives:
            conv.awaiting = "date"
            conv.options = list(draft.when.alternatives)
            local_today = (await clinic.local_now()).date()
            choices = " or ".join(f"{i}) {fmt_day(d, local_today)}" for i, d in enumerate(conv.options, 1))
            return Turn(f"Just to be sure, which day do you mean: {choices}?")
        return await self._search(conv, draft, clinic, directory, kind="book")

    def _refuse_type(self, name: str, clinic: Clinic) -> Turn:
        return Turn(
            f"{name.capitalize()} appointments can only be booked by the clinic staff, so please call the "
            "front desk for that. I can book a check-up for you so the dentist can take a look."
        )

    async def _type_question(self, clinic: Clinic) -> str:
        names = [f"{_article(t['name'])} ({t['duration_minutes']} min)" for t in await clinic.bookable_types()]
        listed = ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else "".join(names)
        return f"What kind of appointment would you like: {listed}?"

    # ------------------------------------------------------------------ searching and offering

    async def _search(self, conv: Conversation, draft: Draft, clinic: Clinic, directory: Directory, *,
                      kind: str, intro: str = "") -> Turn:
        """Find real free slots for the draft, relaxing the time, then the date, then the dentist."""
        assert draft.type_id is not None
        conv.draft = draft
        conv.clear_question()
        local_now = await clinic.local_now()
        today = local_now.date()
        exclude = draft.appointment["start"] if draft.appointment else None
        when = draft.when
        what = directory.type_name(draft.type_id).lower()
        who = f" with {directory.dentist_name(draft.dentist_id)}" if draft.dentist_id else ""
        asked = fmt_asked(when)

        horizon = today + timedelta(days=directory.max_advance_days)
        if clinic.is_patient and when is not None and when.start is not None and when.start > horizon:
            conv.offer = None
            return Turn(f"{intro}I can only book up to {directory.max_advance_days} days ahead online (until "
                        f"{fmt_day(horizon)}); please pick an earlier date or call the clinic.", facts={"slots": []})
        slots = await clinic.find_slots(draft.type_id, draft.dentist_id, when, earliest=draft.earliest,
                                        exclude_start=exclude)
        if slots:
            lead = intro + (f"Here are the earliest free times for {_article(what)}{who}:" if draft.earliest
                            else f"Free times for {_article(what)}{who}" + (f" {asked}" if asked else "") + ":")
            return self._offer(conv, draft, slots, directory, today, lead, kind)

        nothing = f"{intro}Sorry, nothing is free for {_article(what)}{who}" + (f" {asked}" if asked else "") + "."
        if when is not None and when.has_time and when.has_date:
            relaxed = replace(when, after=None, before=None, at=None)
            slots = await clinic.find_slots(draft.type_id, draft.dentist_id, relaxed, exclude_start=exclude)
            if slots:
                return self._offer(conv, draft, slots, directory, today,
                                   nothing + f" Other free times on {fmt_day(when.start, today) if when.start == when.end and when.start else 'those days'}:", kind)
        if when is not None and when.has_date:
            after_end = (when.end or when.start or today) + timedelta(days=1)
            later = When(start=after_end, end=after_end + timedelta(days=13), after=when.after,
                         before=when.before, at=None)
            slots = await clinic.find_slots(draft.type_id, draft.dentist_id, later, exclude_start=exclude)
            if not slots:
                slots = await clinic.find_slots(draft.type_id, draft.dentist_id, replace(later, after=None, before=None),
                                                exclude_start=exclude)
            if slots:
                return self._offer(conv, draft, slots, directory, today, nothing + " The nearest free times after that:", kind)
        if draft.dentist_id is not None:
            slots = await clinic.find_slots(draft.type_id, None, when, exclude_start=exclude)
            if slots:
                return self._offer(conv, replace(draft, dentist_id=None), slots, directory, today,
                                   nothing + " Other dentists are free then:", kind)
        conv.offer = None
        return Turn(nothing + " Would you like to try another day or time?", facts={"slots": []})

    def _offer(self, conv: Conversation, draft: Draft, slots: list[Slot], directory: Directory, today: date,
               lead: str, kind: str) -> Turn:
        shown = slots[:MAX_OFFERED] if draft.earliest else _spread(slots, directory, MAX_OFFERED)
        conv.offers_made += 1
        conv.offer = Offer(number=conv.offers_made, kind="move" if kind == "move" else "book", slots=shown,
                           draft=draft, more=[s for s in slots if s not in shown])
        conv.draft = draft
        conv.clear_question()
        lines = [lead]
        for i, s in enumerate(shown, 1):
            lines.append(f"{i}) {fmt_when(s.local_start(directory.tz), today)} with {directory.dentist_name(s.dentist_id)}")
        lines.append("Which one shall I " + ("move it to" if kind == "move" else "book")
                     + "? Say the number (or 'no' to stop).")
        return Turn("\n".join(lines), slots=shown, facts={"offered": len(shown)})

    # ------------------------------------------------------------------ answers to offers

    async def _answer_offer(self, conv: Conversation, text: str, clinic: Clinic, directory: Directory) -> Turn | None:
        offer = conv.offer
        assert offer is not None
        starts = [s.local_start(directory.tz) for s in offer.slots]
        choice = parse_choice(text, starts, [s.dentist_id for s in offer.slots], directory.dentists)
        if choice is not None and choice.index is not None:
            return await self._confirm(conv, offer, choice.index, clinic, directory)
        if choice is not None and choice.ambiguous:
            listed = ", ".join(str(i + 1) for i in choice.ambiguous)
            return Turn(f"Which one do you mean: {listed}? Say the number.")
        if is_no(text):
            conv.offer = None
            conv.draft = None
            return Turn("OK, I haven't booked anything. Tell me another day or time whenever you like.")
        if wants_more(text) and offer.more:
            today = (await clinic.local_now()).date()
            return self._offer(conv, offer.draft, offer.more, directory, today, "Some other free times:", offer.kind)
        if wants_more(text):
            return Turn("Those are all the free times I found for that; try another day or time?")
        if re.fullmatch(r"(?:option |number |#)?\d{1,2}", normalise(text).rstrip(".")):
            return Turn(f"Please pick a number from 1 to {len(offer.slots)}.")
        return None

    async def _confirm(self, conv: Conversation, offer: Offer, index: int, clinic: Clinic, directory: Directory) -> Turn:
        """Book or move to the picked slot; a slot taken meanwhile gets fresh offers."""
        slot = offer.slots[index]
        today = (await clinic.local_now()).date()
        local = slot.local_start(directory.tz)
        what = directory.type_name(slot.type_id)
        who = directory.dentist_name(slot.dentist_id)
        try:
            if offer.kind == "move":
                assert offer.draft.appointment is not None
                row = await clinic.move(offer.draft.appointment, slot)
            else:
                row = await clinic.book(slot, idempotency_key(conv.id, offer, slot))
        except RpcError as exc:
            return await self._write_failed(conv, offer, exc, clinic, directory)
        conv.offer = None
        conv.draft = None
        conv.booked = Booked(offer=offer, index=index, appointment=row)
        if offer.kind == "move":
            reply = f"Done: your {what.lower()} with {who} is moved to {fmt_when(local, today)}."
        else:
            whose = f" for {conv.patient_name}" if conv.patient_name else ""
            reply = f"Booked: {_article(what)}{whose} with {who} on {fmt_when(local, today)}."
        return Turn(reply[0].upper() + reply[1:], appointment=row, facts={"done": offer.kind})

    async def _write_failed(self, conv: Conversation, offer: Offer, exc: RpcError, clinic: Clinic,
                            directory: Directory) -> Turn:
        reason = exc.reason
        if reason in (Reason.SLOT_UNAVAILABLE, Reason.OUTSIDE_WORKING_HOURS, Reason.TOO_SOON) and offer.kind == "book" \
                or reason in (Reason.SLOT_UNAVAILABLE, Reason.OUTSIDE_WORKING_HOURS) and offer.kind == "move":
            why = "was just taken by someone else" if reason == Reason.SLOT_UNAVAILABLE else "is no longer available"
            return await self._search(conv, offer.draft, clinic, directory, kind=offer.kind,
                                      intro=f"Sorry, that time {why}. ")
        conv.offer = None
        return Turn(self._explain(exc, directory, moving=offer.kind == "move"))

    def _explain(self, exc: RpcError, directory: Directory, *, moving: bool = False, cancelling: bool = False) -> str:
        reason = exc.reason
        if reason == Reason.TOO_SOON and (moving or cancelling):
            return (f"That appointment is less than {directory.late_cancel_hours} hours away, so it can't be "
                    "changed online any more; please call the clinic.")
        if reason == Reason.TOO_SOON:
            return "That's too soon to book online; please pick a later time or call the clinic."
        if reason == Reason.TOO_FAR:
            return f"That's more than {directory.max_advance_days} days ahead; please pick an earlier date."
        if reason == Reason.FORBIDDEN:
            return "Sorry, you're not allowed to do that online; please call the front desk."
        if reason == Reason.NOT_FOUND:
            return "I couldn't find that appointment any more; nothing was changed."
        if reason == Reason.VERSION_CONFLICT:
            return "That appointment was changed by someone else just now; nothing was changed. Please ask again."
        if reason == Reason.INVALID_TRANSITION:
            return "That appointment can't be changed in its current state; nothing was changed."
        if reason == Reason.RATE_LIMITED:
            wait = exc.extra.get("retry_after")
            return f"Too many changes in a short time; please try again in {wait} seconds." if wait else \
                "Too many changes in a short time; please try again shortly."
        return "Sorry, something went wrong and nothing was changed. Please try again."

    async def _replay_confirmation(self, conv: Conversation, text: str, clinic: Clinic, directory: Directory) -> Turn | None:
        """The same confirmation again (a retry): replay the write with the same key, never book twice."""
        booked = conv.booked
        assert booked is not None
        offer = booked.offer
        starts = [s.local_start(directory.tz) for s in offer.slots]
        choice = parse_choice(text, starts, [s.dentist_id for s in offer.slots], directory.dentists)
        if choice is None:
            return None
        if choice.index != booked.index and not (choice.ambiguous and booked.index in choice.ambiguous):
            return Turn("That list was used already for your last booking. Tell me what you'd like to book next.")
        slot = offer.slots[booked.index]
        row = booked.appointment
        if offer.kind == "book":
            try:
                row = await clinic.book(slot, idempotency_key(conv.id, offer, slot))
            except RpcError:
                row = booked.appointment
        local = slot.local_start(directory.tz)
        today = (await clinic.local_now()).date()
        return Turn(f"That's already done: {directory.type_name(slot.type_id).lower()} with "
                    f"{directory.dentist_name(slot.dentist_id)} on {fmt_when(local, today)}.", appointment=row,
                    facts={"replay": True})

    # ------------------------------------------------------------------ questions the assistant asked

    async def _answer_question(self, conv: Conversation, text: str, clinic: Clinic, directory: Directory) -> Turn | None:
        awaiting = conv.awaiting
        if awaiting is None:
            return None
        intent = detect_intent(text)
        if awaiting in ("type", "date", "appointment") and is_no(text):
            conv.clear_question()
            conv.draft = None
            return Turn("OK, never mind. Anything else I can do?")
        if awaiting == "type":
            kind = match_type(text, directory.types)
            if kind is not None and conv.draft is not None:
                conv.clear_question()
                draft = replace(conv.draft, type_id=kind["id"])
                local_now = await clinic.local_now()
                when = parse_when(text, local_now)
                if not when.is_empty:
                    draft.when = when.merged_over(draft.when)
                return await self._continue_draft(conv, draft, text, clinic, directory)
            if mentions_type_word(text) and conv.draft is not None:
                conv.clear_question()
                return self._refuse_type(str(mentions_type_word(text)), clinic)
        elif awaiting == "date" and conv.draft is not None:
            dates: list[date] = conv.options
            n = parse_ordinal(text, len(dates))
            picked: date | None = dates[n - 1] if n else None
            if picked is None:
                when = parse_when(text, await clinic.local_now())
                if when.start is not None and when.start in dates:
                    picked = when.start
                else:
                    for d in dates:
                        if re.search(rf"\b{d.day}(st|nd|rd|th)?\b", normalise(text)):
                            picked = d
                            break
            if picked is not None:
                conv.clear_question()
                assert conv.draft.when is not None
                draft = replace(conv.draft, when=replace(conv.draft.when, start=picked, end=picked, alternatives=(),
                                                         words=(fmt_day(picked),) + tuple(w for w in conv.draft.when.words if " or " not in w)))
                if draft.intent == "availability":
                    return await self._availability_search(conv, draft, clinic, directory)
                if draft.appointment is not None:
                    return await self._search(conv, draft, clinic, directory, kind="move")
                return await self._continue_draft(conv, draft, text, clinic, directory)
        elif awaiting == "appointment":
            appts: list[dict[str, Any]] = conv.options
            n = parse_ordinal(text, len(appts))
            chosen = [appts[n - 1]] if n else self._filter_appointments(appts, text, await clinic.local_now(), directory,
                                                                        require_detail=True)
            if len(chosen) == 1 and (n or intent == "unknown"):
                conv.clear_question()
                if conv.pending_action == "cancel":
                    return await self._ask_cancel(conv, chosen[0], clinic, directory)
                return await self._move_to(conv, chosen[0], conv.pending_target, clinic, directory)
        elif awaiting == "confirm_cancel":
            appt = conv.options[0]
            if is_yes(text):
                conv.clear_question()
                return await self._do_cancel(conv, appt, clinic, directory)
            if is_no(text):
                conv.clear_question()
                return Turn("OK, I've kept your appointment.")
        if intent == "unknown" and awaiting != "confirm_cancel":
            return None
        conv.clear_question()
        return None

    async def _answer_patient(self, conv: Conversation, text: str, clinic: Clinic) -> Turn:
        """Staff named the patient: look them up (patients.search) and resume the request."""
        options: list[dict[str, Any]] = conv.options
        chosen: dict[str, Any] | None = None
        if options:
            n = parse_ordinal(text, len(options))
            if n:
                chosen = options[n - 1]
        if chosen is None:
            query = re.sub(r"^(it'?s|it is|for|the patient is|patient|name is)\s+", "", normalise(text)).strip(" .")
            try:
                found = await clinic.search_patients(query)
            except RpcError as exc:
                conv.clear_question()
                return Turn(self._explain(exc, await clinic.directory()))
            if not found:
                conv.options = []
                return Turn(f"I couldn't find a patient called \"{query}\". Who is the patient?")
            if len(found) > 1:
                conv.options = found
                listed = "; ".join(f"{i}) {p['name']}" for i, p in enumerate(found, 1))
                return Turn(f"Which patient: {listed}?")
            chosen = found[0]
        conv.clear_question()
        conv.patient_id, conv.patient_name = int(chosen["id"]), str(chosen["name"])
        clinic.patient_id = conv.patient_id
        pending, conv.pending_text = conv.pending_text, None
        turn = await self._respond(conv, pending, clinic) if pending else Turn("")
        turn.reply = f"Acting for {conv.patient_name}. " + (turn.reply or "What would you like to do?")
        return turn

    # ------------------------------------------------------------------ list, availability

    async def _list(self, conv: Conversation, text: str, clinic: Clinic, directory: Directory) -> Turn:
        appts = await clinic.my_appointments()
        local_now = await clinic.local_now()
        today = local_now.date()
        whose = "You have" if clinic.is_patient or clinic.patient_id is None else f"{conv.patient_name or 'The patient'} has"
        if not appts:
            return Turn(f"{whose} no upcoming appointments. Would you like to book one?", facts={"appointments": []})
        if re.search(r"\bnext\b", normalise(text)):
            a = appts[0]
            owner = "Your" if clinic.is_patient or clinic.patient_id is None else \
                (f"{conv.patient_name}'s" if conv.patient_name else "The patient's")
            return Turn(f"{owner} next appointment is {self._describe(clinic, a, directory, today)}.", facts={"appointments": appts[:1]})
        listed = "; ".join(self._describe(clinic, a, directory, today) for a in appts[:5])
        more = f" (and {len(appts) - 5} more)" if len(appts) > 5 else ""
        return Turn(f"{whose} {len(appts)} upcoming appointment{'s' if len(appts) > 1 else ''}: {listed}{more}.",
                    facts={"appointments": appts[:5]})

    def _describe(self, clinic: Clinic, appt: dict[str, Any], directory: Directory, today: date, *,
                  article: bool = True) -> str:
        """'a cleaning with Dr Patel on Tuesday 1 December at 13:15' (or 'cleaning with ...' after 'your')."""
        local = datetime.fromisoformat(appt["start"]).astimezone(directory.tz).replace(tzinfo=None)
        name = directory.type_name(appt.get("type_id"))
        patient = f" for {appt['patient_name']}" if appt.get("patient_name") and not clinic.is_patient else ""
        return (f"{_article(name) if article else name.lower()}{patient} with "
                f"{directory.dentist_name(appt.get('dentist_id'))} on {fmt_when(local, today)}")

    async def _availability(self, conv: Conversation, text: str, clinic: Clinic, directory: Directory) -> Turn:
        local_now = await clinic.local_now()
        when = parse_when(text, local_now)
        dentist = match_dentist(text, directory.dentists)
        kind = match_type(text, await clinic.bookable_types())
        if kind is None:
            bookable = await clinic.bookable_types()
            kind = min(bookable, key=lambda t: t["duration_minutes"]) if bookable else None
        if kind is None:
            return Turn("There are no appointment types you can book online.")
        if when.is_empty:
            when = When(start=local_now.date(), end=local_now.date() + timedelta(days=6), words=("this coming week",))
        draft = Draft(intent="availability", type_id=kind["id"], dentist_id=dentist["id"] if dentist else None, when=when)
        conv.draft = draft
        if when.alternatives:
            conv.awaiting, conv.options = "date", list(when.alternatives)
            choices = " or ".join(f"{i}) {fmt_day(d, local_now.date())}" for i, d in enumerate(conv.options, 1))
            return Turn(f"Just to be sure, which day do you mean: {choices}?")
        return await self._availability_search(conv, draft, clinic, directory)

    async def _availability_search(self, conv: Conversation, draft: Draft, clinic: Clinic, directory: Directory) -> Turn:
        assert draft.type_id is not None and draft.when is not None
        today = (await clinic.local_now()).date()
        who = directory.dentist_name(draft.dentist_id) if draft.dentist_id else "A dentist"
        asked = fmt_asked(draft.when)
        slots = await clinic.find_slots(draft.type_id, draft.dentist_id, draft.when)
        what = directory.type_name(draft.type_id).lower()
        if not slots:
            conv.offer = None
            return Turn(f"No, {who if draft.dentist_id else 'no dentist'} has no free time for {_article(what)} {asked}. "
                        "Want me to look at another day?", facts={"slots": []})
        booking_draft = replace(draft, intent="book")
        turn = self._offer(conv, booking_draft, slots, directory, today,
                           f"Yes, {who} has free time {asked} (for {_article(what)}, "
                           f"{directory.type_by_id(draft.type_id)['duration_minutes']} min):", "book")  # type: ignore[index]
        return turn

    # ------------------------------------------------------------------ cancel and move

    def _filter_appointments(self, appts: list[dict[str, Any]], text: str, local_now: datetime,
                             directory: Directory, *, require_detail: bool = False) -> list[dict[str, Any]]:
        """Appointments a phrase points at ("my Friday appointment", "the cleaning", "my next one").

        A bare weekday ("my cleaning on Wednesday") matches any upcoming appointment on that weekday,
        not only the nearest Wednesday's: the user is pointing at something they know they have.
        """
        when = parse_when(text, local_now)
        kind = match_type(text, directory.types)
        dentist = match_dentist(text, directory.dentists)
        if when.is_empty and kind is None and dentist is None:
            if re.search(r"\b(next|soonest|first|upcoming)\b", normalise(text)):
                return appts[:1]
            return appts if not require_detail else []
        result = []
        for a in appts:
            local = datetime.fromisoformat(a["start"]).astimezone(directory.tz).replace(tzinfo=None)
            if when.weekday is not None:
                if local.weekday() != when.weekday:
                    continue
            elif when.alternatives and local.date() not in when.alternatives:
                continue
            elif when.start is not None and not (when.start <= local.date() <= (when.end or when.start)):
                continue
            if when.at is not None and local.time() != when.at:
                continue
            if kind is not None and a.get("type_id") != kind["id"]:
                continue
            if dentist is not None and a.get("dentist_id") != dentist["id"]:
                continue
            result.append(a)
        return result

    async def _pick_appointment(self, conv: Conversation, phrase: str, clinic: Clinic, directory: Directory,
                                action: str, target: str = "") -> tuple[dict[str, Any] | None, Turn | None]:
        appts = await clinic.my_appointments()
        local_now = await clinic.local_now()
        today = local_now.date()
        whose = "you have" if clinic.is_patient else f"{conv.patient_name or 'the patient'} has"
        if not appts:
            return None, Turn(f"I can't find any upcoming appointment that {whose}, so there's nothing to {action}.")
        referred = self._referred_back(conv, phrase, appts)
        if referred is not None:
            return referred, None
        matches = self._filter_appointments(appts, phrase, local_now, directory)
        if not matches:
            said = fmt_asked(parse_when(phrase, local_now)) or "like that"
            listed = "; ".join(f"{i}) {self._describe(clinic, a, directory, today)}" for i, a in enumerate(appts[:5], 1))
            conv.awaiting, conv.options = "appointment", appts[:5]
            conv.pending_action, conv.pending_target = ("cancel" if action == "cancel" else "move"), target
            return None, Turn(f"{whose[:1].upper()}{whose[1:]} no appointment {said}. Upcoming: {listed}. Which one do you mean?")
        if len(matches) > 1:
            conv.awaiting, conv.options = "appointment", matches[:5]
            conv.pending_action, conv.pending_target = ("cancel" if action == "cancel" else "move"), target
            listed = "; ".join(f"{i}) {self._describe(clinic, a, directory, today)}" for i, a in enumerate(matches[:5], 1))
            return None, Turn(f"Which appointment do you want to {action}: {listed}?")
        return matches[0], None

    @staticmethod
    def _referred_back(conv: Conversation, phrase: str, appts: list[dict[str, Any]]) -> dict[str, Any] | None:
        """"cancel it" / "move that one" right after a booking or a move: the appointment just handled.

        Only a bare pronoun counts ("it", "that", "this one", "that appointment"); a phrase with a
        day, a type or a dentist is matched against the list as usual. The row comes fresh from
        `appts`, so the write carries its current version.
        """
        if conv.booked is None:
            return None
        words = re.sub(r"\b(please|cancel|move|reschedule|change|actually|ok|okay|then|just|and|can you|could you|"
                       r"i want to|i'd like to|to)\b", " ", normalise(phrase))
        if not re.fullmatch(r"\s*(it|that|this)(\s+(one|appointment|booking))?\s*[.!?]*\s*", words):
            return None
        wanted = conv.booked.appointment.get("id")
        return next((a for a in appts if a.get("id") == wanted), None)

    def _too_late(self, appt: dict[str, Any], clinic: Clinic, directory: Directory) -> bool:
        if not clinic.is_patient or not directory.late_cancel_hours:
            return False
        return datetime.fromisoformat(appt["start"]) - clinic.now < timedelta(hours=directory.late_cancel_hours)

    async def _start_cancel(self, conv: Conversation, text: str, clinic: Clinic, directory: Directory) -> Turn:
        conv.offer = None
        appt, question = await self._pick_appointment(conv, text, clinic, directory, "cancel")
        if question is not None:
            return question
        assert appt is not None
        return await self._ask_cancel(conv, appt, clinic, directory)

    async def _ask_cancel(self, conv: Conversation, appt: dict[str, Any], clinic: Clinic, directory: Directory) -> Turn:
        today = (await clinic.local_now()).date()
        if self._too_late(appt, clinic, directory):
            return Turn(f"Your {self._describe(clinic, appt, directory, today, article=False)} is less than {directory.late_cancel_hours} "
                        "hours away, so it can't be cancelled online; please call the clinic.")
        conv.awaiting, conv.options = "confirm_cancel", [appt]
        return Turn(f"Cancel {self._describe(clinic, appt, directory, today)}? Say yes to cancel it, or no to keep it.")

    async def _do_cancel(self, conv: Conversation, appt: dict[str, Any], clinic: Clinic, directory: Directory) -> Turn:
        today = (await clinic.local_now()).date()
        try:
            row = await clinic.cancel(appt)
        except RpcError as exc:
            if exc.reason == Reason.INVALID_TRANSITION:
                return Turn(f"That {self._describe(clinic, appt, directory, today, article=False)} is already cancelled.")
            return Turn(self._explain(exc, directory, cancelling=True))
        desc = self._describe(clinic, appt, directory, today)
        return Turn(f"Cancelled: {desc}.", appointment=row, facts={"done": "cancel"})

    async def _start_move(self, conv: Conversation, text: str, clinic: Clinic, directory: Directory) -> Turn:
        conv.offer = None
        source, target = split_move(text)
        source = re.sub(r"\bfrom\b", "on", source)  # "move my appointment from Friday to ..." names the day it is on
        appt, question = await self._pick_appointment(conv, source, clinic, directory, "move", target)
        if question is not None:
            return question
        assert appt is not None
        return await self._move_to(conv, appt, target, clinic, directory)

    async def _move_to(self, conv: Conversation, appt: dict[str, Any], target: str, clinic: Clinic,
                       directory: Directory) -> Turn:
        today = (await clinic.local_now()).date()
        if self._too_late(appt, clinic, directory):
            return Turn(f"Your {self._describe(clinic, appt, directory, today, article=False)} is less than {directory.late_cancel_hours} "
                        "hours away, so it can't be moved online; please call the clinic.")
        local_now = await clinic.local_now()
        when = parse_when(target, local_now)
        if when.has_time and not when.has_date and not when.alternatives:
            # "move my filling to the afternoon": the same day, another time.
            day = datetime.fromisoformat(appt["start"]).astimezone(directory.tz).date()
            when = replace(when, start=day, end=day, words=(fmt_day(day),) + when.words)
        dentist = match_dentist(target, directory.dentists)
        draft = Draft(intent="move", type_id=appt.get("type_id"),
                      dentist_id=dentist["id"] if dentist else appt.get("dentist_id"),
                      when=None if when.is_empty else when, appointment=appt)
        if when.alternatives:
            conv.draft = draft
            conv.awaiting, conv.options = "date", list(when.alternatives)
            choices = " or ".join(f"{i}) {fmt_day(d, today)}" for i, d in enumerate(conv.options, 1))
            return Turn(f"Just to be sure, which day do you mean: {choices}?")
        return await self._search(conv, draft, clinic, directory, kind="move",
                                  intro=f"Moving your {self._describe(clinic, appt, directory, today, article=False)}. ")
