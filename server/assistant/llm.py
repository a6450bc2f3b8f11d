"""Optional language-model engine: any OpenAI-compatible chat-completions endpoint with tool calls.

The model only chooses which of the offline engine's functions to run and phrases small talk;
the functions themselves (find slots, book the picked slot, cancel, move, list) are the same ones
the rule engine uses, and the writes keep the same guards: only offered slots, only after the
user's own message confirms. Anything odd from the model (unreachable, slow, malformed tool
arguments, an unknown tool) raises `LlmUnusable`, and the service answers with the offline engine.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from .clinic import Clinic, Directory, fmt_day
from .conversation import Conversation, Draft
from .engine import RuleEngine, Turn, _EARLIEST
from .parsing import is_yes, match_dentist, match_type, mentions_type_word, normalise, parse_choice, parse_when

__all__ = ["LlmConfig", "LlmEngine", "LlmUnusable", "TOOLS"]

_MAX_ROUNDS = 4
_HISTORY = 12  # user/assistant messages kept per conversation for the model


@dataclass
class LlmConfig:
    """Where the OpenAI-compatible endpoint lives (e.g. http://127.0.0.1:11434/v1) and which model."""

    url: str
    model: str
    api_key: str | None = None
    timeout: float = 8.0


class LlmUnusable(Exception):
    """The model could not be reached or answered something the engine cannot act on."""


def _fn(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": properties, "required": required, "additionalProperties": False}}}


_S = {"type": "string"}
TOOLS: list[dict[str, Any]] = [
    _fn("find_slots", "Find real free slots and show them to the user, numbered. Never book here.",
        {"appointment_type": {**_S, "description": "e.g. check-up, cleaning, filling"},
         "dentist": {**_S, "description": "dentist name if the user named one"},
         "when": {**_S, "description": "the user's own words for date/time, e.g. 'next Tuesday afternoon'"},
         "earliest": {"type": "boolean", "description": "the user wants the soonest time"}},
        ["appointment_type"]),
    _fn("book_option", "Book one of the slots shown, only after the user picked it in their last message.",
        {"option": {"type": "integer", "description": "1-based number of the shown slot"}}, ["option"]),
    _fn("list_appointments", "The user's upcoming appointments.", {}, []),
    _fn("check_availability", "Whether a dentist is free at a time; shows free slots.",
        {"dentist": _S, "when": _S, "appointment_type": _S}, []),
    _fn("cancel_appointment", "Ask the user to confirm cancelling one of their appointments.",
        {"which": {**_S, "description": "the user's words for the appointment, e.g. 'tomorrow', 'the cleaning'"}},
        ["which"]),
    _fn("confirm_cancel", "Cancel the appointment the user just confirmed (their last message said yes).", {}, []),
    _fn("move_appointment", "Find new times for one of the user's appointments and show them, numbered.",
        {"which": _S, "to": {**_S, "description": "the user's words for the new date/time"}}, ["which"]),
]
_TOOL_NAMES = {t["function"]["name"] for t in TOOLS}


class LlmEngine:
    """Drives the rule engine's functions from a chat-completions model's tool calls."""

    def __init__(self, config: LlmConfig, rules: RuleEngine) -> None:
        self.config = config
        self.rules = rules

    async def respond(self, conv: Conversation, text: str, clinic: Clinic) -> Turn:
        """Answer one message through the model; raises LlmUnusable when the model cannot be used."""
        directory = await clinic.directory()
        if conv.awaiting == "patient" or (not clinic.is_patient and clinic.patient_id is None):
            return await self.rules.respond(conv, text, clinic)  # choosing a patient is plain lookup
        messages: list[dict[str, Any]] = [{"role": "system", "content": await self._system_prompt(clinic, directory)}]
        messages += conv.llm_messages[-_HISTORY:]
        messages.append({"role": "user", "content": text})
        produced: Turn | None = None  # the engine's own outcome this turn (slots offered or a write)
        for _ in range(_MAX_ROUNDS):
            message = await self._complete(messages)
            calls = message.get("tool_calls") or []
            if not calls:
                content = message.get("content")
                if not isinstance(content, str) or not content.strip():
                    raise LlmUnusable("the model answered with neither text nor a tool call")
                reply = content.strip()
                if produced is not None and (produced.slots is not None or produced.appointment is not None):
                    reply = produced.reply  # offers and confirmations are the engine's exact words
                turn = produced or Turn(reply)
                turn.reply = reply
                conv.llm_messages = (conv.llm_messages + [{"role": "user", "content": text},
                                                          {"role": "assistant", "content": reply}])[-_HISTORY:]
                return turn
            messages.append({"role": "assistant", "content": message.get("content"), "tool_calls": calls})
            for call in calls:
                name, args, call_id = self._parse_call(call)
                result = await self._run_tool(name, args, conv, text, clinic, directory)
                if result.slots is not None or result.appointment is not None or produced is None:
                    produced = result
                content = {"result": result.reply}
                if result.slots:
                    content["options"] = [
                        {"option": i, "start": s.local_start(directory.tz).strftime("%A %d %B %H:%M"),
                         "dentist": directory.dentist_name(s.dentist_id)} for i, s in enumerate(result.slots, 1)]
                messages.append({"role": "tool", "tool_call_id": call_id, "content": json.dumps(content)})
        raise LlmUnusable("the model kept calling tools without answering")

    def _parse_call(self, call: Any) -> tuple[str, dict[str, Any], str]:
        try:
            fn = call["function"]
            name, raw, call_id = fn["name"], fn.get("arguments") or "{}", str(call.get("id") or "call")
            args = json.loads(raw) if isinstance(raw, str) else raw
        except (KeyError, TypeError, ValueError) as exc:
            raise LlmUnusable(f"malformed tool call: {exc}") from exc
        if name not in _TOOL_NAMES:
            raise LlmUnusable(f"unknown tool {name!r}")
        if not isinstance(args, dict):
            raise LlmUnusable("tool arguments are not an object")
        return name, args, call_id

    @staticmethod
    def _str(args: dict[str, Any], key: str) -> str:
        value = args.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise LlmUnusable(f"argument {key!r} should be text")
        return value

    async def _run_tool(self, name: str, args: dict[str, Any], conv: Conversation, user_text: str,
                        clinic: Clinic, directory: Directory) -> Turn:
        rules = self.rules
        local_now = await clinic.local_now()
        if name == "find_slots":
            kind_text = self._str(args, "appointment_type")
            kind = match_type(kind_text, await clinic.bookable_types()) or match_type(kind_text, directory.types)
            if kind is None and mentions_type_word(kind_text) is None:
                return Turn(await rules._type_question(clinic))
            dentist = match_dentist(self._str(args, "dentist"), directory.dentists)
            when = parse_when(self._str(args, "when"), local_now)
            earliest = bool(args.get("earliest")) or bool(_EARLIEST.search(normalise(user_text)))
            draft = Draft(intent="book", type_id=kind["id"] if kind else None,
                          dentist_id=dentist["id"] if dentist else None,
                          when=None if when.is_empty else when, earliest=earliest)
            return await rules._continue_draft(conv, draft, kind_text, clinic, directory)
        if name == "book_option":
            option = args.get("option")
            if not isinstance(option, int) or isinstance(option, bool):
                raise LlmUnusable("option should be an integer")
            offer = conv.offer
            if offer is None or not 1 <= option <= len(offer.slots):
                return Turn("There is no such option on offer; show slots first.")
            starts = [s.local_start(directory.tz) for s in offer.slots]
            choice = parse_choice(user_text, starts, [s.dentist_id for s in offer.slots], directory.dentists)
            picked = choice is not None and choice.index == option - 1
            named = re.search(rf"(?<!\d){option}(?!\d)|{starts[option - 1]:%H:%M}", normalise(user_text))
            if not picked and not (named and re.search(r"\b(yes|book|take|please|ok|okay|that|go)\b", normalise(user_text))):
                return Turn("The user has not picked that option in their own words yet; ask which option to book.")
            return await rules._confirm(conv, offer, option - 1, clinic, directory)
        if name == "list_appointments":
            return await rules._list(conv, user_text, clinic, directory)
        if name == "check_availability":
            text = " ".join(self._str(args, k) for k in ("appointment_type", "dentist", "when"))
            return await rules._availability(conv, text, clinic, directory)
        if name == "cancel_appointment":
            return await rules._start_cancel(conv, self._str(args, "which"), clinic, directory)
        if name == "confirm_cancel":
            if conv.awaiting != "confirm_cancel" or not is_yes(user_text):
                return Turn("Nothing is waiting for a confirmed cancellation; ask the user first.")
            appt = conv.options[0]
            conv.clear_question()
            return await rules._do_cancel(conv, appt, clinic, directory)
        assert name == "move_appointment"
        appt, question = await rules._pick_appointment(conv, self._str(args, "which"), clinic, directory, "move",
                                                       self._str(args, "to"))
        if question is not None:
            return question
        assert appt is not None
        return await rules._move_to(conv, appt, self._str(args, "to"), clinic, directory)

    async def _system_prompt(self, clinic: Clinic, directory: Directory) -> str:
        local_now = await clinic.local_now()
        types = ", ".join(f"{t['name']} ({t['duration_minutes']} min)" for t in await clinic.bookable_types())
        dentists = ", ".join(d["name"] for d in directory.dentists)
        return (
            "You are the booking assistant of a dental clinic. Be brief and friendly. "
            f"Today is {fmt_day(local_now.date())}, {local_now:%H:%M} clinic time ({directory.tz.key}). "
            f"Dentists: {dentists}. Appointment types: {types}. "
            "Always use the tools: never make up a time; show slots with find_slots; book only with "
            "book_option after the user picked an option in their last message; cancel only with "
            "confirm_cancel after the user said yes."
        )

    async def _complete(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """One chat-completions round trip; returns choices[0].message."""
        body = json.dumps({"model": self.config.model, "messages": messages, "tools": TOOLS,
                           "tool_choice": "auto", "temperature": 0}).encode()
        headers = {"Content-Type": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        request = urllib.request.Request(self.config.url.rstrip("/") + "/chat/completions", data=body,
                                         headers=headers, method="POST")

        def post() -> bytes:
            with urllib.request.urlopen(request, timeout=self.config.timeout) as response:
                data: bytes = response.read(4 * 1024 * 1024)
                return data

        try:
            raw = await asyncio.wait_for(asyncio.to_thread(post), timeout=self.config.timeout + 0.5)
            payload = json.loads(raw)
            message = payload["choices"][0]["message"]
        except (OSError, urllib.error.URLError, asyncio.TimeoutError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise LlmUnusable(f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(message, dict):
            raise LlmUnusable("choices[0].message is not an object")
        return message

