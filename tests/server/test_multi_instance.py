"""Several server instances on one database behave as one server: sign-outs, write limits, conversations.

Two real server processes share one database and one token secret (as behind the documented load
balancer). Before this, a password changed on one instance left the same sign-in writing and receiving
full events on the other until its access token ran out (~15 minutes); each instance kept its own
write limit (two instances doubled it); and the assistant forgot a conversation when the next message
reached the other instance.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest

from server.protocol import Reason, RpcError
from tests.helpers import ConnectionLost, RpcClient
from tests.server_process import ServerProcess

SECRET = "one-secret-for-both-instances"


@pytest.fixture
def two_instances(database_url: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    env = {"CLINIC_SECRET": SECRET, "CLINIC_WRITES_PER_MINUTE": "6", "CLINIC_ASSISTANT_MESSAGES_PER_MINUTE": "6"}
    a = ServerProcess(database_url, tmp_path / "a", tmp_path / "a.log", extra_env=dict(env))
    b = ServerProcess(database_url, tmp_path / "b", tmp_path / "b.log", extra_env=dict(env))
    a.start()
    b.start()
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


async def test_a_password_changed_on_one_instance_ends_the_sign_in_on_the_other(two_instances) -> None:
    a, b = two_instances
    async with RpcClient(a.ws_url) as on_a, RpcClient(b.ws_url) as on_b, RpcClient(b.ws_url) as other_user:
        await on_a.login("drsmith")
        await on_b.call("auth.resume", access_token=on_a.access_token)  # the same sign-in, on instance B
        await on_b.subscribe(None)
        await other_user.login("drpatel")

        await on_a.call("auth.change_password", current_password="demo", new_password="a-new-password-1")

        # B ends that sign-in as soon as the change commits: closed with 4002, not 15 minutes later.
        assert await on_b.wait_closed(timeout=10) == 4002
        assert not other_user.closed  # nobody else is signed out
        await other_user.call("directory.get")
        # And the old access token does not sign in again anywhere.
        async with RpcClient(b.ws_url) as again:
            with pytest.raises(RpcError) as refused:
                await again.call("auth.resume", access_token=on_a.access_token)
            assert refused.value.reason == Reason.UNAUTHENTICATED


async def test_a_sign_out_on_one_instance_closes_the_same_sign_in_on_the_other(two_instances) -> None:
    a, b = two_instances
    async with RpcClient(a.ws_url) as on_a, RpcClient(b.ws_url) as on_b:
        await on_a.login("frontdesk")
        await on_b.call("auth.resume", access_token=on_a.access_token)
        await on_b.subscribe(None)
        await on_a.call("auth.logout")
        assert await on_b.wait_closed(timeout=10) == 4002
        with pytest.raises((ConnectionLost, RpcError)):
            await on_b.call("patients.create", name="Should Not Exist", phone="+44 20 7946 0000")


async def test_two_instances_share_one_write_limit(two_instances) -> None:
    """6 writes a minute with a burst of 10: ten writes in all, whichever instance takes them."""
    a, b = two_instances
    async with RpcClient(a.ws_url) as on_a, RpcClient(b.ws_url) as on_b:
        await on_a.login("frontdesk")
        await on_b.login("frontdesk")
        outcomes: list[str] = []
        for i in range(16):
            desk = on_a if i % 2 == 0 else on_b
            try:
                await desk.call("patients.create", name=f"Limit Test {i}", phone=f"+44 20 7946 {1000 + i}")
                outcomes.append("ok")
            except RpcError as exc:
                assert exc.reason == Reason.RATE_LIMITED and exc.extra.get("retry_after", 0) > 0
                outcomes.append("limited")
        assert outcomes.count("ok") == 10, outcomes  # per-process buckets would have allowed 16
        assert outcomes[-1] == "limited"


async def test_a_conversation_continues_on_the_other_instance(two_instances) -> None:
    a, b = two_instances
    async with RpcClient(a.ws_url) as on_a, RpcClient(b.ws_url) as on_b:
        await on_a.login("alice")
        await on_b.call("auth.resume", access_token=on_a.access_token)
        offer = await on_a.call("assistant.message", text="earliest check-up")
        assert offer.get("slots"), offer["reply"]
        done = await on_b.call("assistant.message", text="1", conversation_id=offer["conversation_id"])
        assert done["conversation_id"] == offer["conversation_id"]
        assert done.get("appointment"), done["reply"]
        booked, offered = done["appointment"]["start"], offer["slots"][0]["start"]
        assert datetime.fromisoformat(booked) == datetime.fromisoformat(offered)


async def test_one_users_flood_of_messages_is_limited_and_evicts_nobody_elses_conversation(two_instances) -> None:
    a, b = two_instances
    async with RpcClient(a.ws_url) as alice, RpcClient(b.ws_url) as bob:
        await alice.login("alice")
        await bob.login("bob")
        offer = await bob.call("assistant.message", text="earliest cleaning")
        assert offer.get("slots"), offer["reply"]

        limited = 0
        for i in range(12):  # 6 a minute, a burst of 5: the rest are refused, across both instances
            client = alice
            try:
                await client.call("assistant.message", text=f"hello {i}")
            except RpcError as exc:
                assert exc.reason == Reason.RATE_LIMITED
                limited += 1
        assert limited == 12 - 5

        done = await bob.call("assistant.message", text="1", conversation_id=offer["conversation_id"])
        assert done.get("appointment"), done["reply"]


async def test_an_instance_that_missed_a_sign_out_notice_catches_it_when_its_listener_returns(
        two_instances, database_url: str) -> None:
    """Sign-out notices sent while an instance's listener is down are not lost: it re-checks on reconnect."""
    a, b = two_instances
    async with RpcClient(a.ws_url) as on_a, RpcClient(b.ws_url) as on_b:
        await on_a.login("frontdesk")
        await on_b.call("auth.resume", access_token=on_a.access_token)
        await on_b.subscribe(None)
        conn = await asyncpg.connect(database_url)
        try:
            # A revocation whose notice never arrives (as if sent while the listeners were reconnecting).
            async with conn.transaction():
                await conn.execute("ALTER TABLE refresh_tokens DISABLE TRIGGER refresh_tokens_revoked")
                await conn.execute("UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL")
                await conn.execute("ALTER TABLE refresh_tokens ENABLE TRIGGER refresh_tokens_revoked")
            await asyncio.sleep(0.5)
            assert not on_b.closed  # nobody was told
            listeners = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'clinic-server sessions'"
                " AND datname = current_database()")
            assert len(listeners) == 2
            for row in listeners:
                await conn.execute("SELECT pg_terminate_backend($1)", row["pid"])
            assert await on_b.wait_closed(timeout=20) == 4002  # B re-checked its sign-ins on reconnecting
        finally:
            await conn.close()
