"""`assistant.message` on a real server configured with a language model (a scripted loopback endpoint)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from server.assistant.service import FALLBACK_NOTE
from tests.conftest import ServerProcess
from tests.helpers import RpcClient
from tests.server.test_assistant_llm import FakeModel, at, bookable_day, day_words

ZONE = ZoneInfo("Europe/London")


@pytest.fixture
def model() -> Iterator[FakeModel]:
    fake = FakeModel()
    yield fake
    fake.close()


@pytest.fixture
def llm_server(database_url: str, tmp_path: Path, model: FakeModel) -> Iterator[ServerProcess]:
    """The real server, told through its environment to use the loopback model."""
    proc = ServerProcess(database_url, tmp_path / "data", tmp_path / "server.log",
                         extra_env={"CLINIC_LLM_URL": model.url, "CLINIC_LLM_MODEL": "tiny"})
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def alice(llm_server: ServerProcess) -> AsyncIterator[RpcClient]:
    async with RpcClient(llm_server.ws_url) as client:
        await client.login("alice", "demo")
        yield client


async def test_model_driven_booking_through_assistant_message(llm_server: ServerProcess, model: FakeModel,
                                                              alice: RpcClient) -> None:
    """The server's assistant follows the model's tool calls: real slots, then the picked one booked as 'assistant'."""
    day = bookable_day()
    model.tool_call("find_slots", {"appointment_type": "filling", "dentist": "Smith", "when": day_words(day)})
    model.say("Here you are.")
    offer = await alice.call("assistant.message", text=f"I need a filling with Dr Smith on {day_words(day)}")
    real = await alice.call("slots.find", type_id=offer["slots"][0]["type_id"], dentist_id=offer["slots"][0]["dentist_id"],
                            **{"from": day.isoformat(), "to": day.isoformat()})
    assert {s["start"] for s in offer["slots"]} <= {r["start"] for r in real}
    model.tool_call("book_option", {"option": 1}, call_id="call_2")
    model.say("Booked.")
    done = await alice.call("assistant.message", text="option 1 please", conversation_id=offer["conversation_id"])
    assert at(done["appointment"]["start"]) == at(offer["slots"][0]["start"])
    conn = await asyncpg.connect(llm_server.database_url)
    try:
        source = await conn.fetchval("SELECT source FROM appointments WHERE id = $1", done["appointment"]["id"])
    finally:
        await conn.close()
    assert source == "assistant"


async def test_slow_model_falls_back_through_assistant_message(llm_server: ServerProcess, model: FakeModel,
                                                               alice: RpcClient) -> None:
    """A model slower than the server's timeout: assistant.message still answers, says booking works, offers slots."""
    model.delay = 12.0
    day = bookable_day()
    started = time.monotonic()
    result = await alice.call("assistant.message", text=f"a check-up on {day_words(day)}")
    assert time.monotonic() - started < 11
    assert result["reply"].startswith(FALLBACK_NOTE)
    assert result["slots"] and all(datetime.fromisoformat(s["start"]).astimezone(ZONE).date() == day
                                   for s in result["slots"])
    assert timedelta(0) < datetime.fromisoformat(result["slots"][0]["start"]) - datetime.now(ZONE)
