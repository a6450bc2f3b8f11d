"""The sync client reconnects, resumes by seq, obeys close codes and drops a silent link."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from clinic_desktop.store import EntityStore
from clinic_desktop.sync import Backoff, ConnectionState, OfflineError, SyncClient
from desktop_factories import appointment
from scripted_server import ScriptedServer
from server.protocol import Reason, RpcError


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.fixture
async def scripted():
    server = ScriptedServer()
    await server.start()
    yield server
    await server.stop()


def _client(server: ScriptedServer, store: EntityStore | None = None, **kwargs) -> SyncClient:
    return SyncClient(server.url, store or EntityStore(), backoff=Backoff(initial=0.05, maximum=0.2), **kwargs)


async def test_sign_in_loads_snapshot_and_applies_live_events(scripted: ScriptedServer) -> None:
    """After login the snapshot is in the store and pushed events arrive with a latency measure."""
    client = _client(scripted)
    user = await client.sign_in(username="alice", password="demo")
    assert user["role"] == "patient" and client.state == ConnectionState.CONNECTED
    assert client.store.count("appointment") == 3
    await scripted.push("appointment", appointment(50))
    await until(lambda: client.store.get("appointment", 50) is not None)
    assert client.last_latency_ms is not None and client.last_latency_ms >= 0
    await client.close()
    assert client.state == ConnectionState.OFFLINE


async def test_wrong_password_raises_and_stays_offline(scripted: ScriptedServer) -> None:
    """A refused login raises RpcError(unauthenticated) and leaves nothing running."""
    client = _client(scripted)
    with pytest.raises(RpcError) as caught:
        await client.sign_in(username="alice", password="nope")
    assert caught.value.reason == Reason.UNAUTHENTICATED
    assert client.state == ConnectionState.OFFLINE
    with pytest.raises(OfflineError):
        await client.call("slots.find")


async def test_drop_reconnects_resumes_and_replays_without_duplicates(scripted: ScriptedServer) -> None:
    """A dropped link goes "reconnecting", resumes with the access token and `since`, and replays only what was missed."""
    client = _client(scripted)
    states: list[ConnectionState] = []
    client.on_state(states.append)
    await client.sign_in(username="alice", password="demo")
    await scripted.push("appointment", appointment(60))
    await until(lambda: client.store.seq == 100)
    await scripted.stop()
    await until(lambda: client.state == ConnectionState.RECONNECTING)
    await scripted.push("appointment", appointment(61))  # committed while the client was away
    await scripted.start()
    await until(lambda: client.state == ConnectionState.CONNECTED and client.store.get("appointment", 61) is not None)
    subscribes = [params for method, params in scripted.calls if method == "sync.subscribe"]
    assert subscribes[-1] == {"since": 100, "epoch": "epoch-1"}
    assert "auth.resume" in scripted.methods()
    assert client.store.count("appointment") == 5 and client.store.seq == 101
    assert states[:3] == [ConnectionState.CONNECTED, ConnectionState.RECONNECTING, ConnectionState.CONNECTED]
    await client.close()


async def test_close_4001_resubscribes_with_since(scripted: ScriptedServer) -> None:
    """Close code 4001 (fell behind) reconnects and subscribes from the last applied seq."""
    client = _client(scripted)
    await client.sign_in(username="alice", password="demo")
    await scripted.push("appointment", appointment(70))
    await until(lambda: client.store.seq == 100)
    connects = client.connects
    await scripted.close_all(4001)
    await until(lambda: client.connects > connects and client.connected)
    assert [p for m, p in scripted.calls if m == "sync.subscribe"][-1] == {"since": 100, "epoch": "epoch-1"}
    await client.close()


async def test_new_feed_epoch_replaces_the_store_with_the_snapshot(scripted: ScriptedServer) -> None:
    """After a restore (new epoch, a feed that ends before the client's seq) the client takes the snapshot, not its old rows."""
    client = _client(scripted)
    await client.sign_in(username="alice", password="demo")
    await scripted.push("appointment", appointment(70))
    await until(lambda: client.store.seq == 100 and client.store.epoch == "epoch-1")
    scripted.epoch, scripted.log = "epoch-2", []  # the restored feed ends at 99, before the client's seq
    connects = client.connects
    await scripted.close_all(4001)
    await until(lambda: client.connects > connects and client.connected)
    assert [p for m, p in scripted.calls if m == "sync.subscribe"][-1] == {"since": 100, "epoch": "epoch-1"}
    assert client.store.epoch == "epoch-2" and client.store.seq == 99
    assert client.store.get("appointment", 70) is None and client.store.count("appointment") == 3
    await client.close()


async def test_close_4002_reauthenticates_with_refresh_token(scripted: ScriptedServer) -> None:
    """Close code 4002 (token expired) skips resume and refreshes, taking the rotated refresh token."""
    client = _client(scripted)
    rotated: list[str | None] = []
    client.on_refresh_token(rotated.append)
    await client.sign_in(username="alice", password="demo")
    scripted.calls.clear()
    await scripted.close_all(4002)
    await until(lambda: "sync.subscribe" in scripted.methods() and client.connected)
    assert scripted.methods()[:2] == ["auth.refresh", "sync.subscribe"]
    assert rotated[-1] == client.refresh_token and client.refresh_token in scripted.refresh_tokens
    await client.close()


async def test_revoked_refresh_token_ends_the_session(scripted: ScriptedServer) -> None:
    """If the refresh token is refused after a 4002, the client goes offline and says the session ended."""
    client = _client(scripted)
    ended: list[str] = []
    client.on_session_ended(ended.append)
    await client.sign_in(username="alice", password="demo")
    scripted.refresh_tokens = set()
    await scripted.close_all(4002)
    await until(lambda: bool(ended))
    assert client.state == ConnectionState.OFFLINE
    await client.close()


async def test_silent_link_is_dropped_by_the_heartbeat_watchdog(scripted: ScriptedServer) -> None:
    """No frame for the heartbeat timeout drops the link and reconnects, though the socket never closed."""
    client = _client(scripted, heartbeat_timeout=0.8)
    states: list[ConnectionState] = []
    client.on_state(states.append)
    await client.sign_in(username="alice", password="demo")
    connects = client.connects
    scripted.silent = True
    await until(lambda: ConnectionState.RECONNECTING in states)
    scripted.silent = False
    await until(lambda: client.connects > connects and client.connected)
    await client.close()


async def test_backoff_grows_with_jitter_and_resets() -> None:
    """Delays stay under a ceiling that grows exponentially to the cap, are jittered, and restart after a success."""
    backoff = Backoff(initial=1.0, factor=2.0, maximum=8.0)
    delays = [backoff.next_delay() for _ in range(6)]
    assert backoff.floor <= delays[0] <= 1.0 and all(d <= 8.0 for d in delays) and backoff.ceiling() == 8.0
    assert len(set(delays)) > 1
    backoff.reset()
    assert backoff.next_delay() <= 1.0


async def test_a_failing_listener_does_not_stop_the_feed(scripted: ScriptedServer) -> None:
    """An exception in one store listener is logged; later events still arrive and the link stays up."""
    client = _client(scripted)
    await client.sign_in(username="alice", password="demo")

    def broken(change) -> None:
        if change.row and change.row["id"] == 80:
            raise RuntimeError("a view bug")

    client.store.add_listener(broken)
    await scripted.push("appointment", appointment(80))
    await scripted.push("appointment", appointment(81))
    await until(lambda: client.store.get("appointment", 81) is not None)
    assert client.connected
    await client.close()
