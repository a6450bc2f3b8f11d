"""Scripted conversations with the booking assistant over a real WebSocket against the real server.

Each test talks through `assistant.message` as a logged-in user, then checks the database itself
(asyncpg on the server's database) and that the reply says something sensible. Dates are worked
out at run time in the clinic's zone, the same way the assistant reads them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from tests.helpers import RpcClient

ZONE = ZoneInfo("Europe/London")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


# --------------------------------------------------------------------------- helpers


def clinic_now() -> datetime:
    return datetime.now(ZONE)


def today() -> date:
    return clinic_now().date()


def words(d: date) -> str:
    """How a user names a date: "3 December"."""
    return f"{d.day} {d:%B}"


def ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def local(iso: str) -> datetime:
    return datetime.fromisoformat(iso).astimezone(ZONE)


def weekdays_from(first: date, count: int = 40) -> list[date]:
    days = [first + timedelta(days=i) for i in range(count)]
    return [d for d in days if d.weekday() < 5]


def next_day_of_month(n: int) -> date:
    """The first date from today on that falls on day `n` of its month."""
    d = today()
    while d.day != n:
        d += timedelta(days=1)
    return d


def unambiguous_next_weekday() -> tuple[str, date]:
    """A Mon-Fri weekday whose "next <name>" has one reading today: the one in the coming 7 days, next week."""
    t = today()
    wd = min(t.weekday(), 4)
    delta = (wd - t.weekday()) % 7 or 7
    return WEEKDAYS[wd], t + timedelta(days=delta)


def asyncpg_url(url: str) -> str:
    return re.sub(r"^postgres(ql)?\+\w+://", "postgresql://", url)


@dataclass
class Chat:
    """One user's conversation with the assistant through `assistant.message`."""

    client: RpcClient
    user: dict[str, Any]
    conversation_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    async def say(self, text: str) -> dict[str, Any]:
        params: dict[str, Any] = {"text": text, **self.extra}
        if self.conversation_id is not None:
            params["conversation_id"] = self.conversation_id
        result: dict[str, Any] = await self.client.call("assistant.message", **params)
        self.conversation_id = result["conversation_id"]
        return result


class Db:
    """Direct reads of the server's database, to check what really happened."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def patient_id(self, username: str) -> int:
        return int(await self.conn.fetchval(
            "SELECT p.id FROM patients p JOIN users u ON u.id = p.user_id WHERE u.username = $1", username))

    async def dentist_id(self, surname: str) -> int:
        return int(await self.conn.fetchval("SELECT id FROM dentists WHERE name ILIKE $1", f"%{surname}%"))

    async def type_id(self, name: str) -> int:
        return int(await self.conn.fetchval("SELECT id FROM appointment_types WHERE name ILIKE $1", name))

    async def appointments(self, patient_id: int, *, live_only: bool = True) -> list[asyncpg.Record]:
        sql = (
            "SELECT a.id, a.start_at, a.end_at, a.status, a.source, a.version, a.dentist_id, a.type_id, "
            "a.patient_id, a.cancel_reason, t.name AS type_name, d.name AS dentist_name "
            "FROM appointments a JOIN appointment_types t ON t.id = a.type_id JOIN dentists d ON d.id = a.dentist_id "
            "WHERE a.patient_id = $1" + (" AND a.status NOT IN ('cancelled', 'no_show')" if live_only else "")
            + " ORDER BY a.start_at"
        )
        return list(await self.conn.fetch(sql, patient_id))

    async def appointment(self, appointment_id: int) -> asyncpg.Record:
        return await self.conn.fetchrow(
            "SELECT id, start_at, end_at, status, source, version, dentist_id, type_id, patient_id, cancel_reason "
            "FROM appointments WHERE id = $1", appointment_id)

    async def count_all(self) -> int:
        return int(await self.conn.fetchval("SELECT count(*) FROM appointments"))

    async def free_day(self, patient_id: int, min_days: int = 3, *, not_before: date | None = None) -> date:
        """A weekday at least `min_days` ahead on which this patient has nothing booked."""
        first = max(today() + timedelta(days=min_days), not_before or today())
        taken = {local(r["start_at"].isoformat()).date() for r in await self.appointments(patient_id)}
        return next(d for d in weekdays_from(first) if d not in taken)


@pytest.fixture
async def db(server: Any) -> AsyncIterator[Db]:
    conn = await asyncpg.connect(asyncpg_url(server.database_url))
    try:
        yield Db(conn)
    finally:
        await conn.close()


async def _login(server: Any, username: str) -> tuple[RpcClient, dict[str, Any]]:
    client = RpcClient(server.ws_url)
    await client.__aenter__()
    login = await client.login(username, "demo")
    return client, login["user"]


@pytest.fixture
async def users(server: Any) -> AsyncIterator[dict[str, Chat]]:
    """Logged-in chats for alice, bob, frontdesk and drsmith (each on its own WebSocket)."""
    chats: dict[str, Chat] = {}
    for name in ("alice", "bob", "frontdesk", "drsmith"):
        client, user = await _login(server, name)
        chats[name] = Chat(client, user)
    try:
        yield chats
    finally:
        for chat in chats.values():
            await chat.client.__aexit__(None, None, None)


@pytest.fixture
def alice(users: dict[str, Chat]) -> Chat:
    return users["alice"]


@pytest.fixture
def bob(users: dict[str, Chat]) -> Chat:
    return users["bob"]


@pytest.fixture
def frontdesk(users: dict[str, Chat]) -> Chat:
    return users["frontdesk"]


async def real_slots(chat: Chat, type_id: int, first: date, last: date, dentist_id: int | None = None,
                     **extra: Any) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"type_id": type_id, "from": first.isoformat(), "to": last.isoformat(), **extra}
    if dentist_id is not None:
        params["dentist_id"] = dentist_id
    rows: list[dict[str, Any]] = await chat.client.call("slots.find", **params)
    return rows


async def assert_offered_slots_are_real(chat: Chat, result: dict[str, Any]) -> None:
    """Every offered slot is one `slots.find` gives this user right now, and at most five are offered."""
    slots = result["slots"]
    assert 1 <= len(slots) <= 5
    for s in slots:
        day = local(s["start"]).date()
        real = await real_slots(chat, s["type_id"], day, day, s["dentist_id"])
        assert (s["start"], s["end"]) in {(r["start"], r["end"]) for r in real}, s
    for i, s in enumerate(slots, 1):
        assert f"{i})" in result["reply"]
        assert local(s["start"]).strftime("%H:%M") in result["reply"]


async def book_for(frontdesk: Chat, patient_id: int, dentist_id: int, type_id: int, day: date,
                   not_before: time = time(9, 0)) -> dict[str, Any]:
    """Book a real slot for a patient the normal way (front desk over RPC) as a test's starting point."""
    slots = await real_slots(frontdesk, type_id, day, day, dentist_id, patient_id=patient_id)
    slot = next(s for s in slots if local(s["start"]).time() >= not_before)
    row: dict[str, Any] = await frontdesk.client.call(
        "appointments.create", dentist_id=dentist_id, type_id=type_id, start=slot["start"], patient_id=patient_id)
    return row


async def book_soon(frontdesk: Chat, patient_id: int, dentist_id: int, type_id: int, hours_ahead: float,
                    hours_window: float = 3.0, db: Db | None = None) -> dict[str, Any]:
    """The patient's next appointment, `hours_ahead` from now, inside extra hours the front desk opens for it.

    Any of the patient's appointments before it are cancelled first, so it really is the next one.
    """
    start = datetime.now(timezone.utc) + timedelta(hours=hours_ahead)
    if db is not None:
        for r in await db.appointments(patient_id):
            if r["start_at"] < start + timedelta(hours=hours_window) and r["status"] in ("scheduled", "confirmed"):
                await frontdesk.client.call("appointments.cancel", id=r["id"])
    start = start.replace(minute=(start.minute // 15) * 15, second=0, microsecond=0) + timedelta(minutes=15)
    await frontdesk.client.call(
        "exceptions.add", dentist_id=dentist_id, start=start.isoformat(),
        end=(start + timedelta(hours=hours_window)).isoformat(), kind="extra", reason="assistant test")
    row: dict[str, Any] = await frontdesk.client.call(
        "appointments.create", dentist_id=dentist_id, type_id=type_id, start=start.isoformat(), patient_id=patient_id)
    return row


# --------------------------------------------------------------------------- booking


async def test_book_cleaning_with_dentist_next_weekday_afternoon(alice: Chat, db: Db) -> None:
    """"a cleaning with Dr Patel next <day> afternoon" offers real afternoon slots; "the second one" books it."""
    name, day = unambiguous_next_weekday()
    patel, cleaning = await db.dentist_id("Patel"), await db.type_id("Cleaning")
    offer = await alice.say(f"a cleaning with Dr Patel next {name} afternoon")
    await assert_offered_slots_are_real(alice, offer)
    for s in offer["slots"]:
        assert (s["dentist_id"], s["type_id"]) == (patel, cleaning)
        assert local(s["start"]).date() == day and local(s["start"]).hour >= 12
    before = await db.appointments(alice.user["patient_id"])
    done = await alice.say("the second one")
    assert done["reply"].startswith("Booked") and "Dr Patel" in done["reply"]
    after = await db.appointments(alice.user["patient_id"])
    new = [r for r in after if r["id"] not in {b["id"] for b in before}]
    assert len(new) == 1
    assert new[0]["start_at"] == datetime.fromisoformat(offer["slots"][1]["start"])
    assert (new[0]["dentist_id"], new[0]["type_id"], new[0]["status"], new[0]["source"]) == (
        patel, cleaning, "scheduled", "assistant")
    assert done["appointment"]["id"] == new[0]["id"]


async def test_earliest_checkup_offers_the_soonest_free_slots(alice: Chat, db: Db) -> None:
    """"earliest check-up" offers exactly the first free check-up slots, and "1" books the first."""
    checkup = await db.type_id("Check-up")
    offer = await alice.say("earliest check-up")
    real = await real_slots(alice, checkup, today(), today() + timedelta(days=13))
    assert [s["start"] for s in offer["slots"]] == [r["start"] for r in real[: len(offer["slots"])]]
    assert len(offer["slots"]) == min(5, len(real))
    done = await alice.say("1")
    assert "Booked" in done["reply"]
    rows = await db.appointments(alice.user["patient_id"])
    assert any(r["id"] == done["appointment"]["id"] and r["type_id"] == checkup for r in rows)


async def test_something_after_4pm_on_a_day_asks_for_the_type(alice: Chat, db: Db) -> None:
    """"something after 4pm on the <nth>" asks what kind of appointment, then offers only slots from 16:00."""
    # "the 14th" means the next 14th from today, so pick a weekday that is that next one.
    day = next(d for d in weekdays_from(today() + timedelta(days=3)) if next_day_of_month(d.day) == d)
    question = await alice.say(f"something after 4pm on the {ordinal(day.day)}")
    assert "slots" not in question and "check-up" in question["reply"].lower()
    offer = await alice.say("a check-up please")
    await assert_offered_slots_are_real(alice, offer)
    assert all(local(s["start"]).date() == day and local(s["start"]).time() >= time(16) for s in offer["slots"])
    done = await alice.say("book option 1")
    row = await db.appointment(done["appointment"]["id"])
    assert row["start_at"] == datetime.fromisoformat(offer["slots"][0]["start"])


async def test_pick_by_time_of_day(alice: Chat, db: Db) -> None:
    """Answering with a clock time ("10:30") books the offered slot at that time."""
    day = await db.free_day(alice.user["patient_id"])
    offer = await alice.say(f"check-up with Dr Smith on {words(day)} in the morning")
    await assert_offered_slots_are_real(alice, offer)
    pick = offer["slots"][-1]
    clock = local(pick["start"]).strftime("%H:%M")
    done = await alice.say(clock)
    assert clock in done["reply"]
    row = await db.appointment(done["appointment"]["id"])
    assert row["start_at"] == datetime.fromisoformat(pick["start"])


async def test_yes_books_a_single_exact_offer(alice: Chat, db: Db) -> None:
    """An exact free time is offered alone; a plain "yes" books it."""
    day = await db.free_day(alice.user["patient_id"])
    smith, checkup = await db.dentist_id("Smith"), await db.type_id("Check-up")
    free = [s for s in await real_slots(alice, checkup, day, day, smith) if local(s["start"]).hour < 12]
    wanted = local(free[1]["start"])
    offer = await alice.say(f"a check-up with Dr Smith on {words(day)} at {wanted:%H:%M}")
    assert [s["start"] for s in offer["slots"]] == [free[1]["start"]]
    done = await alice.say("yes")
    assert local(done["appointment"]["start"]) == local(free[1]["start"])
    assert len([r for r in await db.appointments(alice.user["patient_id"]) if r["id"] == done["appointment"]["id"]]) == 1


async def test_bare_yes_with_several_offers_asks_which(alice: Chat, db: Db) -> None:
    """"yes" to five options books nothing and asks which; "book option 3" then books the third."""
    day = await db.free_day(alice.user["patient_id"])
    offer = await alice.say(f"a filling on {words(day)}")
    assert len(offer["slots"]) > 1
    before = await db.count_all()
    ask = await alice.say("yes")
    assert "which" in ask["reply"].lower() and "appointment" not in ask
    assert await db.count_all() == before
    done = await alice.say("book option 3")
    assert local(done["appointment"]["start"]) == local(offer["slots"][2]["start"])
    assert await db.count_all() == before + 1


async def test_no_books_nothing(alice: Chat, db: Db) -> None:
    """"no" to an offer books nothing, and a later "1" is not taken as a confirmation."""
    day = await db.free_day(alice.user["patient_id"])
    await alice.say(f"check-up on {words(day)}")
    before = await db.count_all()
    declined = await alice.say("no thanks")
    assert "haven't booked" in declined["reply"]
    later = await alice.say("1")
    assert "appointment" not in later
    assert await db.count_all() == before


async def test_retried_confirmation_never_double_books(alice: Chat, db: Db) -> None:
    """The same confirmation sent twice (a retry) returns the same appointment; one row exists."""
    day = await db.free_day(alice.user["patient_id"])
    await alice.say(f"a cleaning on {words(day)}")
    before = await db.count_all()
    first = await alice.say("2")
    again = await alice.say("2")
    assert again["appointment"]["id"] == first["appointment"]["id"]
    assert "already" in again["reply"]
    assert await db.count_all() == before + 1
    key = await db.conn.fetchval("SELECT idempotency_key FROM appointments WHERE id = $1", first["appointment"]["id"])
    assert key and "assistant-" in key  # the server may scope the key per user


async def test_concurrent_duplicate_confirmations_book_once(server: Any, alice: Chat, db: Db) -> None:
    """Two copies of one confirmation racing on two sockets in the same conversation book exactly once."""
    day = await db.free_day(alice.user["patient_id"])
    offer = await alice.say(f"a check-up on {words(day)}")
    before = await db.count_all()
    async with RpcClient(server.ws_url) as second:
        await second.login("alice", "demo")
        twin = Chat(second, alice.user, alice.conversation_id)
        results = await asyncio.gather(alice.say("1"), twin.say("1"))
    assert {r["appointment"]["id"] for r in results} == {results[0]["appointment"]["id"]}
    assert local(results[0]["appointment"]["start"]) == local(offer["slots"][0]["start"])
    assert await db.count_all() == before + 1


async def test_slot_taken_between_offer_and_confirmation(alice: Chat, bob: Chat, db: Db) -> None:
    """Bob books the slot alice was offered; her "1" says it was taken and offers fresh, free slots."""
    day = await db.free_day(alice.user["patient_id"])
    smith = await db.dentist_id("Smith")
    offer = await alice.say(f"a check-up with Dr Smith on {words(day)}")
    taken = offer["slots"][0]
    await bob.client.call("appointments.create", dentist_id=taken["dentist_id"], type_id=taken["type_id"],
                          start=taken["start"])
    retry = await alice.say("1")
    assert "taken" in retry["reply"] and "appointment" not in retry
    assert taken["start"] not in [s["start"] for s in retry["slots"]]
    await assert_offered_slots_are_real(alice, retry)
    assert all(s["dentist_id"] == smith for s in retry["slots"])
    mine = await db.appointments(alice.user["patient_id"])
    assert not any(r["start_at"] == datetime.fromisoformat(taken["start"]) for r in mine)
    done = await alice.say("1")
    assert local(done["appointment"]["start"]) == local(retry["slots"][0]["start"])


async def test_saturday_is_outside_working_hours(alice: Chat, db: Db) -> None:
    """Asking for a Saturday says nothing is free then and offers the nearest weekday slots instead."""
    saturday = today() + timedelta(days=(5 - today().weekday()) % 7 or 7)
    before = await db.count_all()
    result = await alice.say(f"book a check-up on {words(saturday)}")
    assert "nothing is free" in result["reply"].lower()
    await assert_offered_slots_are_real(alice, result)
    assert all(local(s["start"]).date() > saturday and local(s["start"]).weekday() < 5 for s in result["slots"])
    assert await db.count_all() == before


async def test_evening_time_is_outside_working_hours(alice: Chat, db: Db) -> None:
    """"at 7pm" finds nothing (the clinic closes at 17:00) and offers that day's real free times."""
    day = await db.free_day(alice.user["patient_id"])
    result = await alice.say(f"a check-up on {words(day)} at 7pm")
    assert "nothing is free" in result["reply"].lower() and "19:00" in result["reply"]
    await assert_offered_slots_are_real(alice, result)
    assert all(local(s["start"]).date() == day and local(s["start"]).hour < 17 for s in result["slots"])


async def test_staff_only_root_canal_is_refused_for_a_patient(alice: Chat, db: Db) -> None:
    """A patient asking for a root canal is told to call the front desk; no slot is offered or booked."""
    before = await db.appointments(alice.user["patient_id"])
    result = await alice.say("I need to book a root canal next week")
    assert "front desk" in result["reply"] and "slots" not in result
    assert await db.appointments(alice.user["patient_id"]) == before


async def test_front_desk_books_root_canal_for_a_patient(frontdesk: Chat, db: Db) -> None:
    """Staff acting for alice (patient_id given) can book the staff-only root canal for her."""
    alice_id = await db.patient_id("alice")
    frontdesk.extra = {"patient_id": alice_id}
    day = await db.free_day(alice_id)
    offer = await frontdesk.say(f"root canal with Dr Smith on {words(day)}")
    await assert_offered_slots_are_real(frontdesk, offer)
    done = await frontdesk.say("1")
    row = await db.appointment(done["appointment"]["id"])
    assert (row["patient_id"], row["type_id"], row["source"]) == (alice_id, await db.type_id("Root canal"), "assistant")


async def test_admin_without_a_patient_is_asked_who(frontdesk: Chat, db: Db) -> None:
    """The front desk with no patient selected is asked who it is for; "bob" finds him and the booking is his."""
    bob_id = await db.patient_id("bob")
    day = await db.free_day(bob_id)
    question = await frontdesk.say(f"a cleaning on {words(day)}")
    assert "who is the patient" in question["reply"].lower() and "slots" not in question
    offer = await frontdesk.say("bob")
    assert offer["slots"] and "Acting for" in offer["reply"]
    done = await frontdesk.say("1")
    row = await db.appointment(done["appointment"]["id"])
    assert row["patient_id"] == bob_id


async def test_typos_in_type_and_dentist(alice: Chat, db: Db) -> None:
    """"a cleaing with dr patle" still means a cleaning with Dr Patel."""
    day = await db.free_day(alice.user["patient_id"])
    result = await alice.say(f"a cleaing with dr patle on {words(day)}")
    await assert_offered_slots_are_real(alice, result)
    assert {(s["dentist_id"], s["type_id"]) for s in result["slots"]} == {
        (await db.dentist_id("Patel"), await db.type_id("Cleaning"))}


async def test_the_hygienist_means_a_cleaning(alice: Chat, db: Db) -> None:
    """"see the hygienist" is a cleaning (45 minutes)."""
    day = await db.free_day(alice.user["patient_id"])
    result = await alice.say(f"can I see the hygienist on {words(day)}")
    assert {s["type_id"] for s in result["slots"]} == {await db.type_id("Cleaning")}
    assert all(local(s["end"]) - local(s["start"]) == timedelta(minutes=45) for s in result["slots"])


async def test_dentist_written_with_title_and_dot(alice: Chat, db: Db) -> None:
    """"Dr. Smith" with a dot, in capitals, is Dr Smith; "morning" keeps slots before noon."""
    day = await db.free_day(alice.user["patient_id"])
    result = await alice.say(f"CHECK-UP WITH DR. SMITH ON {words(day).upper()} MORNING")
    assert {s["dentist_id"] for s in result["slots"]} == {await db.dentist_id("Smith")}
    assert all(local(s["start"]).hour < 12 for s in result["slots"])


async def test_ambiguous_numeric_date_is_asked_about(alice: Chat, db: Db) -> None:
    """"04/12"-style dates with two readings get a question; "the first one" picks the day-month reading."""
    day = next(d for d in weekdays_from(today() + timedelta(days=3), 60) if d.day <= 12 and d.day != d.month)
    before = await db.count_all()
    question = await alice.say(f"a check-up on {day.day:02d}/{day.month:02d}")
    assert "which day" in question["reply"].lower() and "slots" not in question
    offer = await alice.say("the first one")
    assert offer["slots"] and all(local(s["start"]).date() == day for s in offer["slots"])
    assert await db.count_all() == before


async def test_missing_type_is_asked_then_used(alice: Chat, db: Db) -> None:
    """A request with only a date gets "what kind?"; the answer keeps the date."""
    day = await db.free_day(alice.user["patient_id"])
    question = await alice.say(f"can I book something on {words(day)}?")
    assert "what kind" in question["reply"].lower()
    offer = await alice.say("filling")
    assert {s["type_id"] for s in offer["slots"]} == {await db.type_id("Filling")}
    assert all(local(s["start"]).date() == day for s in offer["slots"])


async def test_changing_the_day_of_a_pending_offer(alice: Chat, db: Db) -> None:
    """"what about <another day>?" searches again for the same type on the new day."""
    first_day = await db.free_day(alice.user["patient_id"])
    second_day = await db.free_day(alice.user["patient_id"], not_before=first_day + timedelta(days=1))
    await alice.say(f"a cleaning on {words(first_day)}")
    offer = await alice.say(f"what about {words(second_day)}?")
    assert offer["slots"] and all(local(s["start"]).date() == second_day for s in offer["slots"])
    assert {s["type_id"] for s in offer["slots"]} == {await db.type_id("Cleaning")}


async def test_other_times_shows_different_real_slots(alice: Chat, db: Db) -> None:
    """"other times" offers further free slots not shown before."""
    day = await db.free_day(alice.user["patient_id"])
    first = await alice.say(f"a check-up on {words(day)}")
    more = await alice.say("any other times?")
    await assert_offered_slots_are_real(alice, more)
    shown = {(s["start"], s["dentist_id"]) for s in first["slots"]}
    assert not shown & {(s["start"], s["dentist_id"]) for s in more["slots"]}


async def test_beyond_ninety_days_is_refused(alice: Chat, db: Db) -> None:
    """A date more than 90 days ahead gets a clear answer and no slots."""
    far = today() + timedelta(days=120)
    result = await alice.say(f"a check-up on {far.day} {far:%B} {far.year}")
    assert "90 days" in result["reply"] and "slots" not in result


async def test_unclear_message_gets_help(alice: Chat, db: Db) -> None:
    """Gibberish gets a short explanation of what the assistant can do, and changes nothing."""
    before = await db.count_all()
    result = await alice.say("purple elephants")
    assert "book" in result["reply"] and "slots" not in result
    hello = await alice.say("hello")
    assert hello["reply"].startswith("Hello")
    assert await db.count_all() == before


# --------------------------------------------------------------------------- moving


async def test_move_weekday_appointment_to_next_week(alice: Chat, frontdesk: Chat, db: Db) -> None:
    """"move my <weekday> appointment to next week" offers next week's slots and moves the same row."""
    alice_id = alice.user["patient_id"]
    taken = {local(r["start_at"].isoformat()).date() for r in await db.appointments(alice_id)}
    day = next(d for d in weekdays_from(today() + timedelta(days=2), 6) if d not in taken and d <= today() + timedelta(days=7))
    appt = await book_for(frontdesk, alice_id, await db.dentist_id("Smith"), await db.type_id("Check-up"), day)
    offer = await alice.say(f"move my {WEEKDAYS[day.weekday()]} appointment to next week")
    monday = today() - timedelta(days=today().weekday()) + timedelta(days=7)
    assert offer["slots"] and all(monday <= local(s["start"]).date() <= monday + timedelta(days=6) for s in offer["slots"])
    assert all(s["dentist_id"] == appt["dentist_id"] and s["type_id"] == appt["type_id"] for s in offer["slots"])
    done = await alice.say("1")
    assert "moved" in done["reply"]
    row = await db.appointment(appt["id"])
    assert row["start_at"] == datetime.fromisoformat(offer["slots"][0]["start"])
    assert row["version"] > appt["version"] and row["status"] == "scheduled"


async def test_move_by_type_to_a_date_afternoon(alice: Chat, frontdesk: Chat, db: Db) -> None:
    """"reschedule my cleaning to <date> afternoon" finds the cleaning and offers afternoon slots that day."""
    alice_id = alice.user["patient_id"]
    day = await db.free_day(alice_id)
    target = await db.free_day(alice_id, not_before=day + timedelta(days=1))
    appt = await book_for(frontdesk, alice_id, await db.dentist_id("Patel"), await db.type_id("Cleaning"), day)
    offer = await alice.say(f"reschedule my cleaning on {words(day)} to {words(target)} afternoon")
    assert offer["slots"] and all(local(s["start"]).date() == target and local(s["start"]).hour >= 12
                                  for s in offer["slots"])
    done = await alice.say("2")
    row = await db.appointment(appt["id"])
    assert row["start_at"] == datetime.fromisoformat(offer["slots"][1]["start"]) == datetime.fromisoformat(done["appointment"]["start"])


async def test_move_to_the_afternoon_keeps_the_day(alice: Chat, frontdesk: Chat, db: Db) -> None:
    """"move my check-up to the afternoon" offers that same day's afternoon; "what about 4pm?" narrows it."""
    alice_id = alice.user["patient_id"]
    day = await db.free_day(alice_id)
    appt = await book_for(frontdesk, alice_id, await db.dentist_id("Smith"), await db.type_id("Check-up"), day)
    offer = await alice.say(f"move my check-up on {words(day)} to the afternoon")
    assert offer["slots"] and all(local(s["start"]).date() == day and local(s["start"]).hour >= 12
                                  for s in offer["slots"])
    narrowed = await alice.say("what about 4pm?")
    assert [local(s["start"]).strftime("%H:%M") for s in narrowed["slots"]] == ["16:00"]
    await alice.say("yes")
    row = await db.appointment(appt["id"])
    assert local(row["start_at"].isoformat()) == datetime.combine(day, time(16), ZONE)


async def test_move_with_several_appointments_asks_which(alice: Chat, frontdesk: Chat, db: Db) -> None:
    """With two appointments on one day, "move my appointment on <day>" asks which; the answer is honoured."""
    alice_id = alice.user["patient_id"]
    day = await db.free_day(alice_id)
    target = await db.free_day(alice_id, not_before=day + timedelta(days=1))
    smith, patel = await db.dentist_id("Smith"), await db.dentist_id("Patel")
    first = await book_for(frontdesk, alice_id, smith, await db.type_id("Check-up"), day, time(9, 0))
    second = await book_for(frontdesk, alice_id, patel, await db.type_id("Filling"), day, time(13, 0))
    question = await alice.say(f"move my appointment on {words(day)} to {words(target)}")
    assert "which" in question["reply"].lower() and "slots" not in question
    offer = await alice.say("the filling")
    assert {s["type_id"] for s in offer["slots"]} == {second["type_id"]}
    await alice.say("1")
    assert (await db.appointment(second["id"]))["start_at"] == datetime.fromisoformat(offer["slots"][0]["start"])
    assert (await db.appointment(first["id"]))["start_at"] == datetime.fromisoformat(first["start"])


async def test_move_within_24_hours_is_refused_for_a_patient(alice: Chat, frontdesk: Chat, db: Db) -> None:
    """An appointment a few hours away cannot be moved online; the row is untouched."""
    alice_id = alice.user["patient_id"]
    appt = await book_soon(frontdesk, alice_id, await db.dentist_id("Smith"), await db.type_id("Check-up"), 4, db=db)
    result = await alice.say("move my next appointment to next week")
    assert "24 hours" in result["reply"] and "slots" not in result
    row = await db.appointment(appt["id"])
    assert (row["start_at"], row["version"]) == (datetime.fromisoformat(appt["start"]), appt["version"])


async def test_move_when_nothing_on_that_day_lists_upcoming(alice: Chat, frontdesk: Chat, db: Db) -> None:
    """Naming a day with no appointment says so and lists the real ones; nothing moves."""
    alice_id = alice.user["patient_id"]
    day = await db.free_day(alice_id)
    empty = await db.free_day(alice_id, not_before=day + timedelta(days=1))
    appt = await book_for(frontdesk, alice_id, await db.dentist_id("Smith"), await db.type_id("Check-up"), day)
    result = await alice.say(f"move my appointment on {words(empty)} to next month")
    assert "no appointment" in result["reply"].lower() and words(day) in result["reply"]
    assert (await db.appointment(appt["id"]))["version"] == appt["version"]


# --------------------------------------------------------------------------- cancelling


async def test_cancel_tomorrow_after_confirmation(alice: Chat, frontdesk: Chat, db: Db) -> None:
    """"cancel my appointment tomorrow" asks first; "yes" cancels that row (more than 24 h ahead)."""
    alice_id = alice.user["patient_id"]
    tomorrow = today() + timedelta(days=1)
    start_local = datetime.combine(tomorrow, time(23, 0), ZONE)
    if start_local - clinic_now() <= timedelta(hours=24, minutes=30):
        start_local = datetime.combine(tomorrow, time(23, 30), ZONE)
    await frontdesk.client.call("exceptions.add", dentist_id=await db.dentist_id("Patel"),
                                start=(start_local - timedelta(hours=1)).isoformat(),
                                end=(start_local + timedelta(minutes=30)).isoformat(), kind="extra", reason="late clinic")
    appt = await frontdesk.client.call("appointments.create", dentist_id=await db.dentist_id("Patel"),
                                       type_id=await db.type_id("Check-up"), start=start_local.isoformat(),
                                       patient_id=alice_id)
    others_tomorrow = [r for r in await db.appointments(alice_id)
                       if local(r["start_at"].isoformat()).date() == tomorrow and r["id"] != appt["id"]]
    for r in others_tomorrow:
        await frontdesk.client.call("appointments.cancel", id=r["id"])
    question = await alice.say("cancel my appointment tomorrow")
    assert question["reply"].startswith("Cancel") and "23:" in question["reply"]
    assert (await db.appointment(appt["id"]))["status"] == "scheduled"
    done = await alice.say("yes")
    assert done["reply"].startswith("Cancelled")
    row = await db.appointment(appt["id"])
    assert row["status"] == "cancelled" and row["cancel_reason"]


async def test_cancel_answered_no_keeps_the_appointment(alice: Chat, frontdesk: Chat, db: Db) -> None:
    """Saying no to "Cancel ...?" keeps the appointment."""
    alice_id = alice.user["patient_id"]
    day = await db.free_day(alice_id)
    appt = await book_for(frontdesk, alice_id, await db.dentist_id("Smith"), await db.type_id("Cleaning"), day)
    await alice.say(f"please cancel my cleaning on {words(day)}")
    kept = await alice.say("no")
    assert "kept" in kept["reply"]
    assert (await db.appointment(appt["id"]))["status"] == "scheduled"


async def test_cancel_within_24_hours_is_refused(alice: Chat, frontdesk: Chat, db: Db) -> None:
    """A patient cannot cancel online inside the late-cancel window; the reply says to call."""
    alice_id = alice.user["patient_id"]
    appt = await book_soon(frontdesk, alice_id, await db.dentist_id("Patel"), await db.type_id("Check-up"), 3, db=db)
    result = await alice.say("cancel my next appointment")
    assert "call the clinic" in result["reply"]
    follow = await alice.say("yes")
    assert "appointment" not in follow
    assert (await db.appointment(appt["id"]))["status"] == "scheduled"


async def test_front_desk_may_cancel_within_24_hours(frontdesk: Chat, db: Db) -> None:
    """Staff acting for a patient are not bound by the online late-cancel rule."""
    alice_id = await db.patient_id("alice")
    appt = await book_soon(frontdesk, alice_id, await db.dentist_id("Patel"), await db.type_id("Check-up"), 3, db=db)
    frontdesk.extra = {"patient_id": alice_id}
    question = await frontdesk.say("cancel the next appointment")
    assert question["reply"].startswith("Cancel")
    await frontdesk.say("yes")
    assert (await db.appointment(appt["id"]))["status"] == "cancelled"


async def test_cancel_on_a_day_without_appointments(alice: Chat, frontdesk: Chat, db: Db) -> None:
    """Cancelling on a day with nothing booked says so and cancels nothing."""
    alice_id = alice.user["patient_id"]
    day = await db.free_day(alice_id)
    before = await db.appointments(alice_id)
    result = await alice.say(f"cancel my appointment on {words(day)}")
    assert ("no appointment" in result["reply"].lower()) or ("nothing to cancel" in result["reply"].lower())
    assert await db.appointments(alice_id) == before


async def test_another_patients_appointment_cannot_be_cancelled(alice: Chat, bob: Chat, frontdesk: Chat, db: Db) -> None:
    """Bob's appointment is invisible to alice's assistant: asking to cancel it leaves it alone."""
    bob_id, alice_id = await db.patient_id("bob"), alice.user["patient_id"]
    day = await db.free_day(alice_id)
    bobs = await book_for(frontdesk, bob_id, await db.dentist_id("Smith"), await db.type_id("Check-up"), day)
    result = await alice.say(f"cancel the appointment at {local(bobs['start']):%H:%M} on {words(day)}")
    assert not result["reply"].startswith("Cancel ")
    await alice.say("yes")
    assert (await db.appointment(bobs["id"]))["status"] == "scheduled"


async def test_someone_elses_conversation_id_starts_afresh(alice: Chat, bob: Chat, db: Db) -> None:
    """Alice sending "1" into bob's conversation id gets her own new conversation and books nothing."""
    bob_day = await db.free_day(await db.patient_id("bob"))
    await bob.say(f"a check-up on {words(bob_day)}")
    before = await db.count_all()
    alice.conversation_id = bob.conversation_id
    result = await alice.say("1")
    assert result["conversation_id"] != bob.conversation_id
    assert "appointment" not in result
    assert await db.count_all() == before


# --------------------------------------------------------------------------- listing and availability


async def test_next_appointment_is_the_soonest_in_the_database(alice: Chat, frontdesk: Chat, db: Db) -> None:
    """"when is my next appointment?" names the date and time of the soonest live appointment."""
    alice_id = alice.user["patient_id"]
    await book_for(frontdesk, alice_id, await db.dentist_id("Smith"), await db.type_id("Check-up"),
                   await db.free_day(alice_id))
    now = datetime.now(timezone.utc)
    upcoming = [r for r in await db.appointments(alice_id) if r["end_at"] > now]
    soonest = local(upcoming[0]["start_at"].isoformat())
    result = await alice.say("When is my next appointment?")
    assert f"{soonest.day} {soonest:%B}" in result["reply"] and f"{soonest:%H:%M}" in result["reply"]
    assert upcoming[0]["dentist_name"] in result["reply"]


async def test_list_all_my_appointments(alice: Chat, frontdesk: Chat, db: Db) -> None:
    """"show me my appointments" counts the live ones."""
    alice_id = alice.user["patient_id"]
    await book_for(frontdesk, alice_id, await db.dentist_id("Patel"), await db.type_id("Filling"),
                   await db.free_day(alice_id))
    now = datetime.now(timezone.utc)
    count = len([r for r in await db.appointments(alice_id) if r["end_at"] > now])
    result = await alice.say("show me my appointments")
    assert f"{count} upcoming appointment" in result["reply"]


async def test_list_with_no_appointments(alice: Chat, frontdesk: Chat, db: Db) -> None:
    """With everything cancelled, the assistant says there is nothing upcoming."""
    alice_id = alice.user["patient_id"]
    for r in await db.appointments(alice_id):
        if r["status"] in ("scheduled", "confirmed"):
            await frontdesk.client.call("appointments.cancel", id=r["id"])
    result = await alice.say("what appointments do I have?")
    assert "no upcoming appointments" in result["reply"]


async def test_staff_list_for_the_selected_patient(frontdesk: Chat, db: Db) -> None:
    """Front desk acting for bob hears about bob's next appointment, not anyone else's."""
    bob_id = await db.patient_id("bob")
    appt = await book_for(frontdesk, bob_id, await db.dentist_id("Patel"), await db.type_id("Cleaning"),
                          await db.free_day(bob_id, 2))
    frontdesk.extra = {"patient_id": bob_id}
    result = await frontdesk.say("when is the next appointment?")
    now = datetime.now(timezone.utc)
    soonest = [r for r in await db.appointments(bob_id) if r["end_at"] > now][0]
    assert f"{local(soonest['start_at'].isoformat()):%H:%M}" in result["reply"]
    assert appt["patient_id"] == bob_id


async def test_dentist_lists_own_schedule(users: dict[str, Chat], frontdesk: Chat, db: Db) -> None:
    """Dr Smith asking "my appointments" hears about his own appointments."""
    smith = await db.dentist_id("Smith")
    alice_id = await db.patient_id("alice")
    await book_for(frontdesk, alice_id, smith, await db.type_id("Check-up"), await db.free_day(alice_id))
    result = await users["drsmith"].say("show my appointments")
    assert "upcoming appointment" in result["reply"] and "Dr Smith" in result["reply"]
    assert "Dr Patel" not in result["reply"]


async def test_availability_of_a_dentist_in_a_morning(alice: Chat, db: Db) -> None:
    """"is Dr Smith free on <weekday> morning?" answers yes with real morning slots of Dr Smith only."""
    name, day = unambiguous_next_weekday()
    before = await db.count_all()
    result = await alice.say(f"Is Dr Smith free on {name} morning?")
    assert result["reply"].startswith("Yes")
    await assert_offered_slots_are_real(alice, result)
    smith = await db.dentist_id("Smith")
    assert all(s["dentist_id"] == smith and local(s["start"]).date() == day
               and local(s["start"]).hour < 12 for s in result["slots"])
    assert await db.count_all() == before


async def test_availability_then_book_by_number(alice: Chat, db: Db) -> None:
    """After an availability answer, "2" books the second time shown (a check-up)."""
    day = await db.free_day(alice.user["patient_id"])
    result = await alice.say(f"is Dr Patel available on {words(day)}?")
    done = await alice.say("2")
    row = await db.appointment(done["appointment"]["id"])
    assert row["start_at"] == datetime.fromisoformat(result["slots"][1]["start"])
    assert row["type_id"] == await db.type_id("Check-up")


async def test_availability_on_a_weekend_is_no(alice: Chat, db: Db) -> None:
    """A Sunday has no working hours: the answer is no, with no slots."""
    sunday = today() + timedelta(days=(6 - today().weekday()) % 7 or 7)
    result = await alice.say(f"is Dr Patel free on {words(sunday)}?")
    assert result["reply"].startswith("No") and "slots" not in result


async def test_overlong_message_is_invalid_params(alice: Chat) -> None:
    """A message over the size limit is refused as invalid params (the connection lives on)."""
    with pytest.raises(Exception) as info:
        await alice.say("book " * 1000)
    assert "invalid" in str(info.value).lower() or "text" in str(getattr(info.value, "data", "")).lower()
    again = await alice.say("help")
    assert "book" in again["reply"]
