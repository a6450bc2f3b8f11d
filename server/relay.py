"""The change relay: reads change_log after its position and fans each change out to the clients.

NOTIFY only wakes it; a backstop poll (about 1 s) and a health-checked LISTEN connection that is
re-opened when it dies mean a lost notification only delays delivery, never loses it. The poll also
checks the feed's epoch: when the history was cut (a restore under a running server, a TRUNCATE),
every live subscriber is closed with the resync code and comes back for a snapshot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import asyncpg

from .connection import text_frame
from .protocol import WS_CLOSE_RESYNC, busy_block, encode_notification, redacted, view_kind

if TYPE_CHECKING:
    from .connection import ClientConnection

__all__ = ["Relay", "ChangeRow", "FeedState", "fetch_changes", "read_feed_state"]

log = logging.getLogger(__name__)
CHANNEL = "clinic_changes"
BATCH = 1000


class ChangeRow:
    """One change_log row, with each of its (at most four) per-view frames serialised once and shared."""

    __slots__ = ("seq", "entity", "op", "entity_id", "data", "committed_at", "_frames")

    def __init__(self, seq: int, entity: str, op: str, entity_id: int, data: dict[str, Any], committed_at: datetime):
        self.seq = seq
        self.entity = entity
        self.op = op
        self.entity_id = entity_id
        self.data = data
        self.committed_at = committed_at
        self._frames: dict[str, bytes] = {}

    def frame_for(self, role: str, dentist_id: int | None, patient_id: int | None) -> bytes | None:
        """The serialised sync.event frame this viewer gets, or None when the viewer must not see it."""
        return self.frame(view_kind(self.entity, self.data, role, dentist_id, patient_id))

    def frame(self, how: str) -> bytes | None:
        """The frame for one way of seeing the row (see `view_kind`); None for "hidden"."""
        frame = self._frames.get(how)
        if frame is None:
            if how == "hidden":
                return None
            frame = self._frames[how] = text_frame(self._message(how))
        return frame

    def _message(self, how: str) -> str:
        op, data = self.op, self.data
        if how == "busy":
            data = busy_block(data)
        elif how == "redacted":
            data = redacted(self.entity, data)
        elif how == "delete":
            op, data = "delete", {"id": self.entity_id}
        elif op == "delete" and data is None:
            data = {"id": self.entity_id}
        return encode_notification("sync.event", {
            "seq": self.seq, "entity": self.entity, "op": op, "id": self.entity_id,
            "data": data, "committed_at": self.committed_at.isoformat(),
        })


async def fetch_changes(conn: asyncpg.Connection, after: int, upto: int | None = None, limit: int = BATCH) -> list[ChangeRow]:
    if upto is None:
        rows = await conn.fetch(
            "SELECT seq, entity, op, entity_id, data::text AS data, committed_at FROM change_log "
            "WHERE seq > $1 ORDER BY seq LIMIT $2", after, limit)
    else:
        rows = await conn.fetch(
            "SELECT seq, entity, op, entity_id, data::text AS data, committed_at FROM change_log "
            "WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3", after, upto, limit)
    return [ChangeRow(r["seq"], r["entity"], r["op"], r["entity_id"], json.loads(r["data"]), r["committed_at"]) for r in rows]


@dataclass(frozen=True, slots=True)
class FeedState:
    """Which history the feed holds (`epoch`), what of it is gone (`pruned_through`), and its end.

    `end` is `greatest(max(seq), pruned_through)`: with every row pruned (a quiet clinic past
    retention) the feed still ends where it ended, not at 0.
    """

    epoch: str
    pruned_through: int
    end: int


async def read_feed_state(conn: asyncpg.Connection) -> FeedState:
    """The feed's state. change_log_state is read first, so inside a REPEATABLE READ transaction the
    snapshot is taken before change_log is touched (a lock on change_log cannot move it later)."""
    state = await conn.fetchrow("SELECT epoch::text AS epoch, pruned_through FROM change_log_state")
    last = await conn.fetchval("SELECT coalesce(max(seq), 0) FROM change_log")
    return FeedState(state["epoch"], state["pruned_through"], max(last, state["pruned_through"]))


class Relay:
    """Holds the instance's position in the feed and the set of live subscribers."""

    def __init__(self, dsn: str, poll_seconds: float = 1.0, metrics=None, fanout_interval: float = 0.0,
                 fanout_pause_ratio: float = 0.0, fanout_pause_max: float = 0.010) -> None:
        self.dsn = dsn
        self.poll_seconds = poll_seconds
        # Under load, changes that arrive together share one write per client (one send() each, the
        # fan-out's whole cost): the next fan-out starts no sooner than `fanout_interval` seconds after
        # the last one started, nor sooner than `fanout_pause_ratio` times its length (at most
        # `fanout_pause_max` seconds) after it ended. A change after a quiet spell still goes out at once.
        self.fanout_interval = fanout_interval
        self.fanout_pause_ratio = fanout_pause_ratio
        self.fanout_pause_max = fanout_pause_max
        self._next_fanout = 0.0  # monotonic time before which no fan-out starts
        self.metrics = metrics
        self.position = 0  # the last seq read and fanned out by this instance
        self.epoch = ""  # the feed epoch `position` belongs to
        self._last_epoch_check = 0.0
        self._closing_tasks: set[asyncio.Future[None]] = set()  # resync closes in flight
        self.subscribers: set[ClientConnection] = set()
        self.advanced = asyncio.Event()  # set whenever position moves (subscribers catching up wait on it)
        self._wake = asyncio.Event()
        self._pool: asyncpg.Pool | None = None
        self._listen: asyncpg.Connection | None = None
        self._tasks: list[asyncio.Task] = []
        self._closing = False
        self.listen_reopened = 0

    async def start(self) -> None:
        # min_size=0: with a floor, asyncpg logs a traceback every second while the database is down.
        self._pool = await asyncpg.create_pool(self.dsn, min_size=0, max_size=4)
        async with self._pool.acquire() as conn:
            state = await read_feed_state(conn)
        self.position, self.epoch = state.end, state.epoch
        self._last_epoch_check = time.monotonic()
        await self._open_listen()
        self._tasks = [asyncio.create_task(self._run(), name="relay"),
                       asyncio.create_task(self._watch_listen(), name="relay-listen-health")]

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None
        return self._pool

    async def _open_listen(self) -> None:
        conn = await asyncpg.connect(self.dsn, server_settings={"application_name": "clinic-relay-listen"})
        await conn.add_listener(CHANNEL, self._on_notify)
        self._listen = conn
        self._wake.set()  # catch up on anything committed while we were not listening

    def _on_notify(self, *args: Any) -> None:
        self._wake.set()

    def wake(self) -> None:
        """Read the feed now rather than at the next notification or poll."""
        self._wake.set()

    async def _watch_listen(self) -> None:
        """Health-check the LISTEN connection; re-open it (and catch up) when it died."""
        while not self._closing:
            await asyncio.sleep(0.5)
            conn = self._listen
            healthy = conn is not None and not conn.is_closed()
            if healthy:
                try:
                    await asyncio.wait_for(conn.fetchval("SELECT 1"), timeout=2)
                except Exception:
                    healthy = False
            if not healthy and not self._closing:
                log.warning("relay LISTEN connection lost; re-opening")
                try:
                    if conn is not None:
                        conn.terminate()
                    await self._open_listen()
                    self.listen_reopened += 1
                except Exception as exc:  # database down: try again shortly; the poll keeps trying too
                    log.warning("could not re-open LISTEN connection: %s", type(exc).__name__)

    async def _run(self) -> None:
        while not self._closing:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            wait = self._next_fanout - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                if time.monotonic() - self._last_epoch_check >= self.poll_seconds:
                    await self.check_epoch()
                await self.catch_up()
            except Exception as exc:
                log.warning("relay read failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(0.5)

    async def check_epoch(self) -> None:
        """Notice a cut history (new epoch): end every live subscription and restart from the new feed's end."""
        self._last_epoch_check = time.monotonic()
        async with self.pool.acquire() as conn:
            state = await read_feed_state(conn)
        if state.epoch == self.epoch:
            return
        log.warning("the change feed's history was cut (new epoch); every client resyncs by snapshot")
        self.epoch = state.epoch
        self.position = min(self.position, state.end)
        subscribers, self.subscribers = self.subscribers, set()
        for sub in subscribers:
            sub.live = False
            task = asyncio.ensure_future(sub.ws.close(WS_CLOSE_RESYNC, "the feed was reset; subscribe again"))
            self._closing_tasks.add(task)
            task.add_done_callback(self._closing_tasks.discard)

    async def catch_up(self) -> None:
        while True:
            async with self.pool.acquire() as conn:
                rows = await fetch_changes(conn, self.position)
            if not rows:
                return
            self._fan_out(rows)
            if len(rows) < BATCH:
                return

    def _fan_out(self, rows: list[ChangeRow]) -> None:
        """Deliver a batch to every live subscriber. Synchronous: no subscriber joins half-way.

        Each subscriber gets one write for the whole batch (its frames joined), so when the server
        is busy and changes pile up, the writes per change fall instead of the backlog growing.
        Joined bytes are shared by every subscriber who sees the batch the same way.
        """
        now = datetime.now(timezone.utc)
        if self.metrics is not None:
            for row in rows:
                self.metrics.events_relayed.inc()
                self.metrics.commit_to_send.observe(max(0.0, (now - row.committed_at).total_seconds()))
        last = rows[-1].seq
        started = time.monotonic()
        if len(rows) == 1:
            row = rows[0]
            frame_for = row.frame_for
            for sub in tuple(self.subscribers):
                frame = frame_for(sub.role, sub.dentist_id, sub.patient_id)
                if frame is not None:
                    sub.send_frame(frame)
                sub.seq = last
        else:
            joined: dict[tuple[str, ...], bytes] = {}
            for sub in tuple(self.subscribers):
                role, dentist_id, patient_id = sub.role, sub.dentist_id, sub.patient_id
                ways = tuple(view_kind(r.entity, r.data, role, dentist_id, patient_id) for r in rows)
                data = joined.get(ways)
                if data is None:
                    data = joined[ways] = b"".join(f for r, how in zip(rows, ways) if (f := r.frame(how)) is not None)
                if data:
                    sub.send_frame(data)
                sub.seq = last
        self.position = last
        self.advanced.set()
        self.advanced = asyncio.Event()
        ended = time.monotonic()
        pause = min((ended - started) * self.fanout_pause_ratio, self.fanout_pause_max)
        self._next_fanout = max(started + self.fanout_interval, ended + pause)

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._listen is not None:
            self._listen.terminate()
        if self._pool is not None:
            await self._pool.close()
