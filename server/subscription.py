"""Subscriptions: how one client gets from the position it holds to the live feed.

`sync.subscribe` carries the pair the client holds, `since` and `epoch`. It is answered with a replay
only while that pair still names a place in this feed: the same epoch (or none yet), `since` neither
before what pruning kept nor beyond the feed's end, and the missed changes few and small enough for
the connection's send bound. Anything else gets a snapshot at once, never a wait. The retention check
and the replay read share one REPEATABLE READ snapshot, so pruning cannot remove rows between them.
The answer then catches up with this instance's relay reading only rows that are there (a gap means a
snapshot instead), and joins the fan-out with no await between its last read and going live, so no
change is skipped or sent twice.

States of one subscription: REPLAY or SNAPSHOT (building the answer) → CATCH_UP (reaching the relay)
→ LIVE; a gap sends CATCH_UP back to SNAPSHOT once; a closed connection ends it anywhere.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
from websockets.protocol import State

from .config import Config
from .connection import ClientConnection, text_frame
from .protocol import WS_CLOSE_AUTH_EXPIRED, Reason, RpcError, encode_notification, encode_result, view_for
from .relay import ChangeRow, FeedState, Relay, fetch_changes, read_feed_state

__all__ = ["MAX_REPLAY", "Answer", "Subscriptions", "prune", "replayable"]

log = logging.getLogger(__name__)

MAX_REPLAY = 20000  # more missed changes than this: a snapshot is cheaper
REPLAY_BATCH = 1000
WAIT_STEP = 0.5  # while waiting for the relay, look at the connection this often

SNAPSHOT_QUERIES = {
    "settings": "SELECT clinic_wire_settings(x)::text FROM clinic_settings x",
    "chair": "SELECT clinic_wire_chair(x)::text FROM chairs x ORDER BY id",
    "appointment_type": "SELECT clinic_wire_appointment_type(x)::text FROM appointment_types x ORDER BY id",
    "dentist": "SELECT clinic_wire_dentist(x)::text FROM dentists x ORDER BY id",
    "patient": "SELECT clinic_wire_patient(x)::text FROM patients x ORDER BY id",
    "working_hours": "SELECT clinic_wire_working_hours(x)::text FROM working_hours x ORDER BY id",
    "schedule_exception": "SELECT clinic_wire_schedule_exception(x)::text FROM schedule_exceptions x "
                          "WHERE end_at > now() - interval '90 days' ORDER BY id",
    "blockout_type": "SELECT clinic_wire_blockout_type(x)::text FROM blockout_types x ORDER BY id",
    "blockout": "SELECT clinic_wire_blockout(x)::text FROM blockouts x "
                "WHERE end_at > now() - interval '90 days' ORDER BY id",
    "appointment": "SELECT clinic_wire_appointment(x)::text FROM appointments x "
                   "WHERE end_at > now() - interval '90 days' ORDER BY start_at",
    "waitlist_request": "SELECT clinic_wire_waitlist_request(x)::text FROM waitlist_requests x "
                        "WHERE status = 'active' OR updated_at > now() - interval '7 days' ORDER BY id",
    "waitlist_offer": "SELECT clinic_wire_waitlist_offer(x)::text FROM waitlist_offers x "
                      "WHERE status = 'open' OR updated_at > now() - interval '1 day' ORDER BY id",
}


class Gap(Exception):
    """The rows a replay needs are not there (pruned, the history cut) or do not fit: answer with a snapshot."""


def replayable(since: int, epoch: str | None, state: FeedState, max_replay: int = MAX_REPLAY) -> bool:
    """Whether the client's (since, epoch) still names a position in this feed that a replay can serve.

    A null epoch is a client that holds none yet (or predates epochs): its `since` is honoured within
    the feed's bounds. A `since` beyond the feed's end can only come from another history.
    """
    return ((epoch is None or epoch == state.epoch) and state.pruned_through <= since <= state.end
            and state.end - since <= max_replay)


@dataclass
class Answer:
    """What a subscribe will send: the result's `seq` and snapshot (if any), then event frames up to `cursor`."""

    state: FeedState
    start: int  # the result's `seq`: the snapshot's watermark, or the client's `since`
    snapshot: dict[str, list[dict[str, Any]]] | None = None
    frames: list[bytes] = field(default_factory=list)
    size: int = 0
    cursor: int = -1  # the last seq read; advances only over rows actually read

    def __post_init__(self) -> None:
        if self.cursor < 0:
            self.cursor = self.start

    def add(self, rows: list[ChangeRow], conn: ClientConnection) -> None:
        for row in rows:
            frame = row.frame_for(conn.role, conn.dentist_id, conn.patient_id)
            if frame is not None:
                self.frames.append(frame)
                self.size += len(frame)
            self.cursor = row.seq

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {"seq": self.start, "epoch": self.state.epoch}
        if self.snapshot is not None:
            out["snapshot"] = self.snapshot
        else:
            out["replayed"] = len(self.frames)
        return out


class Subscriptions:
    """Answers `sync.subscribe` for the connections of one server, paces it, and runs heartbeats and pruning."""

    def __init__(self, relay: Relay, config: Config) -> None:
        self.relay = relay
        self.config = config
        self.rate = config.subscribes_per_minute / 60.0
        self.burst = max(2.0, config.subscribes_per_minute / 6)
        self._pacing: dict[ClientConnection, tuple[float, float]] = {}  # tokens left, when counted

    # ------------------------------------------------------------------ subscribe

    async def subscribe(self, conn: ClientConnection, rid: Any, since: int | None, epoch: str | None) -> None:
        """Answer one subscribe: the result, then the replayed events, then live fan-out."""
        if conn.identity is None:
            raise RpcError.app(Reason.UNAUTHENTICATED, "Please sign in first.")
        self._pace(conn)
        relay = self.relay
        relay.subscribers.discard(conn)
        conn.live = False
        answer = await self._replay(conn, since, epoch) if since is not None else None
        for _attempt in range(2):
            if answer is None:
                answer = await self._snapshot(conn)
            try:
                if not await self._catch_up(conn, answer):
                    return  # the connection closed meanwhile: nobody to answer
                break
            except Gap:
                answer = None
        else:
            raise RpcError.app(Reason.INTERNAL, "The clinic's change feed moved while you subscribed; "
                                                "please subscribe again.")
        # No await from the last catch-up check to here: the relay cannot move in between.
        conn.send_now(encode_result(rid, answer.result()), snapshot=answer.snapshot is not None)
        for frame in answer.frames:
            conn.send_frame(frame)
        conn.seq = answer.cursor
        conn.live = True
        relay.subscribers.add(conn)

    def _pace(self, conn: ClientConnection) -> None:
        """Refuse a subscribe while the previous answer is still unsent, or beyond the per-connection rate."""
        if conn.ws.transport.get_write_buffer_size() > 0:
            raise RpcError.app(Reason.RATE_LIMITED, "The previous answer is still on its way; subscribe again "
                                                    "once it has arrived.", retry_after=1.0)
        now = time.monotonic()
        tokens, last = self._pacing.get(conn, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._pacing[conn] = (tokens, now)
            raise RpcError.app(Reason.RATE_LIMITED, "Too many subscribes on this connection; please wait.",
                               retry_after=round((1.0 - tokens) / self.rate, 1))
        self._pacing[conn] = (tokens - 1.0, now)

    async def _replay(self, conn: ClientConnection, since: int, epoch: str | None) -> Answer | None:
        """The missed changes, read in the same snapshot as the retention check; None when a snapshot is due."""
        async with self.relay.pool.acquire() as c:
            async with c.transaction(isolation="repeatable_read", readonly=True):
                state = await read_feed_state(c)
                if not replayable(since, epoch, state):
                    return None
                answer = Answer(state, since)
                while answer.cursor < state.end:
                    rows = await fetch_changes(c, answer.cursor, state.end, REPLAY_BATCH)
                    if not rows:
                        break
                    answer.add(rows, conn)
                    if answer.size > conn.buffer_limit:
                        return None  # more than the send bound allows: a snapshot is the smaller answer
        return answer

    async def _snapshot(self, conn: ClientConnection) -> Answer:
        """Every row the viewer may see, with the feed's state from the same snapshot."""
        out: dict[str, list[dict[str, Any]]] = {}
        async with self.relay.pool.acquire() as c:
            async with c.transaction(isolation="repeatable_read", readonly=True):
                state = await read_feed_state(c)
                for kind, sql in SNAPSHOT_QUERIES.items():
                    shaped_rows = []
                    for record in await c.fetch(sql):
                        view, shaped = view_for(kind, json.loads(record[0]), conn.role, conn.dentist_id, conn.patient_id)
                        if shaped is not None:
                            shaped_rows.append(shaped)
                    out[kind] = shaped_rows
        return Answer(state, state.end, snapshot=out)

    async def _catch_up(self, conn: ClientConnection, answer: Answer) -> bool:
        """Bring the answer up to this instance's relay position; False when the connection closed.

        Waits (boundedly) while the relay is behind the answer; reads what the relay has fanned out
        beyond it, in a snapshot that also shows whether those rows are all still there.
        """
        relay = self.relay
        deadline = time.monotonic() + self.config.subscribe_wait_seconds
        while True:
            if conn.ws.protocol.state is not State.OPEN:
                return False
            if answer.state.epoch != relay.epoch:
                await relay.check_epoch()
                if answer.state.epoch != relay.epoch:
                    raise Gap
            position = relay.position
            if answer.cursor == position:
                return True
            if answer.cursor < position:
                answer.add(await self._read_tail(answer, position), conn)
                if answer.snapshot is None and answer.size > conn.buffer_limit:
                    raise Gap
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RpcError.app(Reason.INTERNAL, "The server is still catching up with the clinic's changes; "
                                                    "please subscribe again in a moment.")
            waiter = relay.advanced
            relay.wake()
            try:
                await asyncio.wait_for(waiter.wait(), min(remaining, WAIT_STEP))
            except asyncio.TimeoutError:
                pass

    async def _read_tail(self, answer: Answer, upto: int) -> list[ChangeRow]:
        async with self.relay.pool.acquire() as c:
            async with c.transaction(isolation="repeatable_read", readonly=True):
                state = await read_feed_state(c)
                if state.epoch != answer.state.epoch or state.pruned_through > answer.cursor:
                    raise Gap
                rows = await fetch_changes(c, answer.cursor, upto, REPLAY_BATCH)
        if not rows:
            raise Gap  # the relay is past rows this feed does not hold
        return rows

    # ------------------------------------------------------------------ background

    def forget_closed(self, connections: Collection[ClientConnection]) -> None:
        """Drop the pacing of connections that are gone."""
        for conn in [c for c in self._pacing if c not in connections]:
            del self._pacing[conn]

    async def heartbeats(self, connections: Collection[ClientConnection]) -> None:
        """Every few seconds: close expired sessions, send each live client the seq it has reached."""
        while True:
            await asyncio.sleep(self.config.heartbeat_seconds)
            now = time.time()
            frames: dict[int, bytes] = {}
            server_time = datetime.now(timezone.utc).isoformat()
            for conn in tuple(connections):
                ident = conn.identity
                if ident is not None and ident.expires_at + 60 < now:
                    conn.identity = None
                    self.relay.subscribers.discard(conn)
                    asyncio.ensure_future(conn.ws.close(WS_CLOSE_AUTH_EXPIRED, "session expired; sign in again"))
                    continue
                if not conn.live:
                    continue
                frame = frames.get(conn.seq)
                if frame is None:
                    frame = frames[conn.seq] = text_frame(
                        encode_notification("sync.heartbeat", {"seq": conn.seq, "server_time": server_time}))
                conn.send_frame(frame)
            self.forget_closed(connections)

    async def pruning(self) -> None:
        """Prune the feed a while after start, then hourly."""
        while True:
            await asyncio.sleep(600)
            try:
                await prune(self.relay.pool, timedelta(days=self.config.retention_days))
            except Exception as exc:
                log.warning("pruning the change feed failed: %s", type(exc).__name__)
            await asyncio.sleep(3000)


async def prune(pool: asyncpg.Pool, keep: timedelta) -> int:
    """Delete change_log rows past retention and record how far the feed is pruned (in one transaction)."""
    async with pool.acquire() as c:
        async with c.transaction():
            cutoff = datetime.now(timezone.utc) - keep
            upto = await c.fetchval("SELECT max(seq) FROM change_log WHERE committed_at < $1", cutoff)
            if upto is None:
                return 0
            status = await c.execute("DELETE FROM change_log WHERE seq <= $1", upto)
            await c.execute("UPDATE change_log_state SET pruned_through = greatest(pruned_through, $1)", upto)
    return int(status.split()[-1])
