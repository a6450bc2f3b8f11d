"""The language-model engine against a real HTTP server on loopback speaking chat-completions with tools.

The clinic side is the real server (fixture `server`), reached over a real WebSocket as alice;
only the model is scripted, because a real model cannot run here.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from server.assistant import AssistantService, LlmConfig, LlmEngine, LlmUnusable, RuleEngine
from server.assistant.service import FALLBACK_NOTE
from tests.helpers import RpcClient

ZONE = ZoneInfo("Europe/London")
Reply = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]


class FakeModel:
    """A loopback OpenAI-compatible endpoint: answers come from a per-test script, requests are kept."""

    def __init__(self) -> None:
        self.script: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.delay = 0.0
        model = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/v1/chat/completions":
                    self.send_error(404)
                    return
                model.requests.append({"body": body, "auth": self.headers.get("Authorization")})
                if model.delay:
                    time.sleep(model.delay)
                step = model.script.popleft() if model.script else {"role": "assistant", "content": "OK."}
                message = step(body) if callable(step) else step
                payload = json.dumps({"id": "cmpl-1", "object": "chat.completion", "model": body["model"],
                                      "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload.encode())
                except OSError:
                    pass  # the client gave up (the timeout test)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def tool_call(self, name: str, arguments: dict[str, Any] | str, call_id: str = "call_1") -> None:
        raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
        self.script.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": raw}}]})

    def say(self, text: str | None) -> None:
        self.script.append({"role": "assistant", "content": text})

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def model() -> Any:
    fake = FakeModel()
    yield fake
    fake.close()


def as_call(client: RpcClient) -> Callable[[str, dict[str, Any]], Any]:
    """The `call` the server hands the assistant, here made from a real client session over WebSocket."""

    async def call(method: str, params: dict[str, Any]) -> Any:
        return await client.call(method, **params)

    return call


@pytest.fixture
async def alice(server: Any) -> AsyncIterator[tuple[RpcClient, dict[str, Any]]]:
    async with RpcClient(server.ws_url) as client:
        login = await client.login("alice", "demo")
        yield client, login["user"]


@pytest.fixture
async def admin(server: Any) -> AsyncIterator[RpcClient]:
    async with RpcClient(server.ws_url) as client:
        await client.login("frontdesk", "demo")
        yield client


def bookable_day(min_days: int = 3) -> date:
    """A weekday at least `min_days` ahead in the clinic's zone (clear of notice and late-change rules)."""
    d = datetime.now(ZONE).date() + timedelta(days=min_days)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


def at(iso: str) -> datetime:
    """An ISO instant as a datetime (the server writes rows with milliseconds, slots without)."""
    return datetime.fromisoformat(iso)


def day_words(d: date) -> str:
    return f"{d.day} {d:%B}"


async def alice_appointments(admin: RpcClient, patient_id: int) -> list[dict[str, Any]]:
    today = datetime.now(ZONE).date()
    rows = await admin.call("appointments.list", **{"from": today.isoformat(),
                                                     "to": (today + timedelta(days=120)).isoformat(),
                                                     "patient_id": patient_id})
    return [r for r in rows if r["status"] != "cancelled" and r["patient_id"] == patient_id]


async def test_llm_tool_calls_offer_real_slots_and_book_the_pick(model: FakeModel, alice: Any, admin: RpcClient) -> None:
    """The model's find_slots and book_option calls run the engine: real slots offered, the pick booked."""
    client, user = alice
    service = AssistantService(llm=LlmConfig(url=model.url, model="tiny", api_key="sk-test", timeout=5))
    day = bookable_day()
    model.tool_call("find_slots", {"appointment_type": "cleaning", "dentist": "Dr Patel",
                                   "when": f"{day_words(day)} afternoon"})
    model.say("Here are some afternoon times with Dr Patel.")
    first = await service.handle(user=user, text=f"Could I have a cleaning with Dr Patel on {day_words(day)} afternoon?",
                                 conversation_id=None, call=as_call(client))
    real = await client.call("slots.find", type_id=first["slots"][0]["type_id"], dentist_id=first["slots"][0]["dentist_id"],
                             **{"from": day.isoformat(), "to": day.isoformat()})
    real_starts = {r["start"] for r in real}
    assert first["slots"] and all(s["start"] in real_starts for s in first["slots"])
    assert all(datetime.fromisoformat(s["start"]).astimezone(ZONE).hour >= 12 for s in first["slots"])
    second_request = model.requests[1]["body"]["messages"]
    tool_messages = [m for m in second_request if m["role"] == "tool"]
    assert tool_messages and tool_messages[0]["tool_call_id"] == "call_1"
    assert len(json.loads(tool_messages[0]["content"])["options"]) == len(first["slots"])
    assert model.requests[0]["auth"] == "Bearer sk-test"
    assert {t["function"]["name"] for t in model.requests[0]["body"]["tools"]} >= {"find_slots", "book_option"}

    model.tool_call("book_option", {"option": 2}, call_id="call_2")
    model.say("All booked!")
    done = await service.handle(user=user, text="book number 2 please", conversation_id=first["conversation_id"],
                                call=as_call(client))
    assert at(done["appointment"]["start"]) == at(first["slots"][1]["start"])
    assert done["reply"].startswith("Booked")
    rows = await alice_appointments(admin, user["patient_id"])
    assert [at(r["start"]) for r in rows if r["id"] == done["appointment"]["id"]] == [at(first["slots"][1]["start"])]


async def test_llm_cannot_book_without_the_users_pick(model: FakeModel, alice: Any, admin: RpcClient) -> None:
    """A model that calls book_option while the user is still undecided books nothing."""
    client, user = alice
    service = AssistantService(llm=LlmConfig(url=model.url, model="tiny", timeout=5))
    day = bookable_day(4)
    model.tool_call("find_slots", {"appointment_type": "check-up", "when": day_words(day)})
    model.say("Some times.")
    first = await service.handle(user=user, text=f"check-up on {day_words(day)}", conversation_id=None,
                                 call=as_call(client))
    before = await alice_appointments(admin, user["patient_id"])
    model.tool_call("book_option", {"option": 1})
    model.say("Which one would you like?")
    answer = await service.handle(user=user, text="hmm, I'm not sure yet", conversation_id=first["conversation_id"],
                                  call=as_call(client))
    assert "appointment" not in answer
    assert answer["reply"] == "Which one would you like?"
    tool_result = [m for m in model.requests[-1]["body"]["messages"] if m["role"] == "tool"][-1]
    assert "not picked" in tool_result["content"]
    assert await alice_appointments(admin, user["patient_id"]) == before


async def test_llm_small_talk_is_the_models_own_words(model: FakeModel, alice: Any) -> None:
    """With no tool call, the model's text is the reply, and the history goes back on the next turn."""
    client, user = alice
    service = AssistantService(llm=LlmConfig(url=model.url, model="tiny", timeout=5))
    model.say("Hello Alice! How can I help with your teeth today?")
    first = await service.handle(user=user, text="hi there", conversation_id=None, call=as_call(client))
    assert first["reply"] == "Hello Alice! How can I help with your teeth today?"
    model.say("Sure.")
    await service.handle(user=user, text="just browsing", conversation_id=first["conversation_id"], call=as_call(client))
    history = [m["content"] for m in model.requests[-1]["body"]["messages"] if m["role"] in ("user", "assistant")]
    assert history == ["hi there", "Hello Alice! How can I help with your teeth today?", "just browsing"]


async def test_llm_timeout_falls_back_and_booking_still_works(model: FakeModel, alice: Any, admin: RpcClient) -> None:
    """A model slower than the timeout: the offline engine answers at once, says so, and books."""
    client, user = alice
    model.delay = 3.0
    service = AssistantService(llm=LlmConfig(url=model.url, model="tiny", timeout=0.5))
    day = bookable_day()
    started = time.monotonic()
    first = await service.handle(user=user, text=f"a check-up with Dr Smith on {day_words(day)}",
                                 conversation_id=None, call=as_call(client))
    assert time.monotonic() - started < 2.5
    assert first["reply"].startswith(FALLBACK_NOTE) and "booking still works" in first["reply"]
    assert first["slots"] and all(s["dentist_id"] == first["slots"][0]["dentist_id"] for s in first["slots"])
    done = await service.handle(user=user, text="1", conversation_id=first["conversation_id"], call=as_call(client))
    assert at(done["appointment"]["start"]) == at(first["slots"][0]["start"])
    rows = await alice_appointments(admin, user["patient_id"])
    assert any(r["id"] == done["appointment"]["id"] for r in rows)


async def test_llm_malformed_tool_arguments_fall_back(model: FakeModel, alice: Any) -> None:
    """Tool arguments that are not JSON: no error reaches the user; the offline engine offers real slots."""
    client, user = alice
    service = AssistantService(llm=LlmConfig(url=model.url, model="tiny", timeout=5))
    model.tool_call("find_slots", '{"appointment_type": "clean')
    day = bookable_day()
    result = await service.handle(user=user, text=f"a cleaning on {day_words(day)}", conversation_id=None,
                                  call=as_call(client))
    assert result["reply"].startswith(FALLBACK_NOTE)
    assert result["slots"] and all(datetime.fromisoformat(s["start"]).astimezone(ZONE).date() == day
                                   for s in result["slots"])


async def test_llm_unknown_tool_falls_back(model: FakeModel, alice: Any) -> None:
    """A tool the engine does not have is nonsense: the offline engine answers instead."""
    client, user = alice
    service = AssistantService(llm=LlmConfig(url=model.url, model="tiny", timeout=5))
    model.tool_call("drop_all_tables", {})
    result = await service.handle(user=user, text="when is my next appointment?", conversation_id=None,
                                  call=as_call(client))
    assert result["reply"].startswith(FALLBACK_NOTE)
    assert "appointment" in result["reply"].lower()


async def test_llm_empty_answer_falls_back(model: FakeModel, alice: Any) -> None:
    """An answer with neither text nor a tool call is nonsense too."""
    client, user = alice
    service = AssistantService(llm=LlmConfig(url=model.url, model="tiny", timeout=5))
    model.say(None)
    result = await service.handle(user=user, text="help", conversation_id=None, call=as_call(client))
    assert result["reply"].startswith(FALLBACK_NOTE) and "book" in result["reply"]


async def test_llm_unreachable_falls_back(alice: Any) -> None:
    """Nothing listening at the model's address: the offline engine answers, saying booking still works."""
    client, user = alice
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    service = AssistantService(llm=LlmConfig(url=f"http://127.0.0.1:{port}/v1", model="tiny", timeout=2))
    day = bookable_day()
    result = await service.handle(user=user, text=f"earliest filling after {day_words(day)}", conversation_id=None,
                                  call=as_call(client))
    assert result["reply"].startswith(FALLBACK_NOTE)
    assert result["slots"]


async def test_llm_errors_from_the_server_reach_the_model_as_results(model: FakeModel, alice: Any, admin: RpcClient) -> None:
    """A staff-only type asked through the model is refused by the same rules; nothing is booked."""
    client, user = alice
    service = AssistantService(llm=LlmConfig(url=model.url, model="tiny", timeout=5))
    before = await alice_appointments(admin, user["patient_id"])
    model.tool_call("find_slots", {"appointment_type": "root canal", "when": "next week"})
    model.say("Sorry, root canals must be booked by the front desk.")
    result = await service.handle(user=user, text="I need a root canal next week", conversation_id=None,
                                  call=as_call(client))
    tool_result = [m for m in model.requests[-1]["body"]["messages"] if m["role"] == "tool"][-1]
    assert "front desk" in tool_result["content"]
    assert "slots" not in result
    assert await alice_appointments(admin, user["patient_id"]) == before



# --------------------------------------------------------------------------- the HTTP client alone


def _engine(url: str, timeout: float = 5) -> LlmEngine:
    return LlmEngine(LlmConfig(url=url, model="tiny", api_key="sk-x", timeout=timeout), RuleEngine())


async def test_completion_request_is_openai_shaped(model: FakeModel) -> None:
    """POST {url}/chat/completions with model, messages, tools and a bearer key; choices[0].message comes back."""
    model.tool_call("list_appointments", {})
    message = await _engine(model.url)._complete([{"role": "user", "content": "hi"}])
    assert message["tool_calls"][0]["function"]["name"] == "list_appointments"
    sent = model.requests[0]
    assert sent["auth"] == "Bearer sk-x"
    assert sent["body"]["model"] == "tiny" and sent["body"]["messages"] == [{"role": "user", "content": "hi"}]
    assert all(t["type"] == "function" and "parameters" in t["function"] for t in sent["body"]["tools"])


async def test_completion_timeout_is_unusable(model: FakeModel) -> None:
    """A model slower than the configured timeout raises LlmUnusable within about the timeout."""
    model.delay = 2.0
    started = time.monotonic()
    with pytest.raises(LlmUnusable):
        await _engine(model.url, timeout=0.3)._complete([{"role": "user", "content": "hi"}])
    assert time.monotonic() - started < 1.5


async def test_completion_wrong_path_is_unusable(model: FakeModel) -> None:
    """An endpoint that answers 404 (wrong base URL) is unusable, not an exception for the user."""
    with pytest.raises(LlmUnusable):
        await _engine(model.url.replace("/v1", "/nope"))._complete([{"role": "user", "content": "hi"}])


@pytest.mark.parametrize(
    "call",
    [
        {"id": "c", "function": {"name": "find_slots", "arguments": "{not json"}},
        {"id": "c", "function": {"name": "rm_rf", "arguments": "{}"}},
        {"id": "c", "function": {"name": "find_slots", "arguments": "[1, 2]"}},
        {"id": "c"},
    ],
)
def test_nonsense_tool_calls_are_unusable(call: dict[str, Any]) -> None:
    """Malformed JSON arguments, unknown tools, non-object arguments and missing functions are refused."""
    with pytest.raises(LlmUnusable):
        _engine("http://127.0.0.1:9")._parse_call(call)
