"""Shared parts of the fault tests: real desktop sync clients behind counting proxies, a booking writer, DB checks."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from clinic_desktop.store import EntityStore
from clinic_desktop.sync.backoff import Backoff
from clinic_desktop.sync.client import SyncClient
from server.protocol import RpcError
from tests.faults.proxy import TcpProxy
from tests.helpers import ConnectionLost, RpcClient
from tests.server_process import ServerProcess

LONDON = ZoneInfo("Europe/London")
USERS = ("frontdesk", "drsmith", "drpatel", "alice", "bob")


@dataclass
class Run:
    """What one client got from one snapshot on: the snapshot's epoch and watermark, then every event's seq."""

    epoch: str | None
    watermark: int
    seqs: list[int] = field(default_factory=list)


class RecordingStore(EntityStore):
    """The desktop's entity store, also noting the seq of every event the client hands it, run by run."""

    def __init__(self) -> None:
        super().__init__()
        self.delivered: list[int] = []
        self.runs: list[Run] = []  # a new one at every snapshot loaded; replays continue the last

    def load_snapshot(self, snapshot, seq, epoch=None):  # type: ignore[override]
        self.runs.append(Run(epoch, seq or 0))
        return super().load_snapshot(snapshot, seq, epoch)

    def apply_event(self, event):  # type: ignore[override]
        self.delivered.append(event["seq"])
        if self.runs:
            self.runs[-1].seqs.append(event["seq"])
        return super().apply_event(event)


@dataclass
class Clinic:
    """One SyncClient per user behind its own counting TCP proxy."""

    username: str
    client: SyncClient
    store: RecordingStore
    proxy: TcpProxy
    first_seq: int = 0  # the snapshot watermark of the first subscribe

    @property
    def role(self) -> str:
        return (self.client.user or {}).get("role", "")


async def start_clients(server: ServerProcess, usernames: list[str], heartbeat_timeout: float = 4.0) -> list[Clinic]:
    """Sign a desktop SyncClient in for each username, each through its own proxy."""
    out = []
    for name in usernames:
        proxy = await TcpProxy(server.host, server.port).start()
        store = RecordingStore()
        client = SyncClient(proxy.url(), store, heartbeat_timeout=heartbeat_timeout, request_timeout=20, backoff=Backoff())
        await client.sign_in(username=name, password="demo")
        out.append(Clinic(name, client, store, proxy, first_seq=store.seq or 0))
    return out


async def stop_clients(clinics: list[Clinic]) -> None:
    for c in clinics:
        await c.client.close()
        await c.proxy.close()


def max_attempts(seconds: float, backoff: Backoff | None = None) -> int:
    """The most connection attempts the backoff schedule allows in `seconds` of failures.

    Every delay is at least half its ceiling (equal jitter, above a floor), so the shortest
    possible schedule is the sum of those halves; count how many fit, plus the first attempt.
    """
    b = backoff or Backoff()
    elapsed, n = 0.0, 0
    while True:
        ceiling = min(b.maximum, b.initial * b.factor ** n)
        elapsed += max(0.05, ceiling / 2)
        if elapsed > seconds:
            return n + 1
        n += 1


def weekday_ahead(days: int) -> date:
    d = datetime.now(LONDON).date() + timedelta(days=days)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


async def free_starts(client: RpcClient, dentist_id: int, patient_id: int, days_ahead: int = 7, span: int = 20) -> list[str]:
    """Non-overlapping 30-minute starts (on the hour and half hour) free for this dentist and patient."""
    lo = weekday_ahead(days_ahead)
    slots = await client.call("slots.find", type_id=1, dentist_id=dentist_id, patient_id=patient_id,
                              **{"from": lo.isoformat(), "to": (lo + timedelta(days=span)).isoformat()})
    return [s["start"] for s in slots if datetime.fromisoformat(s["start"]).minute in (0, 30)]


@dataclass
class Writer:
    """Front desk booking steadily, retrying each booking with its idempotency key across outages.

    `acked` holds every appointment the server confirmed; a booking that never got an answer is
    retried with the same key, so it lands once or not at all.
    """

    url: str
    plan: list[tuple[int, int, str]]  # (dentist_id, patient_id, start)
    acked: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: Counter = field(default_factory=Counter)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    pause: float = 0.15

    async def run(self) -> None:
        plan = iter(enumerate(self.plan))
        item = next(plan, None)
        while item is not None and not self.stop.is_set():
            try:
                async with RpcClient(self.url, open_timeout=3, call_timeout=10) as c:
                    await c.login("frontdesk")
                    while item is not None and not self.stop.is_set():
                        i, (dentist_id, patient_id, start) = item
                        key = f"fault-{i}"
                        try:
                            appt = await c.call("appointments.create", dentist_id=dentist_id, type_id=1, start=start,
                                                patient_id=patient_id, idempotency_key=key)
                            self.acked[key] = appt
                        except RpcError as exc:
                            self.errors[str(exc.reason or exc.code)] += 1
                            if str(exc.reason) != "internal":
                                raise AssertionError(f"booking {key} refused: {exc.reason} {exc}") from exc
                            await asyncio.sleep(0.3)
                            continue
                        item = next(plan, None)
                        await asyncio.sleep(self.pause)
            except (OSError, ConnectionLost, asyncio.TimeoutError, EOFError) as exc:
                self.errors[type(exc).__name__] += 1
                await asyncio.sleep(0.3)
            except Exception as exc:  # websockets' handshake errors while the server is down
                if type(exc).__module__.startswith("websockets"):
                    self.errors[type(exc).__name__] += 1
                    await asyncio.sleep(0.3)
                else:
                    raise


async def booking_plan(url: str, count: int) -> list[tuple[int, int, str]]:
    """`count` bookings that cannot collide: two new patients, one per dentist, free half-hour starts."""
    async with RpcClient(url) as desk:
        await desk.login("frontdesk")
        p1 = (await desk.call("patients.create", name="Fault Patient One"))["id"]
        p2 = (await desk.call("patients.create", name="Fault Patient Two"))["id"]
        s1 = await free_starts(desk, 1, p1)
        s2 = await free_starts(desk, 2, p2)
    plan = [x for pair in zip(((1, p1, s) for s in s1), ((2, p2, s) for s in s2)) for x in pair]
    assert len(plan) >= count, f"only {len(plan)} free slots"
    return plan[:count]


async def db_feed(database_url: str) -> tuple[list[int], dict[int, dict[str, Any]]]:
    """Every change_log seq, and every appointment row as the wire shape, straight from PostgreSQL."""
    conn = await asyncpg.connect(database_url)
    try:
        seqs = [r[0] for r in await conn.fetch("SELECT seq FROM change_log ORDER BY seq")]
        rows = {r[0]: json.loads(r[1]) for r in await conn.fetch(
            "SELECT id, clinic_wire_appointment(a)::text FROM appointments a")}
    finally:
        await conn.close()
    return seqs, rows


async def db_digest(database_url: str) -> str:
    """A digest of everything a request could change (appointments, patients, hours, exceptions, feed)."""
    conn = await asyncpg.connect(database_url)
    try:
        parts = []
        for sql in ("SELECT id, version, status, start_at, end_at, notes FROM appointments ORDER BY id",
                    "SELECT id, version, name, phone, email FROM patients ORDER BY id",
                    "SELECT id, version, weekday, start_time, end_time FROM working_hours ORDER BY id",
                    "SELECT id, version, start_at, end_at, kind, reason FROM schedule_exceptions ORDER BY id",
                    "SELECT id, password_hash, active FROM users ORDER BY id",
                    "SELECT count(*), coalesce(max(seq), 0) FROM change_log"):
            parts.append(repr([tuple(r) for r in await conn.fetch(sql)]))
    finally:
        await conn.close()
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


async def wait_for(predicate, timeout: float, what: str, interval: float = 0.2) -> None:
    """Poll until `predicate()` is true; a generous liveness bound, not a performance check."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting ({timeout:.0f} s) for: {what}")
        await asyncio.sleep(interval)


async def snapshot_of(url: str, username: str) -> dict[int, dict[str, Any]]:
    """The appointments a fresh sign-in of `username` is given: what that user's screen must show."""
    async with RpcClient(url) as c:
        await c.login(username)
        result = await c.subscribe(None)
    return {row["id"]: row for row in result["snapshot"]["appointment"]}


def store_appointments(store: EntityStore) -> dict[int, dict[str, Any]]:
    return {row["id"]: row for row in store.rows("appointment")}


def tally_deliveries(clinics: list[Clinic], seqs: list[int], acked_ids: set[int],
                     db_rows: dict[int, dict[str, Any]]) -> tuple[int, int, int]:
    """(events checked, lost, duplicated) over every client; each front desk must also show every
    acknowledged booking and exactly the database's appointments. Only the front desk (which sees
    everything) can count a change after its first snapshot that never arrived as lost."""
    lost = duplicated = checked = 0
    for c in clinics:
        delivered = c.store.delivered
        unique = set(delivered)
        checked += len(delivered)
        duplicated += len(delivered) - len(unique)
        if c.role == "admin":
            lost += sum(1 for s in seqs if s > c.first_seq and s not in unique)
            shown = store_appointments(c.store)
            assert acked_ids <= set(shown)
            assert shown == db_rows
    return checked, lost, duplicated


def run_in_thread(coro):
    """Run a coroutine on a private loop in a private thread (from sync tests, e.g. under hypothesis)."""
    import threading

    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")
