"""Exhausting the server: never-reading floods, raced and piled-up sign-ins, idle and excess sockets,
running out of file descriptors, a signed-out subscriber, forged X-Forwarded-For (issue 14; issue 13 #6)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import urllib.request
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import psutil
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.frames import Frame, Opcode

from server.protocol import RpcError
from tests.faults.clinic import free_starts, wait_for
from tests.faults.counters import SECURITY
from tests.helpers import RpcClient
from tests.server_process import ServerProcess


@pytest.fixture
def make_server(database_url: str, tmp_path: Path) -> Iterator:
    """Servers on the test's fresh demo database with the given settings (`extra_env`); stopped afterwards."""
    started: list[ServerProcess] = []

    def make(extra_env: dict[str, str] | None = None, cls: type[ServerProcess] = ServerProcess) -> ServerProcess:
        env = {"CLINIC_HEARTBEAT_SECONDS": "1", "CLINIC_LOG_LEVEL": "INFO", **(extra_env or {})}
        proc = cls(database_url, tmp_path / "data", tmp_path / "server.log", extra_env=env)
        started.append(proc)
        proc.start()
        return proc

    try:
        yield make
    finally:
        for proc in started:
            proc.stop()


def _health(srv: ServerProcess) -> dict:
    with urllib.request.urlopen(srv.http_url + "/healthz", timeout=10) as resp:
        return json.loads(resp.read())


async def _outcome(coro) -> str:
    """'ok', or the error's reason."""
    try:
        await coro
        return "ok"
    except RpcError as exc:
        return str(exc.reason)


def _raw_websocket(srv: ServerProcess, recv_buffer: int = 4096) -> socket.socket:
    """A WebSocket opened by hand on a socket with a tiny receive buffer, so it can stop reading."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, recv_buffer)
    sock.settimeout(30)
    sock.connect((srv.host, srv.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /ws HTTP/1.1\r\nHost: {srv.host}:{srv.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


# ----------------------------------------------------------------------------- memory (item 1)


async def test_a_client_that_never_reads_cannot_grow_the_server(make_server):
    """Big bad requests whose error replies echo a ~240 KiB id, from a client that never reads: the server
    closes it once its fixed send bound is full, its memory stays near its baseline, others are served."""
    srv = make_server({"CLINIC_SEND_BUFFER_KIB": "512"})
    server_proc = psutil.Process(srv.proc.pid)
    async with RpcClient(srv.ws_url) as other:
        await other.login("frontdesk")
        await other.call("directory.get")
        baseline = server_proc.memory_info().rss
        request = Frame(Opcode.TEXT, json.dumps({"jsonrpc": "2.0", "id": "x" * (240 * 1024),
                                                 "method": "no.such.method"}).encode())
        data = request.serialize(mask=True, extensions=[])
        flooder = _raw_websocket(srv)

        def flood(count: int) -> int:
            sent = 0
            try:
                for _ in range(count):
                    flooder.sendall(data)
                    sent += 1
            except OSError:  # the server cut us off: the point
                pass
            return sent

        sent = await asyncio.to_thread(flood, 600)  # ~140 MiB of replies if the server kept them all
        SECURITY.add(bad_inputs=sent, faults_injected=1)
        try:
            await wait_for(lambda: _health(srv)["clients"] == 1, 30, "the server to close the client that never reads")
        finally:
            flooder.close()
        grown = server_proc.memory_info().rss / baseline
        assert grown < 1.4, f"the server grew {grown:.2f}x its baseline for one never-reading client"
        assert (await other.call("directory.get"))["settings"]["timezone"]
    assert "fell behind" in srv.log_text()


async def test_a_reply_larger_than_the_send_bound_is_refused_before_it_is_queued(make_server):
    """A reply that alone would exceed the connection's send bound comes back as invalid_params; the connection lives on."""
    srv = make_server({"CLINIC_SEND_BUFFER_KIB": "8"})
    async with RpcClient(srv.ws_url) as desk:
        login = await desk.login("frontdesk")
        with pytest.raises(RpcError) as caught:
            await desk.call("slots.find", type_id=1, **{"from": date.today().isoformat(),
                                                        "to": (date.today() + timedelta(days=14)).isoformat()})
        assert caught.value.reason == "invalid_params" and "ask for less" in str(caught.value.extra)
        SECURITY.add(bad_inputs=1)
        assert (await desk.call("auth.resume", access_token=login["access_token"]))["user"]["role"] == "admin"
        assert not desk.closed


async def test_a_snapshot_larger_than_the_send_bound_still_arrives_and_live_events_follow(make_server):
    """A clinic bigger than the send buffer still loads: the snapshot gets a one-off credit, then the bound holds."""
    srv = make_server({"CLINIC_SEND_BUFFER_KIB": "4", "CLINIC_WRITES_PER_MINUTE": "1000"})
    async with RpcClient(srv.ws_url) as desk, RpcClient(srv.ws_url) as writer:
        await desk.login("frontdesk")
        first = await desk.subscribe(None)
        assert len(json.dumps(first)) > 4 * 1024  # the demo clinic alone is larger than this bound
        await writer.login("frontdesk")
        appt = first["snapshot"]["appointment"][0]
        await writer.call("appointments.update", id=appt["id"], version=appt["version"], notes="after the snapshot")
        event = (await desk.events_until(lambda e: e["id"] == appt["id"] and e["entity"] == "appointment"))[-1]
        assert event["data"]["notes"] == "after the snapshot"
        assert not desk.closed


# ----------------------------------------------------------------------------- sign-ins (item 2)


async def test_parallel_wrong_passwords_are_counted_before_they_are_checked(make_server):
    """40 wrong passwords for one account at once, on 40 connections: at most 5 are checked, the rest are rate_limited."""
    srv = make_server({"CLINIC_MAX_CONCURRENT_SIGN_INS": "64"})
    clients = [RpcClient(srv.ws_url) for _ in range(40)]
    await asyncio.gather(*(c.__aenter__() for c in clients))
    try:
        reasons = await asyncio.gather(*(_outcome(c.login("alice", "wrong-guess")) for c in clients))
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    SECURITY.add(bad_inputs=len(reasons))
    assert reasons.count("unauthenticated") <= 5, reasons
    assert reasons.count("rate_limited") >= 35, reasons


async def test_sign_ins_beyond_the_cap_are_refused_at_once(make_server):
    """More simultaneous sign-ins than `max_concurrent_sign_ins`: the excess gets rate_limited with retry_after, the rest sign in."""
    srv = make_server({"CLINIC_MAX_CONCURRENT_SIGN_INS": "3"})
    clients = [RpcClient(srv.ws_url) for _ in range(12)]
    await asyncio.gather(*(c.__aenter__() for c in clients))
    try:
        results = await asyncio.gather(*(c.login("frontdesk") for c in clients), return_exceptions=True)
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    refused = [r for r in results if isinstance(r, RpcError)]
    SECURITY.add(faults_injected=1)
    assert refused and all(r.reason == "rate_limited" and r.extra["retry_after"] > 0 for r in refused)
    assert 3 <= len(results) - len(refused) < 12
    async with RpcClient(srv.ws_url) as late:
        assert (await late.login("frontdesk"))["user"]["role"] == "admin"


async def test_sign_ins_do_not_stall_another_users_calls(make_server):
    """While 25 sign-ins hash their passwords, a signed-in user's cheap call answers before most of them finish."""
    srv = make_server({"CLINIC_MAX_CONCURRENT_SIGN_INS": "64"})
    # Five at once per account: more would be over the account's sign-in throttle.
    names = ["frontdesk", "drsmith", "drpatel", "alice", "bob"] * 5
    async with RpcClient(srv.ws_url) as desk:
        await desk.login("frontdesk")
        clients = [RpcClient(srv.ws_url, call_timeout=120) for _ in names]
        await asyncio.gather(*(c.__aenter__() for c in clients))
        finished = 0

        async def sign_in(c: RpcClient, name: str) -> None:
            nonlocal finished
            await c.login(name)
            finished += 1

        try:
            logins = [asyncio.create_task(sign_in(c, n)) for c, n in zip(clients, names)]
            await asyncio.sleep(0)  # every login frame is on its way before the cheap call
            await desk.call("directory.get")
            finished_when_answered = finished
            await asyncio.gather(*logins)
        finally:
            await asyncio.gather(*(c.close() for c in clients))
    SECURITY.add(faults_injected=1)
    assert finished == len(names)
    assert finished_when_answered < len(names) // 2, \
        f"{finished_when_answered} of {len(names)} sign-ins finished before a directory.get answered"


# ----------------------------------------------------------------------------- sockets (item 3)


async def test_connections_past_the_caps_are_refused_and_the_server_still_serves(make_server):
    """Past the per-address cap an upgrade gets 429, past the global cap 503; /healthz and sign-in still work."""
    srv = make_server({"CLINIC_MAX_CONNECTIONS": "6", "CLINIC_MAX_CONNECTIONS_PER_ADDRESS": "4",
                       "CLINIC_TRUSTED_PROXIES": "127.0.0.1"})

    async def open_from(address: str):
        return await connect(srv.ws_url, additional_headers={"X-Forwarded-For": address})

    held = [await open_from("198.51.100.7") for _ in range(4)]
    try:
        with pytest.raises(InvalidStatus) as caught:
            await open_from("198.51.100.7")
        assert caught.value.response.status_code == 429
        held += [await open_from("198.51.100.8") for _ in range(2)]
        with pytest.raises(InvalidStatus) as caught:
            await open_from("198.51.100.9")
        assert caught.value.response.status_code == 503
        SECURITY.add(faults_injected=2)
        assert _health(srv)["status"] == "ok"
        await held[0].send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "auth.login",
                                       "params": {"username": "frontdesk", "password": "demo"}}))
        assert json.loads(await held[0].recv())["result"]["user"]["role"] == "admin"
        await held.pop().close()
        await wait_for(lambda: _health(srv)["clients"] == 5, 10, "the closed connection to free its place")
        async with RpcClient(srv.ws_url) as again:
            assert (await again.login("alice"))["user"]["role"] == "patient"
    finally:
        await asyncio.gather(*(ws.close() for ws in held))


async def test_a_connection_that_never_signs_in_is_closed_at_the_deadline(make_server):
    """An idle unauthenticated WebSocket is closed with 4003 after the sign-in deadline; a signed-in one stays."""
    srv = make_server({"CLINIC_SIGN_IN_DEADLINE_SECONDS": "1"})
    async with RpcClient(srv.ws_url) as idle, RpcClient(srv.ws_url) as user:
        await user.login("bob")
        assert await idle.wait_closed(timeout=15) == 4003
        SECURITY.add(faults_injected=1)
        await asyncio.sleep(1.5)  # past the deadline for the signed-in one too
        assert (await user.call("directory.get"))["settings"]["timezone"]
        await user.call("auth.logout")  # signed out again: the deadline applies again
        assert await user.wait_closed(timeout=15) == 4003


class LowFileLimitServer(ServerProcess):
    """The server run with an open-file limit of 256 (soft and hard), as on a small VM."""

    def command(self) -> list[str]:
        return ["prlimit", "--nofile=256:256", "--", *super().command()]


async def test_running_out_of_file_descriptors_logs_one_line_and_recovers(make_server):
    """Far more raw sockets than the open-file limit allows: a few log lines (no traceback per accept);
    once they close, the server signs users in again."""
    srv = make_server(cls=LowFileLimitServer)
    before = srv.log_text().count("Traceback")
    socks = []
    try:
        for _ in range(600):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex((srv.host, srv.port))
            socks.append(s)
        SECURITY.add(faults_injected=1)
        await asyncio.sleep(4)  # several of asyncio's accept retries
    finally:
        for s in socks:
            s.close()
    async with RpcClient(srv.ws_url, open_timeout=30) as c:
        assert (await c.login("frontdesk"))["user"]["role"] == "admin"
    log = srv.log_text()
    assert log.count("Traceback") - before <= 2, log[-3000:]
    assert "cannot accept new connections" in log


# ----------------------------------------------------------------------------- sign-out (issue 13 #6)


async def test_logout_ends_the_subscription(make_server):
    """After auth.logout a subscribed connection gets no more events nor heartbeats, though others do."""
    srv = make_server()
    async with RpcClient(srv.ws_url) as alice, RpcClient(srv.ws_url) as desk:
        await alice.login("alice")
        await alice.subscribe()
        await desk.login("frontdesk")
        await desk.subscribe()
        await alice.call("auth.logout")
        alice.drain_notifications()
        start = (await free_starts(desk, 1, 2))[0]
        appt = await desk.call("appointments.create", dentist_id=1, type_id=1, start=start, patient_id=2)
        await desk.events_until(lambda e: e["id"] == appt["id"])
        await asyncio.sleep(2.5)  # more than two heartbeat intervals
        assert alice.drain_notifications() == []
        assert not alice.closed
    SECURITY.add(events_checked=1)


# ----------------------------------------------------------------------------- proxies (item 7)


async def _attempt(srv: ServerProcess, forwarded_for: str, username: str) -> str:
    """One wrong sign-in on a fresh connection whose upgrade carries `X-Forwarded-For`; its outcome."""
    async with connect(srv.ws_url, additional_headers={"X-Forwarded-For": forwarded_for}) as ws:
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "auth.login",
                                  "params": {"username": username, "password": "wrong-guess"}}))
        reply = json.loads(await ws.recv())
    SECURITY.add(bad_inputs=1)
    return reply["error"]["data"]["reason"]


async def test_forwarded_for_is_ignored_from_an_untrusted_peer(make_server):
    """A client forging X-Forwarded-For cannot dodge the per-address sign-in throttle by changing it."""
    srv = make_server({"CLINIC_LOGIN_ATTEMPTS_PER_MINUTE": "1"})  # 5 failures per address per 300 s
    reasons = [await _attempt(srv, f"203.0.113.{i}", f"nobody{i}") for i in range(7)]
    assert reasons[:5] == ["unauthenticated"] * 5
    assert reasons[5:] == ["rate_limited"] * 2


async def test_forwarded_for_from_a_trusted_proxy_gives_each_client_its_own_throttle(make_server):
    """Behind a trusted proxy, one address's failures lock that address only; another forwarded address still signs in."""
    srv = make_server({"CLINIC_LOGIN_ATTEMPTS_PER_MINUTE": "1", "CLINIC_TRUSTED_PROXIES": "10.9.9.9, 127.0.0.1/32"})
    attacker = [await _attempt(srv, "203.0.113.1", f"nobody{i}") for i in range(6)]
    assert attacker == ["unauthenticated"] * 5 + ["rate_limited"]
    # A forged hop to the left of what the proxy wrote changes nothing: the proxy's entry counts.
    assert await _attempt(srv, "198.51.100.1, 203.0.113.1", "nobody9") == "rate_limited"
    assert await _attempt(srv, "203.0.113.2", "nobody10") == "unauthenticated"
    async with connect(srv.ws_url, additional_headers={"X-Forwarded-For": "203.0.113.3"}) as ws:
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "auth.login",
                                  "params": {"username": "alice", "password": "demo"}}))
        assert json.loads(await ws.recv())["result"]["user"]["role"] == "patient"
