"""The waitlist over the real endpoint: a freed time is offered to every matching request at once, and ten
patients accepting at the same instant get exactly one appointment between them."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import asyncpg
import pytest

from server.auth import hash_password
from server.protocol import RpcError
from tests.helpers import RpcClient

SMITH = 1
CHECK_UP = 1


def _weekday_ahead(days: int) -> date:
    day = date.today() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


async def _patients_with_logins(url: str, count: int) -> list[tuple[str, int]]:
    """`count` patients who can sign in (password "demo"): [(username, patient id)]."""
    digest = hash_password("demo")
    conn = await asyncpg.connect(url)
    try:
        out = []
        for i in range(count):
            username = f"waiter{i}"
            user_id = await conn.fetchval(
                "INSERT INTO users (username, password_hash, role, display_name) VALUES ($1, $2, 'patient', $3) "
                "RETURNING id", username, digest, f"Waiting Patient {i}")
            patient_id = await conn.fetchval("INSERT INTO patients (user_id, name) VALUES ($1, $2) RETURNING id",
                                             user_id, f"Waiting Patient {i}")
            out.append((username, patient_id))
        return out
    finally:
        await conn.close()


async def _free_check_up(admin: RpcClient, day: date) -> dict[str, Any]:
    patient = await admin.call("patients.create", name="Soon Cancelled", confirm_duplicate=True)
    slots = await admin.call("slots.find", type_id=CHECK_UP, dentist_id=SMITH, patient_id=patient["id"],
                             **{"from": day.isoformat(), "to": day.isoformat()})
    assert slots, "the demo clinic leaves free time on a weekday ahead"
    return await admin.call("appointments.create", dentist_id=SMITH, type_id=CHECK_UP, start=slots[0]["start"],
                            patient_id=patient["id"])


async def _offer_event(client: RpcClient, predicate) -> dict[str, Any]:
    events = await client.events_until(lambda e: e["entity"] == "waitlist_offer" and predicate(e["data"]), timeout=10)
    return events[-1]["data"]


async def test_ten_patients_accept_one_freed_time_at_once_and_exactly_one_gets_it(server, database_url):
    """One cancel offers the time to all ten; all accept together; one books it, nine see their offer taken live."""
    day = _weekday_ahead(3)
    waiters = await _patients_with_logins(database_url, 10)
    clients = [RpcClient(server.ws_url) for _ in waiters]
    async with RpcClient(server.ws_url) as admin, RpcClient(server.ws_url) as dentist:
        for client in clients:
            await client.__aenter__()
        try:
            await admin.login("frontdesk")
            await dentist.login("drsmith")
            booked = await _free_check_up(admin, day)
            requests = []
            for (username, _), client in zip(waiters, clients):
                await client.login(username)
                requests.append(await client.call("waitlist.add", type_id=CHECK_UP, dentist_ids=[SMITH],
                                                  earliest=day.isoformat(), latest=day.isoformat()))
                await client.subscribe()
            await admin.subscribe()
            await dentist.subscribe()
            assert all(r["status"] == "active" for r in requests)

            await admin.call("appointments.cancel", id=booked["id"], reason="Patient is unwell")
            offers = await asyncio.gather(*(_offer_event(c, lambda o: o["status"] == "open") for c in clients))
            # The same time, offered to every one of them, each seeing only their own offer.
            assert {(o["start"], o["dentist_id"]) for o in offers} == {(booked["start"], SMITH)}
            assert len({o["slot_id"] for o in offers}) == 1
            assert [o["patient_id"] for o in offers] == [pid for _, pid in waiters]
            conn = await asyncpg.connect(database_url)
            try:
                after_cancel = await conn.fetchval("SELECT max(seq) FROM change_log")
            finally:
                await conn.close()

            # A patient chatting with the assistant hears of the offer in its next reply.
            chat = await clients[0].call("assistant.message", text="Hello")
            assert "Good news from the waitlist" in chat["reply"] and "Check-up with Dr Smith" in chat["reply"]

            barrier = asyncio.Barrier(len(clients))

            async def accept(client: RpcClient, offer: dict[str, Any]) -> Any:
                await barrier.wait()
                try:
                    return await client.call("waitlist.accept", offer_id=offer["id"])
                except RpcError as exc:
                    return exc

            outcomes = await asyncio.gather(*(accept(c, o) for c, o in zip(clients, offers)))
            winners = [i for i, out in enumerate(outcomes) if not isinstance(out, RpcError)]
            assert len(winners) == 1, outcomes
            winner = winners[0]
            won = outcomes[winner]
            assert won["appointment"]["patient_id"] == waiters[winner][1]
            assert won["appointment"]["start"] == booked["start"] and won["offer"]["status"] == "accepted"
            for i, out in enumerate(outcomes):
                if i != winner:
                    assert out.reason == "slot_unavailable" and "Someone else accepted" in out.message

            # Each of the nine sees their own offer leave, live, on their own connection.
            losers = [i for i in range(len(clients)) if i != winner]
            gone = await asyncio.gather(*(_offer_event(clients[i], lambda o, i=i: o["id"] == offers[i]["id"]
                                                       and o["status"] != "open") for i in losers))
            assert {o["status"] for o in gone} == {"taken"}

            # The feed holds exactly one new appointment since the cancel: the winner's.
            conn = await asyncpg.connect(database_url)
            try:
                new = await conn.fetch("SELECT DISTINCT entity_id FROM change_log WHERE entity = 'appointment' "
                                       "AND seq > $1", after_cancel)
                occupying = await conn.fetchval(
                    "SELECT count(*) FROM appointments WHERE dentist_id = $1 AND start_at = $2::text::timestamptz "
                    "AND status <> 'cancelled'", SMITH, booked["start"])
                request = await conn.fetchrow("SELECT status, appointment_id FROM waitlist_requests WHERE id = $1",
                                              requests[winner]["id"])
            finally:
                await conn.close()
            assert [r["entity_id"] for r in new] == [won["appointment"]["id"]]
            assert occupying == 1
            assert request["status"] == "booked" and request["appointment_id"] == won["appointment"]["id"]
            # The dentist's feed carried none of it.
            assert not [n for n in dentist.drain_notifications()
                        if n.get("params", {}).get("entity", "").startswith("waitlist")]
        finally:
            for client in clients:
                await client.close()


async def test_waitlist_requests_are_checked_and_private(server, database_url):
    """Bad windows are invalid_params per field; a patient cannot add, see or accept for someone else."""
    day = _weekday_ahead(4)
    async with RpcClient(server.ws_url) as alice, RpcClient(server.ws_url) as bob, \
            RpcClient(server.ws_url) as drsmith:
        await alice.login("alice")
        await bob.login("bob")
        await drsmith.login("drsmith")
        with pytest.raises(RpcError) as bad:
            await alice.call("waitlist.add", type_id=CHECK_UP, day_start="14:00", day_end="09:00", weekdays=[9],
                             earliest=day.isoformat(), latest=(day - timedelta(days=2)).isoformat())
        assert bad.value.reason == "invalid_params"
        assert set(bad.value.extra["fields"]) == {"day_end", "weekdays", "latest"}
        with pytest.raises(RpcError) as forbidden:
            await alice.call("waitlist.add", type_id=CHECK_UP, patient_id=bob.user["patient_id"])
        assert forbidden.value.reason == "forbidden"
        with pytest.raises(RpcError) as dentist:
            await drsmith.call("waitlist.add", type_id=CHECK_UP, patient_id=alice.user["patient_id"])
        assert dentist.value.reason == "forbidden"

        mine = await alice.call("waitlist.add", type_id=CHECK_UP, day_start="08:00", day_end="12:00")
        assert mine["day_start"] == "08:00" and mine["day_end"] == "12:00" and mine["dentist_ids"] == []
        with pytest.raises(RpcError) as twice:
            await alice.call("waitlist.add", type_id=CHECK_UP)
        assert twice.value.reason == "invalid_params" and "already" in twice.value.extra["fields"]["type_id"]
        snapshot = (await bob.subscribe())["snapshot"]
        assert snapshot["waitlist_request"] == [] and snapshot["waitlist_offer"] == []
        assert (await drsmith.subscribe())["snapshot"]["waitlist_request"] == []
        with pytest.raises(RpcError) as not_bobs:
            await bob.call("waitlist.remove", id=mine["id"], version=mine["version"])
        assert not_bobs.value.reason == "not_found"
        removed = await alice.call("waitlist.remove", id=mine["id"], version=mine["version"])
        assert removed["status"] == "removed"


async def test_an_offer_expires_through_the_feed_and_can_no_longer_be_accepted(server, database_url):
    """Past its time, the expiry task marks the offer expired (an event the patient sees); accepting is refused."""
    day = _weekday_ahead(5)
    async with RpcClient(server.ws_url) as admin, RpcClient(server.ws_url) as alice:
        await admin.login("frontdesk")
        await alice.login("alice")
        booked = await _free_check_up(admin, day)
        await alice.call("waitlist.add", type_id=CHECK_UP, earliest=day.isoformat(), latest=day.isoformat())
        await alice.subscribe()
        await admin.call("appointments.cancel", id=booked["id"])
        offer = await _offer_event(alice, lambda o: o["status"] == "open")
        conn = await asyncpg.connect(database_url)
        try:
            minutes = await conn.fetchval("SELECT waitlist_offer_minutes FROM clinic_settings")
            await conn.execute("UPDATE waitlist_offers SET expires_at = now() WHERE id = $1", offer["id"])
        finally:
            await conn.close()
        assert minutes == 15  # the server's setting, written where the trigger reads it
        expired = await _offer_event(alice, lambda o: o["id"] == offer["id"] and o["status"] == "expired")
        assert expired["status"] == "expired"
        with pytest.raises(RpcError) as late:
            await alice.call("waitlist.accept", offer_id=offer["id"])
        assert late.value.reason == "slot_unavailable" and "expired" in late.value.message
