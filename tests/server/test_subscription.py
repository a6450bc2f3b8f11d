"""The subscription's handoff from snapshot or replay to live, driven without a socket.

A stand-in relay holds the position and the subscriber set (the test moves them at will); the feed
itself is the real change_log of a seeded database, read through a real asyncpg pool.
"""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import asyncpg
import pytest
from websockets.protocol import State

from server.config import Config
from server.protocol import Reason, RpcError
from server.relay import FeedState, read_feed_state
from server.subscription import Subscriptions, replayable


class StandInRelay:
    """The parts of `Relay` a subscription uses; `position` moves only when the test moves it."""

    def __init__(self, pool: asyncpg.Pool, position: int, epoch: str) -> None:
        self.pool = pool
        self.position = position
        self.epoch = epoch
        self.subscribers: set = set()
        self.advanced = asyncio.Event()
        self.woken = 0

    def wake(self) -> None:
        self.woken += 1

    async def check_epoch(self) -> None:
        async with self.pool.acquire() as c:
            self.epoch = (await read_feed_state(c)).epoch

    def advance(self, position: int) -> None:
        self.position = position
        self.advanced.set()
        self.advanced = asyncio.Event()


class Transport:
    def get_write_buffer_size(self) -> int:
        return 0


class StandInConnection:
    """A signed-in front desk whose frames are kept in order, as the wire would carry them."""

    def __init__(self) -> None:
        self.ws = SimpleNamespace(protocol=SimpleNamespace(state=State.OPEN), transport=Transport())
        self.identity = object()
        self.role, self.dentist_id, self.patient_id = "admin", None, None
        self.buffer_limit = 1024 * 1024
        self.seq = 0
        self.live = False
        self.sent: list[dict] = []

    def send_now(self, message: str, snapshot: bool = False) -> bool:
        self.sent.append(json.loads(message))
        return True

    def send_frame(self, frame: bytes, snapshot: bool = False) -> bool:
        self.sent.append(json.loads(frame[frame.index(b"{"):]))
        return True

    def events(self) -> list[int]:
        return [m["params"]["seq"] for m in self.sent if m.get("method") == "sync.event"]


@pytest.fixture
async def feed(database_url: str):
    pool = await asyncpg.create_pool(database_url, min_size=0, max_size=3)
    async with pool.acquire() as c:
        state = await read_feed_state(c)
        seqs = [r["seq"] for r in await c.fetch("SELECT seq FROM change_log ORDER BY seq")]
    try:
        yield pool, state, seqs
    finally:
        await pool.close()


def _subscriptions(relay: StandInRelay, **settings) -> Subscriptions:
    return Subscriptions(relay, Config(**settings))  # type: ignore[arg-type]


def test_replay_is_served_only_for_a_position_in_this_feed() -> None:
    """Same or no epoch and since within [pruned_through, end] replays; another epoch, a since beyond the end or before the pruned part does not."""
    state = FeedState("e1", pruned_through=100, end=500)
    assert replayable(500, "e1", state) and replayable(100, None, state)
    assert not replayable(300, "e0", state)
    assert not replayable(501, "e1", state)
    assert not replayable(99, "e1", state)
    assert not replayable(0, None, FeedState("e1", 0, 30000))  # too many to replay: a snapshot is cheaper


async def test_relay_behind_the_replay_is_waited_for_then_live_with_no_gap_or_repeat(feed) -> None:
    """The replay reads to the feed's end; the subscriber joins the fan-out only once the relay has reached it."""
    pool, state, seqs = feed
    relay = StandInRelay(pool, seqs[-3], state.epoch)
    subs = _subscriptions(relay)
    conn = StandInConnection()
    task = asyncio.create_task(subs.subscribe(conn, 1, seqs[-4], state.epoch))
    while relay.woken == 0:  # it asked the relay to read on and now waits for it
        await asyncio.sleep(0.01)
    assert conn.sent == [] and conn not in relay.subscribers
    relay.advance(seqs[-1])
    await task
    assert conn.sent[0]["result"] == {"seq": seqs[-4], "epoch": state.epoch, "replayed": 3}
    assert conn.events() == seqs[-3:]
    assert conn.live and conn in relay.subscribers and conn.seq == seqs[-1]


async def test_relay_ahead_of_the_snapshot_sends_the_rows_in_between_once(feed, database_url: str) -> None:
    """A change committed after the snapshot's read but already fanned out by the relay is sent by the subscription, once."""
    pool, state, seqs = feed
    relay = StandInRelay(pool, seqs[-1], state.epoch)
    subs = _subscriptions(relay)
    conn = StandInConnection()
    snapshot = subs._snapshot

    async def snapshot_then_a_change(c):  # the relay fans out a change the snapshot did not see
        answer = await snapshot(c)
        other = await asyncpg.connect(database_url)
        try:
            await other.execute("UPDATE chairs SET name = name || ' (moved)' WHERE id = 1")
            relay.advance(await other.fetchval("SELECT max(seq) FROM change_log"))
        finally:
            await other.close()
        return answer

    subs._snapshot = snapshot_then_a_change  # type: ignore[method-assign]
    await subs.subscribe(conn, 1, None, None)
    assert conn.sent[0]["result"]["seq"] == seqs[-1] and "snapshot" in conn.sent[0]["result"]
    assert conn.events() == [relay.position] and conn.seq == relay.position and conn.live


async def test_relay_past_rows_the_feed_does_not_hold_never_lets_the_cursor_jump(feed) -> None:
    """An empty read short of the relay's position is a gap: the subscriber is not put live past changes it never got."""
    pool, state, seqs = feed
    relay = StandInRelay(pool, seqs[-1] + 50, state.epoch)
    subs = _subscriptions(relay)
    conn = StandInConnection()
    with pytest.raises(RpcError) as caught:
        await subs.subscribe(conn, 1, seqs[-3], state.epoch)
    assert caught.value.reason == Reason.INTERNAL and "subscribe again" in caught.value.message
    assert not conn.live and conn not in relay.subscribers and conn.sent == []


async def test_a_relay_that_never_catches_up_is_waited_for_a_bounded_time(feed) -> None:
    """No subscribe waits unboundedly: past subscribe_wait_seconds the client is told to subscribe again."""
    pool, state, seqs = feed
    relay = StandInRelay(pool, 0, state.epoch)
    subs = _subscriptions(relay, subscribe_wait_seconds=0.3)
    conn = StandInConnection()
    with pytest.raises(RpcError) as caught:
        await subs.subscribe(conn, 1, seqs[-2], state.epoch)
    assert "catching up" in caught.value.message and not conn.live and relay.woken > 0


async def test_a_closed_connection_ends_its_subscribe(feed) -> None:
    """A client that goes away while its subscribe waits ends the handler: no reply, never live."""
    pool, state, seqs = feed
    relay = StandInRelay(pool, 0, state.epoch)
    subs = _subscriptions(relay, subscribe_wait_seconds=3600)
    conn = StandInConnection()
    task = asyncio.create_task(subs.subscribe(conn, 1, seqs[-2], state.epoch))
    while relay.woken == 0:
        await asyncio.sleep(0.01)
    conn.ws.protocol.state = State.CLOSED
    await task
    assert conn.sent == [] and not conn.live and conn not in relay.subscribers
