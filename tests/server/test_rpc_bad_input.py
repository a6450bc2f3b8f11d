"""Hostile and malformed input over the real RPC endpoint: right error, connection lives, data untouched."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from typing import Any

import jwt
import pytest

from server.protocol import RpcError
from tests.helpers import RpcClient

INJECTION = "'); DROP TABLE appointments;--"


async def refused(coro: Any) -> RpcError:
    """The RpcError a call raises (the test fails if the call succeeds)."""
    with pytest.raises(RpcError) as caught:
        await coro
    return caught.value


async def still_usable(client: RpcClient) -> None:
    """A valid call on the same connection still answers."""
    directory = await client.call("directory.get")
    assert directory["dentists"]


async def second_client_served(server) -> None:
    async with RpcClient(server.ws_url) as other:
        await other.login("bob")
        await still_usable(other)


async def raw_error(client: RpcClient, frame: str | bytes) -> dict[str, Any]:
    """Send a raw frame; return the error object of its answer."""
    await client.send_raw(frame)
    answer = await client.recv_raw()
    assert isinstance(answer, dict), answer
    assert "error" in answer, answer
    return answer["error"]


async def test_malformed_frames_get_errors_and_the_connection_lives(server):
    """Parse errors, invalid requests, bad batches, oversized and binary frames: right code, link and server live."""
    async with RpcClient(server.ws_url) as c:
        await c.login("frontdesk")
        count = len(await c.call("appointments.list"))

        cases: list[tuple[str | bytes, int]] = [
            ('{"jsonrpc": "2.0", "id": 1, "method": "directory.get"', -32700),
            ("not json at all", -32700),
            ("42", -32600),
            ('"x"', -32600),
            ("null", -32600),
            ("[]", -32600),
            ('{"jsonrpc": "1.0", "id": 1, "method": "directory.get"}', -32600),
            ('{"jsonrpc": "2.0", "id": {"a": 1}, "method": "directory.get"}', -32600),
            ('{"jsonrpc": "2.0", "id": 1, "method": 7}', -32600),
            (b"\xff\xfe\xfd not utf-8", -32700),
            ("[" * 100_000, -32700),
            ("[" * 100_000 + "]" * 100_000, -32700),
        ]
        for frame, code in cases:
            error = await raw_error(c, frame)
            assert error["code"] == code, (frame[:60], error)
            await still_usable(c)

        # A frame over 256 KiB: -32600 "Frame too large", the connection stays open.
        big = json.dumps({"jsonrpc": "2.0", "id": 77, "method": "appointments.update",
                          "params": {"id": 1, "version": 1, "notes": "a" * (300 * 1024)}})
        error = await raw_error(c, big)
        assert error["code"] == -32600 and "Frame too large" in error["message"]
        assert not c.closed
        await still_usable(c)

        # A batch of garbage: one answer per item, the valid one answered with its result.
        await c.send_raw(json.dumps([1, {"foo": 1}, {"jsonrpc": "2.0", "id": 5, "method": "directory.get"}]))
        answers = await c.recv_raw()
        assert isinstance(answers, list) and len(answers) == 3, answers
        assert [a["error"]["code"] for a in answers if "error" in a] == [-32600, -32600]
        ok = [a for a in answers if a.get("id") == 5]
        assert len(ok) == 1 and ok[0]["result"]["dentists"]
        await still_usable(c)

        # Wrong param types, unknown method, extra param.
        exc = await refused(c.call("appointments.list", dentist_id="1"))
        assert exc.code == -32602 and "dentist_id" in exc.extra["fields"]
        exc = await refused(c.call("slots.find", type_id="check-up", **{"from": "2030-01-01", "to": "2030-01-02"}))
        assert exc.code == -32602 and "type_id" in exc.extra["fields"]
        exc = await refused(c.call("appointments.cancel", id=True))
        assert exc.code == -32602 and "id" in exc.extra["fields"]
        exc = await refused(c.call("appointments.create", dentist_id=1, type_id=1, start="tomorrow at nine", patient_id=1))
        assert exc.code == -32602 and "start" in exc.extra["fields"]
        exc = await refused(c.call("appointments.list", **{"from": "31/12/2030"}))
        assert exc.code == -32602 and "from" in exc.extra["fields"]
        exc = await refused(c.call("appointments.drop_all"))
        assert exc.code == -32601
        exc = await refused(c.call("directory.get", foo=1))
        assert exc.code == -32602 and "foo" in exc.extra["fields"]
        exc = await refused(c.call("appointments.update", id=1, version=1, notes="x", is_admin=True))
        assert exc.code == -32602 and "is_admin" in exc.extra["fields"]
        await still_usable(c)

        # Positional params are refused too.
        error = await raw_error(c, json.dumps({"jsonrpc": "2.0", "id": None, "method": "directory.get", "params": [1]}))
        assert error["code"] == -32602

        await second_client_served(server)
        assert server.running and server.healthy()
        assert len(await c.call("appointments.list")) == count


async def test_huge_integers_are_refused_cleanly(server):
    """Integers beyond any id, and number literals too long to parse, get a client error, not a crash."""
    async with RpcClient(server.ws_url) as c:
        await c.login("frontdesk")
        before = await c.call("appointments.list")

        error = await raw_error(c, '{"jsonrpc": "2.0", "id": 1, "method": "appointments.cancel", "params": {"id": '
                                   + "9" * 5000 + "}}")
        assert error["code"] in (-32700, -32602), error
        await still_usable(c)

        for method, params in (("appointments.cancel", {"id": 10**30}),
                               ("appointments.update", {"id": 1, "version": 2**70, "notes": "x"}),
                               ("appointments.list", {"dentist_id": -(2**80)})):
            exc = await refused(c.call(method, **params))
            assert exc.code == -32602 or exc.reason == "not_found", (method, exc.code, exc.reason, exc.message)
            await still_usable(c)

        await second_client_served(server)
        assert await c.call("appointments.list") == before


async def test_odd_text_in_notes_is_stored_verbatim(server):
    """Unicode, emoji and SQL-injection text in notes are stored and read back exactly; the table survives."""
    async with RpcClient(server.ws_url) as c:
        await c.login("frontdesk")
        count = len(await c.call("appointments.list"))
        lo = date.today() + timedelta(days=7)
        slots = await c.call("slots.find", type_id=1, dentist_id=1, patient_id=1,
                             **{"from": lo.isoformat(), "to": (lo + timedelta(days=7)).isoformat()})
        notes = f"Zoë 🦷😬 — 日本語 \\ \" \n\t {INJECTION} %_ \u202e"
        made = await c.call("appointments.create", dentist_id=1, type_id=1, start=slots[0]["start"],
                            patient_id=1, notes=notes)
        assert made["notes"] == notes

        current = made
        for text in (INJECTION, "Robert'); DELETE FROM patients; --", "a\u0000b".replace("\u0000", "")):
            current = await c.call("appointments.update", id=made["id"], version=current["version"], notes=text)
            rows = {r["id"]: r for r in await c.call("appointments.list")}
            assert rows[made["id"]]["notes"] == text
            assert len(rows) == count + 1

        found = await c.call("patients.search", query=INJECTION)
        assert found == []
        assert await c.call("patients.search", query="%") is not None
        await second_client_served(server)


async def test_expired_and_forged_access_tokens_are_refused(server):
    """auth.resume with an expired or foreign-signed token answers unauthenticated and signs nobody in."""
    async with RpcClient(server.ws_url) as alice:
        result = await alice.login("alice")
        user = result["user"]
    secret = (server.data_dir / "secret.key").read_text().strip()
    now = int(time.time())
    claims = {"sub": str(user["id"]), "role": "patient", "name": user["name"], "did": None,
              "pid": user["patient_id"], "fam": None, "iat": now - 3600, "exp": now - 1800}
    expired = jwt.encode(claims, secret, algorithm="HS256")
    forged = jwt.encode({**claims, "role": "admin", "exp": now + 900}, "not-the-server-secret-" * 3, algorithm="HS256")
    no_alg = jwt.encode({**claims, "exp": now + 900}, None, algorithm="none")

    async with RpcClient(server.ws_url) as c:
        for token in (expired, forged, no_alg, "garbage", ""):
            exc = await refused(c.call("auth.resume", access_token=token))
            assert exc.reason == "unauthenticated", token
            exc = await refused(c.call("appointments.list"))
            assert exc.reason == "unauthenticated"
        # The genuine one still works on the same connection.
        resumed = await c.call("auth.resume", access_token=result["access_token"])
        assert resumed["user"]["id"] == user["id"]
        await c.call("appointments.list")
    await second_client_served(server)


async def test_refresh_token_reuse_and_logout_end_the_session(server):
    """A replayed refresh token is refused and revokes its rotated successor; logout kills the refresh token."""
    async with RpcClient(server.ws_url) as c:
        first = await c.login("alice")
        rotated = await c.call("auth.refresh", refresh_token=first["refresh_token"])
        assert rotated["refresh_token"] != first["refresh_token"]

        exc = await refused(c.call("auth.refresh", refresh_token=first["refresh_token"]))
        assert exc.reason == "unauthenticated"
        exc = await refused(c.call("auth.refresh", refresh_token=rotated["refresh_token"]))
        assert exc.reason == "unauthenticated"
        exc = await refused(c.call("auth.resume", access_token=rotated["access_token"]))
        assert exc.reason == "unauthenticated"

    async with RpcClient(server.ws_url) as c:
        login = await c.login("alice")
        assert await c.call("auth.logout") == {"ok": True}
        exc = await refused(c.call("appointments.list"))
        assert exc.reason == "unauthenticated"
        exc = await refused(c.call("auth.refresh", refresh_token=login["refresh_token"]))
        assert exc.reason == "unauthenticated"
        exc = await refused(c.call("auth.resume", access_token=login["access_token"]))
        assert exc.reason == "unauthenticated"
        # A fresh login still works after all that.
        await c.login("alice")
        await still_usable(c)


async def test_repeated_wrong_passwords_are_throttled(server):
    """After 5 wrong passwords alice is rate_limited with retry_after (even with the right one); bob is not."""
    async with RpcClient(server.ws_url) as c:
        reasons = []
        limited = None
        for _ in range(8):
            exc = await refused(c.call("auth.login", username="alice", password="wrong"))
            reasons.append(exc.reason)
            if exc.reason == "rate_limited":
                limited = exc
                break
        assert reasons[:5] == ["unauthenticated"] * 5, reasons
        assert limited is not None and len(reasons) <= 6, reasons
        assert limited.extra["retry_after"] > 0

        exc = await refused(c.call("auth.login", username="alice", password="demo"))
        assert exc.reason == "rate_limited"
        exc = await refused(c.call("auth.login", username="ALICE", password="demo"))
        assert exc.reason == "rate_limited"

        bob = await c.login("bob")
        assert bob["user"]["role"] == "patient"
        await still_usable(c)
    await second_client_served(server)
