"""Tokens forged, tampered, expired, replayed and revoked; password change; sign-in lockout by user and by address."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import jwt
import pytest

from clinic_desktop.store import EntityStore
from clinic_desktop.sync.client import SyncClient
from server.protocol import RpcError
from tests.faults.counters import SECURITY
from tests.helpers import RpcClient


async def refused(coro) -> RpcError:
    with pytest.raises(RpcError) as caught:
        await coro
    SECURITY.add(bad_inputs=1)
    return caught.value


def _b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


async def test_tampered_and_foreign_tokens_sign_nobody_in(server):
    """Tokens with claims swapped, a foreign or missing signature, no or past expiry, an unknown user or a stale password epoch are refused."""
    async with RpcClient(server.ws_url) as alice:
        login = await alice.login("alice")
    header, payload, signature = login["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    secret = (server.data_dir / "secret.key").read_text().strip()
    now = int(time.time())
    forgeries = {
        "role swapped, old signature": f"{header}.{_b64({**claims, 'role': 'admin'})}.{signature}",
        "user swapped, old signature": f"{header}.{_b64({**claims, 'sub': '1'})}.{signature}",
        "signature dropped": f"{header}.{payload}.",
        "HS256 with a guessable key": jwt.encode({**claims, "role": "admin"}, "secret", algorithm="HS256"),
        "user that does not exist": jwt.encode({**claims, "sub": "99999", "exp": now + 900}, secret, algorithm="HS256"),
        "stale password epoch": jwt.encode({**claims, "pwd": 12345, "exp": now + 900}, secret, algorithm="HS256"),
        "expired a minute ago": jwt.encode({**claims, "iat": now - 1000, "exp": now - 60}, secret, algorithm="HS256"),
        "no expiry": jwt.encode({k: v for k, v in claims.items() if k != "exp"}, secret, algorithm="HS256"),
    }
    async with RpcClient(server.ws_url) as c:
        for what, token in forgeries.items():
            exc = await refused(c.call("auth.resume", access_token=token))
            assert exc.reason == "unauthenticated", what
            exc = await refused(c.call("appointments.list"))
            assert exc.reason == "unauthenticated", what
        assert (await c.call("auth.resume", access_token=login["access_token"]))["user"]["role"] == "patient"


async def test_refresh_reuse_revokes_the_family_everywhere(server):
    """A stolen refresh token used after the owner's refresh ends that sign-in: tokens refused, its live connections closed 4002; other sign-ins live on."""
    async with RpcClient(server.ws_url) as owner, RpcClient(server.ws_url) as thief, RpcClient(server.ws_url) as other, \
            RpcClient(server.ws_url) as stolen:
        first = await owner.login("bob")
        elsewhere = await other.login("bob")  # bob on a second machine: a different family
        await other.subscribe(None)
        # The thief also got bob's access token and is watching bob's schedule with it.
        await stolen.call("auth.resume", access_token=first["access_token"])
        await stolen.subscribe(None)
        rotated = await owner.call("auth.refresh", refresh_token=first["refresh_token"])
        exc = await refused(thief.call("auth.refresh", refresh_token=first["refresh_token"]))
        assert exc.reason == "unauthenticated"
        for token in (rotated["refresh_token"],):
            exc = await refused(thief.call("auth.refresh", refresh_token=token))
            assert exc.reason == "unauthenticated"
        exc = await refused(thief.call("auth.resume", access_token=rotated["access_token"]))
        assert exc.reason == "unauthenticated"
        # Every live connection of that sign-in is cut off at once (4002), not at token expiry.
        assert await stolen.wait_closed(timeout=30) == 4002
        assert await owner.wait_closed(timeout=30) == 4002
        assert not other.closed
        # The other machine's sign-in is not part of the family and still refreshes.
        again = await other.call("auth.refresh", refresh_token=elsewhere["refresh_token"])
        assert again["user"]["role"] == "patient"


async def test_logout_cuts_off_a_connection_using_a_stolen_access_token(server):
    """After bob signs out, a connection that resumed with his access token is closed 4002 and can resume no more."""
    async with RpcClient(server.ws_url) as bob, RpcClient(server.ws_url) as stolen:
        login = await bob.login("bob")
        await stolen.call("auth.resume", access_token=login["access_token"])
        await stolen.subscribe(None)
        assert await bob.call("auth.logout") == {"ok": True}
        assert await stolen.wait_closed(timeout=30) == 4002
    async with RpcClient(server.ws_url) as c:
        exc = await refused(c.call("auth.resume", access_token=login["access_token"]))
        assert exc.reason == "unauthenticated"


async def test_password_change_ends_every_other_session(server):
    """auth.change_password: old password, tokens and refresh tokens stop working; other live connections are closed 4002; the desktop must sign in again."""
    ended: list[str] = []
    desktop = SyncClient(server.ws_url, EntityStore(), heartbeat_timeout=5)
    desktop.on_session_ended(ended.append)
    await desktop.sign_in(username="drpatel", password="demo")
    try:
        async with RpcClient(server.ws_url) as me, RpcClient(server.ws_url) as laptop:
            mine = await me.login("drpatel")
            laptop_login = await laptop.login("drpatel")
            await laptop.subscribe(None)
            exc = await refused(me.call("auth.change_password", current_password="wrong", new_password="Another-Pass-1"))
            assert exc.reason == "unauthenticated"
            exc = await refused(me.call("auth.change_password", current_password="demo", new_password="short"))
            assert exc.code == -32602
            changed = await me.call("auth.change_password", current_password="demo", new_password="Tooth-Fairy-2026")
            assert changed["access_token"] != mine["access_token"]
            assert await laptop.wait_closed(timeout=30) == 4002
            # This connection goes on with the new identity.
            assert isinstance(await me.call("appointments.list"), list)
        async with RpcClient(server.ws_url) as c:
            for token in (mine["access_token"], laptop_login["access_token"]):
                exc = await refused(c.call("auth.resume", access_token=token))
                assert exc.reason == "unauthenticated"
            for token in (mine["refresh_token"], laptop_login["refresh_token"], desktop.refresh_token):
                exc = await refused(c.call("auth.refresh", refresh_token=token))
                assert exc.reason == "unauthenticated"
            exc = await refused(c.call("auth.login", username="drpatel", password="demo"))
            assert exc.reason == "unauthenticated"
            assert (await c.login("drpatel", "Tooth-Fairy-2026"))["user"]["role"] == "dentist"
            assert (await c.call("auth.resume", access_token=changed["access_token"]))["user"]["role"] == "dentist"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while not ended and loop.time() < deadline:
            await asyncio.sleep(0.2)
        assert ended, "the desktop was not told to sign in again"
        assert not desktop.connected
    finally:
        await desktop.close()


async def test_sign_in_lockout_by_user_and_by_address(server):
    """Guessing one account locks it (rate_limited, retry_after) even for the right password; spraying many accounts from one address locks the address."""
    async with RpcClient(server.ws_url) as c:
        for i in range(5):
            exc = await refused(c.call("auth.login", username="drsmith", password=f"guess-{i}"))
            assert exc.reason == "unauthenticated"
        exc = await refused(c.call("auth.login", username="drsmith", password="demo"))
        assert exc.reason == "rate_limited" and exc.extra["retry_after"] > 0
        assert "Too many failed sign-ins" in str(exc)
        # Spraying: one guess each at many names (most do not exist) from the same address.
        reasons = []
        for i in range(60):
            try:
                await c.call("auth.login", username=f"user{i}", password="Winter2026!")
            except RpcError as err:
                reasons.append(str(err.reason))
        SECURITY.add(bad_inputs=60)
        assert reasons.count("rate_limited") > 0 and set(reasons) <= {"unauthenticated", "rate_limited"}
        # While the address is locked, even a real user with the right password waits.
        exc = await refused(c.call("auth.login", username="bob", password="demo"))
        assert exc.reason == "rate_limited"
