"""The assistant resolves "my cleaning on Wednesday" and "cancel it" against the user's own appointments.

Same style as test_assistant_conversations.py (whose helpers and fixtures this reuses): a real server,
`assistant.message` over a real WebSocket, and the database read directly to check what happened.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from tests.e2e.test_assistant_conversations import (  # noqa: F401 (fixtures)
    WEEKDAYS,
    Chat,
    Db,
    alice,
    book_for,
    db,
    frontdesk,
    local,
    today,
    users,
    words,
)


async def _clear_upcoming(frontdesk: Chat, db: Db, patient_id: int) -> None:
    """Cancel the patient's demo appointments, so the test's own are the only ones to point at."""
    for row in await db.appointments(patient_id):
        if row["status"] in ("scheduled", "confirmed"):
            await frontdesk.client.call("appointments.cancel", id=row["id"])


def _next_weekday(weekday: int, after: date) -> date:
    return after + timedelta(days=(weekday - after.weekday()) % 7 or 7)


async def test_cancel_my_cleaning_on_a_weekday_finds_it_beyond_the_nearest_one(alice: Chat, frontdesk: Chat,
                                                                                db: Db) -> None:
    """The one cleaning on a Wednesday is two Wednesdays ahead (a check-up on the nearest): it is the one offered."""
    alice_id = alice.user["patient_id"]
    await _clear_upcoming(frontdesk, db, alice_id)
    nearest = _next_weekday(2, today() + timedelta(days=1))  # past the late-cancel window
    later = nearest + timedelta(days=14)
    smith, cleaning, checkup = await db.dentist_id("Smith"), await db.type_id("Cleaning"), await db.type_id("Check-up")
    other = await book_for(frontdesk, alice_id, smith, checkup, nearest)
    target = await book_for(frontdesk, alice_id, smith, cleaning, later)

    question = await alice.say("cancel my cleaning on Wednesday")
    assert question["reply"].startswith("Cancel"), question["reply"]
    assert str(later.day) in question["reply"] and "cleaning" in question["reply"].lower()
    done = await alice.say("yes")
    assert done["reply"].startswith("Cancelled")
    assert (await db.appointment(target["id"]))["status"] == "cancelled"
    assert (await db.appointment(other["id"]))["status"] == "scheduled"


async def test_two_cleanings_on_wednesdays_are_asked_about(alice: Chat, frontdesk: Chat, db: Db) -> None:
    """With a cleaning on two different Wednesdays the assistant lists both and cancels nothing yet."""
    alice_id = alice.user["patient_id"]
    await _clear_upcoming(frontdesk, db, alice_id)
    first = _next_weekday(2, today() + timedelta(days=1))
    smith, cleaning = await db.dentist_id("Smith"), await db.type_id("Cleaning")
    a = await book_for(frontdesk, alice_id, smith, cleaning, first)
    b = await book_for(frontdesk, alice_id, smith, cleaning, first + timedelta(days=7))
    question = await alice.say("cancel my cleaning on Wednesday")
    assert "which" in question["reply"].lower() and "1)" in question["reply"] and "2)" in question["reply"]
    assert {(await db.appointment(x["id"]))["status"] for x in (a, b)} == {"scheduled"}


async def test_cancel_it_after_a_move_means_the_moved_appointment(alice: Chat, frontdesk: Chat, db: Db) -> None:
    """"move my <day> appointment to next week" then "cancel it": the moved one is cancelled, the other kept."""
    alice_id = alice.user["patient_id"]
    await _clear_upcoming(frontdesk, db, alice_id)
    smith, checkup = await db.dentist_id("Smith"), await db.type_id("Check-up")
    start = today() + timedelta(days=2)
    days = [d for d in (start + timedelta(days=i) for i in range(7)) if d.weekday() < 5]
    moved_day, kept_day = days[0], days[1]
    moving = await book_for(frontdesk, alice_id, smith, checkup, moved_day)
    kept = await book_for(frontdesk, alice_id, smith, checkup, kept_day)

    offer = await alice.say(f"move my {WEEKDAYS[moved_day.weekday()]} appointment to {words(moved_day + timedelta(days=21))}")
    assert offer["slots"], offer["reply"]
    done = await alice.say("1")
    assert "moved" in done["reply"]
    new_start = local(offer["slots"][0]["start"])

    question = await alice.say("cancel it")
    assert question["reply"].startswith("Cancel"), question["reply"]
    assert new_start.strftime("%H:%M") in question["reply"] and str(new_start.day) in question["reply"]
    cancelled = await alice.say("yes")
    assert cancelled["reply"].startswith("Cancelled")
    row: Any = await db.appointment(moving["id"])
    assert row["status"] == "cancelled" and row["start_at"] == new_start
    assert (await db.appointment(kept["id"]))["status"] == "scheduled"
