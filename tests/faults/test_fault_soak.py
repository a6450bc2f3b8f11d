"""The randomized soak: writers and two dozen desktops through every fault at once, then the feed contract.

For `--soak-seconds` (120 in CI) four writers book, move and cancel through the RPC API (two front
desks, a dentist, a patient) while 24 desktop clients (`SyncClient` + `EntityStore`, every role) stay
signed in, each behind its own proxy. Meanwhile, at random: links cut or frozen, the server SIGKILLed
and restarted, the relay's LISTEN connection terminated, the feed pruned to a few seconds' retention;
and once, a backup taken early in the run is restored (server stopped, `clinic-server restore` into an
empty database, server started on it: a new feed epoch whose seqs repeat numbers of the old one).

A recorder reads every change_log row of every epoch before pruning or the restore can remove it;
that is the oracle. At the end every client shows what a fresh sign-in of its user is given and, run
by run (each snapshot starts a run), received every seq it may see after the snapshot, none twice and
none out of order. `CLINIC_SOAK_SEED` replays a run's random choices (the seed is printed).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg

from clinic_desktop.store import EntityStore
from clinic_desktop.sync.client import SyncClient
from server.protocol import RpcError
from server.relay import ChangeRow, FeedState, fetch_changes, read_feed_state
from server.subscription import SNAPSHOT_QUERIES, prune
from tests.faults.clinic import Clinic, start_clients, stop_clients, wait_for, weekday_ahead
from tests.faults.counters import FAULTS, SOAK
from tests.faults.test_fault_links import _kill as kill_backend, _listen_pids as listen_pids
from tests.helpers import ConnectionLost, RpcClient
from tests.packaging.processes import clinic_server
from tests.server_process import ServerProcess

CLIENTS = ["frontdesk"] * 8 + ["drsmith"] * 5 + ["drpatel"] * 5 + ["alice"] * 3 + ["bob"] * 3
HEARTBEAT_TIMEOUT = 4.0
RETENTION = timedelta(seconds=8)  # what pruning keeps: rows older than this go
WINDOW_DAYS = (7, 21)  # the writers work this far ahead: past every notice period, inside the booking horizon
# What a writer may be told in a busy clinic; anything else (internal, forbidden, ...) fails the soak.
REFUSALS = {"slot_unavailable", "version_conflict", "not_found", "invalid_transition", "too_many_bookings",
            "too_soon", "outside_working_hours", "rate_limited"}
FAULT_WEIGHTS = {"cut": 4, "stall": 1, "kill": 1, "listen": 2, "prune": 2}  # how often each kind is drawn
KIND_NAMES, FAULT_WEIGHTS_LIST = list(FAULT_WEIGHTS), list(FAULT_WEIGHTS.values())
KINDS = tuple(SNAPSHOT_QUERIES)


class FeedRecorder:
    """Every change_log row the soak's database held, per epoch, read (in one snapshot with the epoch)
    often and always just before pruning or the restore removes rows."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.rows: dict[str, dict[int, ChangeRow]] = {}

    async def poll(self) -> FeedState:
        conn = await asyncpg.connect(self.url)
        try:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                state = await read_feed_state(conn)
                seen = self.rows.setdefault(state.epoch, {})
                after = max(seen, default=0)
                while rows := await fetch_changes(conn, after):
                    seen.update((r.seq, r) for r in rows)
                    after = rows[-1].seq
        finally:
            await conn.close()
        return state

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.poll()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                pass  # the database is being swapped; the next poll reads it
            await asyncio.sleep(0.5)


def _is_outage(exc: BaseException) -> bool:
    """The server is down or restarting (refused, cut, handshake failed): the writer tries again."""
    return (isinstance(exc, (OSError, ConnectionLost, asyncio.TimeoutError, EOFError))
            or type(exc).__module__.startswith("websockets"))


@dataclass
class SoakWriter:
    """One user changing the schedule through the RPC API at random: booking, moving (with the version
    it listed), cancelling, inside the working window; refusals of a busy clinic are counted, not fatal."""

    name: str
    url: str
    username: str
    actions: tuple[str, ...]
    dentists: list[int]
    patients: list[int]
    rng: random.Random
    stop: asyncio.Event
    done: Counter = field(default_factory=Counter)
    refused: Counter = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    outages: int = 0

    async def run(self) -> None:
        keys = itertools.count()
        while not self.stop.is_set():
            try:
                async with RpcClient(self.url, open_timeout=3, call_timeout=10) as c:
                    user = (await c.login(self.username))["user"]
                    while not self.stop.is_set():
                        await self.step(c, user, next(keys))
                        await asyncio.sleep(self.rng.uniform(0.1, 0.4))
            except RpcError as exc:  # the sign-in itself refused
                self._refusal("login", exc)
                await asyncio.sleep(0.5)
            except Exception as exc:
                if not _is_outage(exc):
                    raise
                self.outages += 1
                await asyncio.sleep(0.3)

    def _refusal(self, action: str, exc: RpcError) -> None:
        reason = str(exc.reason or exc.code)
        if reason in REFUSALS:
            self.refused[reason] += 1
        else:
            self.unexpected.append(f"{self.name} {action}: {reason}: {exc}")

    async def step(self, c: RpcClient, user: dict[str, Any], n: int) -> None:
        action = self.rng.choice(self.actions)
        lo = weekday_ahead(WINDOW_DAYS[0])
        span = {"from": lo.isoformat(), "to": (lo + timedelta(days=WINDOW_DAYS[1] - WINDOW_DAYS[0])).isoformat()}
        try:
            if action == "book":
                dentist = user["dentist_id"] or self.rng.choice(self.dentists)
                patient = user["patient_id"] or self.rng.choice(self.patients)
                slots = await c.call("slots.find", type_id=1, dentist_id=dentist, patient_id=patient, **span)
                if not slots:
                    return
                params = {"dentist_id": dentist, "type_id": 1, "start": self.rng.choice(slots)["start"],
                          "idempotency_key": f"soak-{self.name}-{n}"}
                if user["role"] != "patient":
                    params["patient_id"] = patient
                await c.call("appointments.create", **params)
            else:
                rows = [r for r in await c.call("appointments.list", **span)
                        if r["status"] in ("scheduled", "confirmed") and _may_change(user, r)]
                if not rows:
                    return
                row = self.rng.choice(rows)
                if action == "cancel":
                    await c.call("appointments.cancel", id=row["id"], reason="soak")
                else:
                    slots = await c.call("slots.find", type_id=row["type_id"], dentist_id=row["dentist_id"],
                                         patient_id=row["patient_id"], **span)
                    if not slots:
                        return
                    await c.call("appointments.update", id=row["id"], version=row["version"],
                                 start=self.rng.choice(slots)["start"])
        except RpcError as exc:
            self._refusal(action, exc)
            return
        self.done[action] += 1


def _may_change(user: dict[str, Any], row: dict[str, Any]) -> bool:
    if user["role"] == "admin":
        return True
    if user["role"] == "dentist":
        return row["dentist_id"] == user["dentist_id"] and "patient_id" in row
    return row.get("patient_id") == user["patient_id"]


@dataclass
class Soak:
    """The running clinic and the faults thrown at it."""

    srv: ServerProcess
    clinics: list[Clinic]
    recorder: FeedRecorder
    rng: random.Random
    backup_file: Path
    restore_url: str  # an empty database the backup is restored into
    faults: Counter = field(default_factory=Counter)
    pruned: int = 0
    backed_up_at: int | None = None  # the feed's end in the backup
    restored_over: int | None = None  # the feed's end the restore replaced
    stalls: list[asyncio.Task] = field(default_factory=list)

    async def run(self, seconds: float) -> None:
        """Faults at random for `seconds`, each kind at least once; the backup at a fifth, the restore at 60 %."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        mandatory = list(FAULT_WEIGHTS)
        self.rng.shuffle(mandatory)
        while (elapsed := (loop.time() - start) / seconds) < 1:
            if self.backed_up_at is None and elapsed >= 0.2:
                await self.backup()
            elif self.restored_over is None and self.backed_up_at is not None and elapsed >= 0.6:
                await self.restore()
            else:
                kind = mandatory.pop() if mandatory else self.rng.choices(KIND_NAMES, FAULT_WEIGHTS_LIST)[0]
                await getattr(self, kind)()
            await asyncio.sleep(self.rng.uniform(0.5, 2.5))
        for kind in mandatory:  # a very short soak still gets each kind once
            await getattr(self, kind)()
        if self.backed_up_at is None:
            await self.backup()
        if self.restored_over is None:
            await self.restore()
        await asyncio.gather(*self.stalls)

    async def cut(self) -> None:
        """Drop the links of a few desktops abruptly; they reconnect and resume."""
        for c in self.rng.sample(self.clinics, self.rng.randint(1, 5)):
            c.proxy.cut()
            self.faults["link cuts"] += 1

    async def stall(self) -> None:
        """Freeze one desktop's traffic past its heartbeat watchdog, then let it flow again."""
        c = self.rng.choice(self.clinics)

        async def frozen() -> None:
            c.proxy.stall()
            await asyncio.sleep(HEARTBEAT_TIMEOUT + 2)
            c.proxy.resume()

        self.stalls.append(asyncio.create_task(frozen()))
        self.faults["stalls"] += 1

    async def kill(self) -> None:
        """SIGKILL the server, leave the clinic without it for a moment, start it again."""
        self.srv.kill()
        self.faults["server SIGKILLs"] += 1
        await asyncio.sleep(self.rng.uniform(0.5, 3.0))
        await asyncio.to_thread(self.srv.start)

    async def listen(self) -> None:
        """Terminate the relay's LISTEN backend (once the relay has it open: it may be re-opening)."""
        url = self.srv.database_url
        await wait_for(lambda: listen_pids(url), 60, "the relay's LISTEN connection")
        if await kill_backend(url, min(await listen_pids(url))):
            self.faults["LISTEN kills"] += 1

    async def prune(self) -> None:
        """Prune the feed with a retention of seconds (after the recorder has read what goes)."""
        await self.recorder.poll()
        pool = await asyncpg.create_pool(self.srv.database_url, min_size=0, max_size=1)
        try:
            self.pruned += await prune(pool, RETENTION)
        finally:
            await pool.close()
        self.faults["prunes"] += 1

    async def backup(self) -> None:
        """`clinic-server backup` of the live database (not a fault: the clinic keeps working)."""
        made = await asyncio.to_thread(clinic_server, "backup", "--database-url", self.srv.database_url,
                                       "--out", self.backup_file)
        assert made.returncode == 0, made.stderr
        self.backed_up_at = await self._feed_end(self.srv.database_url)

    async def restore(self) -> None:
        """Stop the server, restore the early backup into an empty database, start the server on it.

        The restored feed is another history: a new epoch, its end behind every client's position,
        and seqs from there on that reuse numbers the old history already gave out.
        """
        await asyncio.to_thread(self.srv.stop)
        self.restored_over = (await self.recorder.poll()).end  # the old history's last rows
        done = await asyncio.to_thread(clinic_server, "restore", self.backup_file, "--database-url", self.restore_url)
        assert done.returncode == 0, done.stderr
        self.srv.database_url = self.recorder.url = self.restore_url
        await asyncio.to_thread(self.srv.start)
        self.faults["restores"] += 1

    @staticmethod
    async def _feed_end(url: str) -> int:
        conn = await asyncpg.connect(url)
        try:
            return (await read_feed_state(conn)).end
        finally:
            await conn.close()


async def fresh_view(url: str, username: str) -> dict[str, dict[int, dict[str, Any]]]:
    """What a new desktop signing in as `username` is given, kind by kind."""
    store = EntityStore()
    client = SyncClient(url, store, request_timeout=30)
    await client.sign_in(username=username, password="demo")
    await client.close()
    return view_of(store)


def view_of(store: EntityStore) -> dict[str, dict[int, dict[str, Any]]]:
    return {kind: {row["id"]: row for row in store.rows(kind)} for kind in KINDS}


@dataclass
class Tally:
    checked: int = 0  # deliveries checked
    lost: int = 0  # seqs a client may see, after its snapshot, that never came
    duplicated: int = 0  # a seq delivered again in its epoch, or one its snapshot already held
    disordered: int = 0  # a seq not above the one before it in the same run
    problems: list[str] = field(default_factory=list)


def tally(clinics: list[Clinic], feed: dict[str, dict[int, ChangeRow]], final: FeedState) -> Tally:
    """Check every client's runs against the recorded feed (see the module docstring)."""
    t = Tally()
    for n, c in enumerate(clinics):
        user = c.client.user or {}
        viewer = (user["role"], user["dentist_id"], user["patient_id"])
        had: dict[str | None, set[int]] = {}
        for i, run in enumerate(c.store.runs):
            rows = feed.get(run.epoch, {})
            have = had.setdefault(run.epoch, set())
            t.checked += len(run.seqs)
            where = f"client {n} ({c.username}) run {i} from seq {run.watermark}"
            disordered = [b for a, b in zip(run.seqs, run.seqs[1:]) if b <= a]
            again = []
            for seq in run.seqs:
                if seq in have or seq <= run.watermark:
                    again.append(seq)
                have.add(seq)
            t.disordered += len(disordered)
            t.duplicated += len(again)
            if disordered or again:
                t.problems.append(f"{where}: out of order {disordered[:10]}, again {again[:10]}")
            upto = final.end if i == len(c.store.runs) - 1 else max(run.seqs, default=run.watermark)
            due = {s for s, row in rows.items() if run.watermark < s <= upto and row.frame_for(*viewer) is not None}
            missing = sorted(due - set(run.seqs))
            t.lost += len(missing)
            if missing:
                t.problems.append(f"{where}: missing {missing[:10]}")
    return t


async def test_soak_random_faults_every_client_exact(make_server, database_url, empty_database_url, tmp_path,
                                                     soak_seconds):
    """Writers, 24 desktops, every fault at random: each desktop ends as a fresh sign-in, nothing lost or repeated."""
    seed = int(os.environ.get("CLINIC_SOAK_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    srv = make_server({"CLINIC_POLL_SECONDS": "5",  # the LISTEN connection does most of the waking
                       "CLINIC_PING_SECONDS": "5",
                       "CLINIC_ACCESS_TOKEN_MINUTES": "1440"})  # no token refresh between the backup and its restore
    recorder = FeedRecorder(database_url)
    await recorder.poll()
    clinics = await start_clients(srv, CLIENTS, heartbeat_timeout=HEARTBEAT_TIMEOUT)
    stop = asyncio.Event()
    desk = clinics[0].store
    dentists = [d["id"] for d in desk.rows("dentist") if d.get("active", True)]
    patients = [p["id"] for p in desk.rows("patient")]
    writers = [SoakWriter(name, srv.ws_url, username, actions, dentists, patients,
                          random.Random(rng.random()), stop)
               for name, username, actions in (("desk-a", "frontdesk", ("book", "move", "cancel")),
                                               ("desk-b", "frontdesk", ("move", "cancel")),
                                               ("drsmith", "drsmith", ("book", "move")),
                                               ("alice", "alice", ("book", "move", "cancel")))]
    soak = Soak(srv, clinics, recorder, rng, tmp_path / "soak.dump", empty_database_url)
    tasks = [asyncio.create_task(w.run()) for w in writers] + [asyncio.create_task(recorder.run(stop))]
    try:
        await soak.run(soak_seconds)
        stop.set()
        await asyncio.gather(*tasks)

        async def converged() -> bool:
            """Every desktop connected, in the current epoch, showing exactly what a fresh sign-in shows."""
            epoch = (await recorder.poll()).epoch
            if not all(c.client.connected and c.store.epoch == epoch for c in clinics):
                return False
            truth = {name: await fresh_view(srv.ws_url, name) for name in sorted(set(CLIENTS))}
            return all(view_of(c.store) == truth[c.username] for c in clinics)

        try:
            await wait_for(converged, 180, "every desktop to equal a fresh sign-in of its user", interval=1.0)
            diverged = []
        except AssertionError:  # still count what arrived, then say who differs
            truth = {name: await fresh_view(srv.ws_url, name) for name in sorted(set(CLIENTS))}
            diverged = [f"client {n} ({c.username}, connected {c.client.connected})"
                        for n, c in enumerate(clinics) if view_of(c.store) != truth[c.username]]
        final = await recorder.poll()
        t = tally(clinics, recorder.rows, final)
        faults = sum(soak.faults.values())
        writes = sum(sum(w.done.values()) for w in writers)
        detail = (f"seed {seed}, {soak_seconds:.0f} s, {len(clinics)} desktops, {len(writers)} writers, "
                  f"{writes} writes, {', '.join(f'{n} {k}' for k, n in sorted(soak.faults.items()))}, "
                  f"{soak.pruned} rows pruned, restored seq {soak.backed_up_at} over {soak.restored_over}")
        SOAK.add(faults_injected=faults, events_checked=t.checked, lost=t.lost, duplicated=t.duplicated)
        SOAK.detail = detail
        FAULTS.add(faults_injected=faults, events_checked=t.checked, lost=t.lost, duplicated=t.duplicated)

        assert t.lost == 0 and t.duplicated == 0 and t.disordered == 0, (detail, t.problems[:20])
        assert diverged == [], (detail, diverged)
        assert [u for w in writers for u in w.unexpected] == [], detail
        # The soak did what it says: each kind of fault, pruning that removed rows, the restore, and
        # every desktop moved to the restored feed's epoch by a snapshot.
        assert set(soak.faults) >= {"link cuts", "stalls", "server SIGKILLs", "LISTEN kills", "prunes",
                                    "restores"}, detail
        assert soak.pruned > 0 and writes > 0, detail
        assert len(recorder.rows) >= 2 and all(c.store.runs[-1].epoch == final.epoch for c in clinics), detail
        assert "Traceback" not in srv.log_text()
    finally:
        stop.set()
        for task in tasks + soak.stalls:
            task.cancel()
        await asyncio.gather(*tasks, *soak.stalls, return_exceptions=True)
        await stop_clients(clinics)
