"""`clinic-server bench`: the clinic server against the targets, two peer relays and the floor, in one run.

One run, one machine: it prepares its own embedded PostgreSQL (or uses `--database-url`), starts the
server in its own process(es), and drives simulated clients from separate worker processes (`fleet`).
Scenarios, in the order `--scenario all` runs them:

  fanout    commit-to-client latency and per-client loss/duplication at `--clients` clients
            (5 % front desk, 5 % dentists, 90 % patients) and `--events-per-minute`, `--repeats` rounds
            alternating our server, the Node.js peer (ws + pg), the broadcaster + Starlette peer and the
            floor (one pre-encoded frame to every socket); each figure's median, min and max
  rates     the same clients at rising rates (`--rates`) until p99 passes 200 ms: ours and the Node.js peer
  workers   `serve --workers 2` against `--workers 1` at `--worker-clients` clients, alternated
  idle      server memory per idle (signed-in, subscribed) connection at `--idle` counts (one worker)
  bookings  validated `appointments.create` calls a second with `--writers` concurrent writers
  store     the desktop client's store and models absorbing events (longest main-loop stall)

It prints a table per run and per scenario and writes `bench-<time>.json` and PNG plots to `--out`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from . import node_peer, stats
from .fleet import ClientSpec, Fleet
from .process import start_until_healthy

__all__ = ["add_arguments", "run"]

LONDON = ZoneInfo("Europe/London")
REPO_ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ("fanout", "rates", "workers", "idle", "bookings", "store")
PEERS = ("node", "broadcaster", "floor")
OURS, NODE, BROADCASTER, FLOOR = "clinic-server", "Node.js peer", "broadcaster peer", "floor"
BENCH_DENTISTS = 24
FANOUT_APPOINTMENTS = 480  # enough in flight that the writer keeps its rate while calls are slow
USERS = {"admin": ("frontdesk",), "dentist": ("drsmith", "drpatel"), "patient": ("alice", "bob")}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scenario", type=_scenarios, default=SCENARIOS, metavar="{all," + ",".join(SCENARIOS) + "}",
                   help="one scenario, several joined by commas (fanout,rates), or all")
    p.add_argument("--clients", type=int, default=1000, help="subscribed clients (fanout, rates)")
    p.add_argument("--events-per-minute", type=int, default=10_000, help="changes a minute (fanout, workers)")
    p.add_argument("--seconds", type=float, default=20.0, help="length of each fanout and workers run")
    p.add_argument("--repeats", type=int, default=3, help="alternated rounds of the fanout and workers runs")
    p.add_argument("--peers", default=",".join(PEERS),
                   help="what the fanout runs alternate with: node (ws + pg), broadcaster, floor; '' for none")
    p.add_argument("--server-workers", type=int, default=os.cpu_count() or 1,
                   help="`serve --workers` for our server in fanout, rates and bookings (default: CPUs)")
    p.add_argument("--worker-clients", default="1000,5000", help="client counts of the workers scenario")
    p.add_argument("--node-cache", type=Path, default=node_peer.default_cache(),
                   help="where the Node.js peer is installed (npm ci from its lockfile, once)")
    p.add_argument("--rates", default="2500,5000,10000,15000,20000,40000,80000",
                   help="rising events a minute for the rates scenario (stops once p99 > 200 ms)")
    p.add_argument("--step-seconds", type=float, default=10.0, help="length of each rising-rate step")
    p.add_argument("--idle", default="1000,5000,10000", help="idle connection counts")
    p.add_argument("--writers", type=int, default=32, help="concurrent booking writers (bookings)")
    p.add_argument("--workers", type=int, default=2, help="client worker processes (not the server's: --server-workers)")
    p.add_argument("--database-url", help="an external, migrated, demo-seeded database (default: embedded, temporary)")
    p.add_argument("--out", type=Path, default=Path("bench-results"), help="directory for the JSON and plots")
    p.add_argument("--short", action="store_true", help="a few seconds of each scenario (the test suite runs it)")
    p.add_argument("--pin", action="store_true",
                   help="pin the system under test (server, PostgreSQL, peer) to CPU 0 and the clients to the others")


# ---------------------------------------------------------------------------------------------- database, server

def _prepare_db(tmp: Path):
    from ..db import migrate
    from ..db.database import Database
    from ..db.embedded import EmbeddedPostgres
    from ..seed import seed_demo

    pg = EmbeddedPostgres(tmp / "pg")
    location = pg.start()
    migrate.upgrade(location)

    async def _seed() -> None:
        db = Database(location)
        try:
            await seed_demo(db)
        finally:
            await db.close()

    asyncio.run(_seed())
    return pg, location.url


async def _bench_seed(url: str) -> None:
    """Bench dentists (Mon-Fri 08:00-18:00) and their patients, so writers never run out of free slots."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        if await conn.fetchval("SELECT count(*) FROM dentists WHERE name LIKE 'Bench dentist %'"):
            return
        async with conn.transaction():
            for i in range(1, BENCH_DENTISTS + 1):
                d = await conn.fetchval("INSERT INTO dentists (name) VALUES ($1) RETURNING id", f"Bench dentist {i}")
                await conn.executemany(
                    "INSERT INTO working_hours (dentist_id, weekday, start_time, end_time) VALUES ($1, $2, '08:00', '18:00')",
                    [(d, wd) for wd in range(5)])
                await conn.execute("INSERT INTO patients (name) VALUES ($1)", f"Bench patient {i}")
    finally:
        await conn.close()


async def _bench_pairs(url: str) -> list[tuple[int, int]]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        dentists = [r["id"] for r in await conn.fetch("SELECT id FROM dentists WHERE name LIKE 'Bench dentist %' ORDER BY id")]
        patients = [r["id"] for r in await conn.fetch("SELECT id FROM patients WHERE name LIKE 'Bench patient %' ORDER BY id")]
    finally:
        await conn.close()
    return list(zip(dentists, patients))


def _pin(pid: int, cpus: set[int], children: bool = False) -> None:
    """Pin a process (and, for PostgreSQL's postmaster, its current children) to `cpus`; later forks inherit it."""
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *(proc.children(recursive=True) if children else [])]
        for p in procs:
            p.cpu_affinity(sorted(cpus))
    except (psutil.Error, OSError):
        pass


def _postmaster_pid(url: str) -> int | None:
    import psutil

    host = url.split("host=", 1)[1].split("&", 1)[0] if "host=" in url else None
    for p in psutil.process_iter(["pid", "name", "cmdline"]):
        cmd = p.info["cmdline"] or []
        if p.info["name"] == "postgres" and host and any(host in c for c in cmd) and "-D" in cmd:
            return p.info["pid"]
    return None


class Pinning:
    """System under test on CPU 0, load generators (client workers, writers) on the rest."""

    def __init__(self, enabled: bool) -> None:
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        self.enabled = enabled and len(cpus) >= 2
        self.server_cpus = {cpus[0]} if self.enabled else set(cpus)
        self.client_cpus = set(cpus[1:]) if self.enabled else set(cpus)

    def server(self, pid: int, children: bool = False) -> None:
        if self.enabled:
            _pin(pid, self.server_cpus, children)

    def clients(self, pid: int) -> None:
        if self.enabled:
            _pin(pid, self.client_cpus)

    def describe(self) -> str:
        if not self.enabled:
            return "not pinned: server, PostgreSQL and clients share every CPU"
        return (f"server, PostgreSQL and peer pinned to CPU {sorted(self.server_cpus)}; "
                f"client workers and writers to CPU {sorted(self.client_cpus)}")


def _start_server(url: str, data_dir: Path, log_path: Path, workers: int) -> tuple[subprocess.Popen, int]:
    # No keepalive pings: the clients listen without parsing while measuring (sync.heartbeat still flows).
    return start_until_healthy(
        ["server", "serve", "--workers", str(workers), "--database-url", url, "--data-dir", str(data_dir)],
        log_path, "server", 60,
        # Every client comes from loopback: lift the per-address and global connection caps meant for a clinic's LAN.
        # The bench signs in once and resumes every client with those tokens for the whole run (up to an hour).
        {"CLINIC_WRITES_PER_MINUTE": "100000000", "CLINIC_LOG_LEVEL": "WARNING", "CLINIC_PING_SECONDS": "0",
         "CLINIC_ACCESS_TOKEN_MINUTES": "240",
         "CLINIC_MAX_CONNECTIONS_PER_ADDRESS": "1000000", "CLINIC_MAX_CONNECTIONS": "1000000"})


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def _fetch(url: str, sql: str, *args: Any) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


def _max_seq(url: str) -> int:
    return int(asyncio.run(_fetch(url, "SELECT coalesce(max(seq), 0) AS s FROM change_log"))[0]["s"])


def _seqs_after(url: str, start: int) -> list[int]:
    return [r["seq"] for r in asyncio.run(_fetch(url, "SELECT seq FROM change_log WHERE seq > $1 ORDER BY seq", start))]


# ---------------------------------------------------------------------------------------------- RPC writers

class Rpc:
    """A websockets JSON-RPC client for the few writer connections (the clients use `wire`)."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self._ids = 0
        self._pending: dict[int, asyncio.Future] = {}
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str) -> "Rpc":
        from websockets.asyncio.client import connect
        return cls(await connect(url, max_size=None, open_timeout=60, ping_interval=None))

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                msg = json.loads(frame)
                if isinstance(msg, dict) and "id" in msg:
                    fut = self._pending.pop(msg["id"], None)
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
        except Exception:
            pass
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("connection closed"))

    async def call(self, method: str, **params: Any) -> Any:
        self._ids += 1
        rid = self._ids
        fut = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        await self.ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}))
        msg = await asyncio.wait_for(fut, 120)
        if "error" in msg:
            raise RuntimeError(msg["error"])
        return msg["result"]

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.ws.close(), 5)
        except Exception:
            pass
        self._reader.cancel()


async def _tokens(ws_url: str) -> dict[str, str]:
    """One sign-in per demo user; every simulated client of that user resumes with its token."""
    out = {}
    for users in USERS.values():
        for user in users:
            c = await Rpc.open(ws_url)
            out[user] = (await c.call("auth.login", username=user, password="demo"))["access_token"]
            await c.close()
    return out


def _slots(pairs: list[tuple[int, int]], skip_days: int = 7, until_days: int = 80) -> list[tuple[int, int, str]]:
    """Collision-free (dentist, patient, start) bookings: weekdays 08:00-17:30 London, 30 min (type 1).

    Days 7-79 ahead are the bookings scenario's; days 80-87 hold the fan-out writer's appointments."""
    out: list[tuple[int, int, str]] = []
    today = datetime.now(LONDON).date()
    d = today + timedelta(days=skip_days)
    while d < today + timedelta(days=until_days):
        if d.weekday() < 5:
            for h in range(8, 18):
                for m in (0, 30):
                    start = datetime(d.year, d.month, d.day, h, m, tzinfo=LONDON).isoformat()
                    out += [(dentist, patient, start) for dentist, patient in pairs]
        d += timedelta(days=1)
    return out


async def _create_fanout_appointments(ws_url: str, token: str, pairs: list[tuple[int, int]]) -> dict[int, int]:
    """The appointments the fan-out writer edits: {id: version}. Booked in the last week of the horizon."""
    c = await Rpc.open(ws_url)
    await c.call("auth.resume", access_token=token)
    out = {}
    for dentist, patient, start in _slots(pairs, skip_days=80, until_days=88)[:FANOUT_APPOINTMENTS]:
        appt = await c.call("appointments.create", dentist_id=dentist, patient_id=patient, type_id=1, start=start)
        out[appt["id"]] = appt["version"]
    await c.close()
    return out


async def _write(ws_url: str, token: str, versions: dict[int, int], per_minute: int, seconds: float) -> dict[str, Any]:
    """Front-desk note edits at `per_minute`, spread over the appointments (one in flight each)."""
    ids = list(versions)
    # Requests on one connection are answered in order, so spread the appointments over many
    # front-desk connections (a clinic group has many desks), five appointments each.
    conns = [await Rpc.open(ws_url) for _ in range(max(1, len(ids) // 5))]
    for c in conns:
        await c.call("auth.resume", access_token=token)
    per_appt = per_minute / 60.0 / len(ids)
    written = failed = 0
    call_ms: list[float] = []
    t0 = time.monotonic()
    end = t0 + seconds

    async def loop(k: int, aid: int) -> None:
        nonlocal written, failed
        conn = conns[k % len(conns)]
        n = 0
        offset = k / len(ids) / per_appt  # stagger the appointments evenly
        while True:
            due = t0 + offset + n / per_appt
            if due >= end:
                return
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            n += 1
            sent = time.monotonic()
            try:
                res = await conn.call("appointments.update", id=aid, version=versions[aid], notes=f"bench {time.time_ns()}")  # never a no-op
                versions[aid] = res["version"]
                written += 1
                call_ms.append((time.monotonic() - sent) * 1000)
            except Exception:
                failed += 1

    await asyncio.gather(*(loop(k, aid) for k, aid in enumerate(ids)))
    elapsed = time.monotonic() - t0
    for c in conns:
        await c.close()
    call_ms.sort()
    pct = (lambda q: call_ms[min(len(call_ms) - 1, int(q * (len(call_ms) - 1)))] if call_ms else float("nan"))
    return {"written_ok": written, "failed": failed, "elapsed_s": elapsed, "call_p50_ms": pct(0.5),
            "call_p99_ms": pct(0.99)}


# ---------------------------------------------------------------------------------------------- fan-out steps

def _specs(n: int, tokens: dict[str, str] | None) -> list[ClientSpec]:
    """5 % front desk, 5 % dentists, 90 % patients (tokens None: the unauthenticated peer)."""
    out = []
    for i in range(n):
        r = i % 20
        role = "admin" if r == 0 else "dentist" if r == 1 else "patient"
        users = USERS[role]
        user = users[(i // 20) % len(users)]
        out.append(ClientSpec(i, role if tokens else "peer", user if tokens else "-", tokens[user] if tokens else None))
    return out


def _step(fleet: Fleet, system: str, ws_url: str, db_url: str, token: str, versions: dict[int, int],
          per_minute: int, seconds: float, raw: bool = True) -> dict[str, Any]:
    start = _max_seq(db_url)
    fleet.start_measuring(raw)
    time.sleep(0.2)
    writer = asyncio.run(_write(ws_url, token, versions, per_minute, seconds))
    written = _seqs_after(db_url, start)
    fleet.stop_measuring()
    return _summary(system, fleet.collect(written), written, writer, per_minute, seconds)


def _floor_step(fleet: Fleet, port: int, per_minute: int, seconds: float, payload_bytes: int) -> dict[str, Any]:
    """The floor's run: it fans out frames seq 1..n itself; the same clients count and time them."""
    fleet.start_measuring(True)
    time.sleep(0.2)
    query = f"per_minute={per_minute}&seconds={seconds}&payload_bytes={payload_bytes}"
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/run?{query}", timeout=seconds + 600) as response:
        floor = json.loads(response.read())
    fleet.stop_measuring()
    written = list(range(1, floor["fan_outs"] + 1))
    sender = {"elapsed_s": floor["seconds"], "failed": 0, "call_p50_ms": float("nan"), "call_p99_ms": float("nan")}
    summary = _summary(FLOOR, fleet.collect(written), written, sender, per_minute, seconds)
    summary.update({k: v for k, v in floor.items() if k.startswith(("send_", "fanout_", "frame_"))})
    return summary


def _summary(system: str, got: dict[str, Any], written: list[int], writer: dict[str, Any], per_minute: int,
             seconds: float) -> dict[str, Any]:
    hist, per_client = got["hist"], got["per_client"]
    return {
        # rate_per_min is what the writer achieved (the plots' x-axis); offered_per_min what it aimed at.
        "system": system, "rate_per_min": round(len(written) / writer["elapsed_s"] * 60) if writer["elapsed_s"] else 0,
        "offered_per_min": per_minute, "seconds": seconds,
        "clients": len(per_client), "events_written": len(written),
        "writer_rate_per_s": len(written) / writer["elapsed_s"] if writer["elapsed_s"] else 0.0,
        "writer_failed": writer["failed"], "writer_call_p50_ms": writer["call_p50_ms"],
        "writer_call_p99_ms": writer["call_p99_ms"], "deliveries": hist.total,
        "p50_ms": hist.percentile(0.50), "p90_ms": hist.percentile(0.90), "p99_ms": hist.percentile(0.99),
        "max_ms": hist.maximum,
        "lost_total": sum(c["lost"] for c in per_client),
        "duplicated_total": sum(c["duplicated"] for c in per_client),
        "unexpected_total": sum(c["unexpected"] for c in per_client),
        "clients_with_loss": sum(1 for c in per_client if c["lost"]),
        "clients_disconnected": sum(1 for c in per_client if c["disconnected"]),
        "_sample": got["sample"], "_per_client": per_client,
    }


def _step_row(s: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        ("system", s["system"]), ("clients", s["clients"]),
        ("rate offered / achieved (events/min)", f"{s['offered_per_min']} / {s['rate_per_min']}"),
        ("events written", f"{s['events_written']} ({s['writer_rate_per_s']:.1f}/s)"),
        ("writer call p50 / p99 (ms)", f"{s['writer_call_p50_ms']:.1f} / {s['writer_call_p99_ms']:.1f}"),
        ("deliveries checked", s["deliveries"]),
        ("latency p50 / p90 / p99 / max (ms)",
         f"{s['p50_ms']:.1f} / {s['p90_ms']:.1f} / {s['p99_ms']:.1f} / {s['max_ms']:.1f}"),
        ("lost / duplicated", f"{s['lost_total']} / {s['duplicated_total']}"),
        ("clients disconnected", s["clients_disconnected"]),
        *([("one send p50 / mean (us)", f"{s['send_p50_us']:.0f} / {s['send_mean_us']:.1f}"),
           ("one fan-out p50 / p99 (ms)", f"{s['fanout_p50_ms']:.2f} / {s['fanout_p99_ms']:.2f}")]
          if "send_p50_us" in s else []),
    ]


# ---------------------------------------------------------------------------------------------- idle, bookings, store

def _rss(pid: int) -> int:
    import psutil
    return psutil.Process(pid).memory_info().rss


def _idle(ws_port: int, pid: int, tokens: dict[str, str], counts: list[int], workers: int, since: int,
          pinning: "Pinning") -> list[dict]:
    rows = []
    fleet = Fleet("127.0.0.1", ws_port, workers, pinning.clients)
    try:
        time.sleep(1.0)
        base = _rss(pid)
        rows.append({"connections": 0, "rss_mib": base / 2**20, "kib_per_connection": 0.0})
        opened_total = 0
        for n in counts:
            specs = [ClientSpec(s.index + opened_total, s.role, s.user, s.token)
                     for s in _specs(n - opened_total, tokens)]
            opened, errors = fleet.open(specs, since)
            opened_total += opened
            time.sleep(3.0)
            rss = _rss(pid)
            rows.append({"connections": opened_total, "asked": n, "rss_mib": rss / 2**20,
                         "kib_per_connection": (rss - base) / 1024 / max(1, opened_total), "errors": errors[:5]})
            print(f"  {opened_total} idle connections: server RSS {rss / 2**20:.1f} MiB, "
                  f"{rows[-1]['kib_per_connection']:.1f} KiB each", flush=True)
    finally:
        fleet.quit()
    return rows


async def _bookings(ws_url: str, token: str, pairs: list[tuple[int, int]], writers: int, seconds: float) -> dict:
    slots = _slots(pairs)
    pos = ok = fail = 0
    reasons: dict[str, int] = {}
    lat: list[float] = []
    clients = [await Rpc.open(ws_url) for _ in range(writers)]
    for c in clients:
        await c.call("auth.resume", access_token=token)
    t0 = time.monotonic()
    end = t0 + seconds

    async def writer(c: Rpc) -> None:
        nonlocal pos, ok, fail
        while time.monotonic() < end and pos < len(slots):
            dentist, patient, start = slots[pos]
            pos += 1
            t = time.monotonic()
            try:
                await c.call("appointments.create", dentist_id=dentist, type_id=1, patient_id=patient, start=start)
                ok += 1
                lat.append((time.monotonic() - t) * 1000)
            except Exception as exc:
                fail += 1
                err = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
                reason = str((err.get("data") or {}).get("reason") or err.get("message") or exc)
                reasons[reason] = reasons.get(reason, 0) + 1

    await asyncio.gather(*(writer(c) for c in clients))
    elapsed = time.monotonic() - t0
    for c in clients:
        await c.close()
    lat.sort()
    pct = (lambda q: lat[min(len(lat) - 1, int(q * (len(lat) - 1)))] if lat else float("nan"))
    return {"writers": writers, "ok": ok, "failed": fail, "fail_reasons": reasons, "elapsed_s": elapsed,
            "ran_out_of_slots": pos >= len(slots), "bookings_per_s": ok / elapsed if elapsed else 0.0,
            "p50_ms": pct(0.5), "p99_ms": pct(0.99)}


def _store(appointments: int, per_second: int, seconds: float, tab: str = "calendar") -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-m", "server.bench.store_stall", "--appointments", str(appointments),
                           "--events-per-second", str(per_second), "--seconds", str(seconds), "--tab", tab],
                          capture_output=True, text=True, env=env, cwd=str(REPO_ROOT), timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"store bench failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _table(title: str, rows: list[tuple[str, Any]]) -> str:
    w = max(len(k) for k, _ in rows)
    return f"\n== {title}\n" + "\n".join(f"  {k.ljust(w)}  {v}" for k, v in rows)


# ---------------------------------------------------------------------------------------------- systems

@dataclass(frozen=True)
class Target:
    """Something the fan-out clients connect to: our server, a peer relay, or the floor."""

    name: str
    port: int = 0  # our server's and the floor's are filled in when the run starts
    signed_in: bool = False  # clients resume and subscribe (our server); the peers take anyone
    pings: bool = False  # it pings its clients (uvicorn), so they must parse and answer while measuring
    feed: bool = True  # it relays the peer trigger's notifications on change_log


@dataclass
class Bench:
    """What the scenarios share: arguments, database, our server (restarted when the worker count changes)."""

    args: argparse.Namespace
    tmp: Path
    db_url: str
    pinning: "Pinning"
    tokens: dict[str, str] = field(default_factory=dict)
    versions: dict[int, int] = field(default_factory=dict)
    server: subprocess.Popen | None = None
    port: int = 0
    server_workers: int = 0
    peers: list[subprocess.Popen] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def serve(self, workers: int) -> None:
        """Our server with `workers` processes: the running one if it has that many, else a fresh one."""
        if self.server is not None and self.server_workers == workers:
            return
        self.stop_server()
        self.server, self.port = _start_server(self.db_url, self.tmp / "data", self.tmp / "server.log", workers)
        self.server_workers = workers
        self.pinning.server(self.server.pid, children=True)

    def stop_server(self) -> None:
        if self.server is not None:
            _stop(self.server)
            self.server = None

    def ours(self) -> Target:
        return Target(OURS if self.server_workers == self.args.server_workers else f"{OURS} --workers "
                      f"{self.server_workers}", self.port, signed_in=True, feed=False)


def _peers(bench: Bench, result: dict[str, Any]) -> list[Target]:
    """Start the peers `--peers` names (the Node.js one only where node and npm are); their targets after ours."""
    args = bench.args
    wanted = [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = set(wanted) - set(PEERS)
    if unknown:
        raise SystemExit(f"unknown --peers {sorted(unknown)}: choose from {', '.join(PEERS)}")
    targets = [Target(OURS, signed_in=True, feed=False)]
    if "node" in wanted:
        missing = node_peer.missing_tools()
        if missing:
            print(f"Node.js peer skipped: {' and '.join(missing)} not found on PATH", flush=True)
            result["node_peer"] = {"skipped": f"{' and '.join(missing)} not found on PATH"}
        else:
            folder = node_peer.install(args.node_cache)
            result["node_peer"] = {"folder": str(folder), **node_peer.versions(folder)}
            print(f"Node.js peer: node {result['node_peer']['node']}, ws {result['node_peer']['ws']}, "
                  f"pg {result['node_peer']['pg']} (npm ci into {folder})", flush=True)
            proc, port = node_peer.start(folder, bench.db_url, bench.tmp / "node-peer.log")
            bench.peers.append(proc)
            bench.pinning.server(proc.pid)
            targets.append(Target(NODE, port))
    if "broadcaster" in wanted:
        from .peer import start_peer
        # The peer holds one broadcaster subscription from start-up: broadcaster 0.3.1 drops clients
        # that subscribe while its first LISTEN is still in flight (see docs/BENCHMARKS.md).
        proc, port = start_peer(bench.db_url, bench.tmp / "peer.log", hold_subscription=True)
        bench.peers.append(proc)
        bench.pinning.server(proc.pid)
        targets.append(Target(BROADCASTER, port, pings=True))
    if "floor" in wanted:
        targets.append(Target(FLOOR, feed=False))
    return targets


def _event_bytes(db_url: str) -> int:
    """The mean length of the last 200 changes as sync.event text: the floor sends frames of that size."""
    sql = f"""SELECT coalesce(avg(length({_PEER_MESSAGE}::text)), 300)::int AS n
              FROM (SELECT * FROM change_log ORDER BY seq DESC LIMIT 200) AS last"""
    return int(asyncio.run(_fetch(db_url, sql))[0]["n"])


_PEER_MESSAGE = """json_build_object('jsonrpc', '2.0', 'method', 'sync.event', 'params', json_build_object(
    'seq', seq, 'entity', entity, 'op', op, 'id', entity_id, 'data', data, 'committed_at', to_json(committed_at)))"""


def _fanout_run(bench: Bench, target: Target, clients: int, per_minute: int, seconds: float) -> dict[str, Any]:
    """`clients` fresh clients on `target`, the writer at `per_minute` for `seconds`; the floor starts anew."""
    from .peer import install_peer_feed, remove_peer_feed, stop_peer

    floor = None
    if target.name == OURS:
        target = bench.ours()
    elif target.name == FLOOR:
        floor, port = start_until_healthy(["server.bench.floor", "--host", "127.0.0.1"], bench.tmp / "floor.log",
                                          "floor", 30)
        bench.pinning.server(floor.pid)
        target = replace(target, port=port)
    fleet = Fleet("127.0.0.1", target.port, bench.args.workers, bench.pinning.clients)
    try:
        opened, errors = fleet.open(_specs(clients, bench.tokens if target.signed_in else None),
                                    _max_seq(bench.db_url))
        print(f"{opened}/{clients} clients connected to {target.name}", flush=True)
        if floor is not None:
            s = _floor_step(fleet, target.port, per_minute, seconds, _event_bytes(bench.db_url))
        else:
            if target.feed:
                asyncio.run(install_peer_feed(bench.db_url))
            try:
                s = _step(fleet, target.name, bench.ws_url, bench.db_url, bench.tokens["frontdesk"], bench.versions,
                          per_minute, seconds, raw=not target.pings)
            finally:
                if target.feed:
                    asyncio.run(remove_peer_feed(bench.db_url))
        s["setup_errors"] = errors
    finally:
        fleet.quit()
        if floor is not None:
            stop_peer(floor)
    print(_table(f"{target.name}: {clients} clients at {per_minute}/min", _step_row(s)), flush=True)
    return s


def _spread_over_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The runs' spread (stats.summarise) and the runs themselves, without their samples and per-client rows."""
    for r in runs:
        r.pop("_sample", None)
        r.pop("_per_client", None)
    return {"median": stats.summarise(runs), "runs": runs}


def _fanout(bench: Bench, targets: list[Target]) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """`--repeats` rounds, each running every target once in the same order; each figure's median, min, max."""
    args = bench.args
    runs: dict[str, list[dict[str, Any]]] = {t.name: [] for t in targets}
    for n in range(args.repeats):
        print(f"\n== fanout round {n + 1} of {args.repeats}: {', '.join(runs)}", flush=True)
        for target in targets:
            runs[target.name].append(_fanout_run(bench, target, args.clients, args.events_per_minute, args.seconds))
    samples = {name: [ms for r in rs for ms in r["_sample"]] for name, rs in runs.items()}
    systems = {}
    for name, rs in runs.items():
        per_client = rs[-1]["_per_client"]
        systems[name] = {**_spread_over_runs(rs), "per_client_last_run": per_client}
    print(_table(f"fanout, {args.clients} clients at {args.events_per_minute}/min: median (min-max) of "
                 f"{args.repeats} alternated runs", stats.comparison_table({n: s["median"] for n, s in systems.items()},
                                                                            FLOOR)), flush=True)
    return {"clients": args.clients, "events_per_minute": args.events_per_minute, "seconds": args.seconds,
            "repeats": args.repeats, "order": list(runs), "systems": systems}, samples


def _scenarios(text: str) -> tuple[str, ...]:
    """`--scenario`: "all", one name, or names joined by commas (run in the bench's own order)."""
    names = {name.strip() for name in text.split(",") if name.strip()}
    if names == {"all"}:
        return SCENARIOS
    unknown = names - set(SCENARIOS)
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown scenario {', '.join(sorted(unknown)) or text!r}: "
                                         f"choose all or from {', '.join(SCENARIOS)}")
    return tuple(name for name in SCENARIOS if name in names)


HELD_P99_MS = 100.0  # issue 18: "the highest rate held with p99 <= 100 ms"


def rates_held(steps: list[dict[str, Any]], p99_ms: float = HELD_P99_MS) -> dict[str, int]:
    """Per system, the highest rate achieved (changes a minute actually written, which past the writer's
    own limit is less than offered) in a step that held p99 <= `p99_ms` with nothing lost, every lower
    step having held too; 0 when even the first did not."""
    held: dict[str, int] = {}
    broken: set[str] = set()
    for step in sorted(steps, key=lambda s: (s["system"], s["offered_per_min"])):
        name = step["system"]
        held.setdefault(name, 0)
        if name in broken:
            continue
        if step["p99_ms"] <= p99_ms and step["lost_total"] == 0:
            held[name] = max(held[name], step["rate_per_min"])
        else:
            broken.add(name)
    return held


def _rates(bench: Bench, targets: list[Target], rates: list[int]) -> list[dict[str, Any]]:
    """Rising rates on the same clients, for our server and the Node.js peer, until p99 passes 200 ms."""
    from .peer import install_peer_feed, remove_peer_feed

    args = bench.args
    steps: list[dict[str, Any]] = []
    for target in targets:
        if target.name not in (OURS, NODE):
            continue
        target = bench.ours() if target.name == OURS else target
        fleet = Fleet("127.0.0.1", target.port, args.workers, bench.pinning.clients)
        try:
            opened, _errors = fleet.open(_specs(args.clients, bench.tokens if target.signed_in else None),
                                         _max_seq(bench.db_url))
            print(f"{opened}/{args.clients} clients connected to {target.name}", flush=True)
            if target.feed:
                asyncio.run(install_peer_feed(bench.db_url))
            for rate in rates:
                s = _step(fleet, target.name, bench.ws_url, bench.db_url, bench.tokens["frontdesk"], bench.versions,
                          rate, args.step_seconds, raw=not target.pings)
                s.pop("_sample"), s.pop("_per_client")
                steps.append(s)
                print(_table(f"rates: {target.name} at {rate}/min", _step_row(s)), flush=True)
                if s["p99_ms"] > 200:
                    break
        finally:
            if target.feed:
                asyncio.run(remove_peer_feed(bench.db_url))
            fleet.quit()
    return steps


def _workers(bench: Bench, counts: list[int]) -> list[dict[str, Any]]:
    """`serve --workers 2` against `--workers 1` at each client count, alternated over `--repeats` rounds."""
    args = bench.args
    rows = []
    for clients in counts:
        runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
        for n in range(args.repeats):
            for workers in runs:
                print(f"\n== workers: {clients} clients, --workers {workers}, round {n + 1} of {args.repeats}",
                      flush=True)
                bench.serve(workers)
                target = replace(bench.ours(), name=f"{OURS} --workers {workers}")
                runs[workers].append(_fanout_run(bench, target, clients, args.events_per_minute, args.seconds))
        pair = {f"--workers {w}": _spread_over_runs(rs) for w, rs in runs.items()}
        for workers, spread in zip(runs, pair.values()):
            rows.append({"clients": clients, "server_workers": workers, **spread})
        print(_table(f"workers, {clients} clients at {args.events_per_minute}/min: median (min-max) of {args.repeats}",
                     stats.comparison_table({name: s["median"] for name, s in pair.items()})), flush=True)
    return rows


# ---------------------------------------------------------------------------------------------- entry

def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if args.short:
        args.clients, args.seconds, args.events_per_minute = 20, 3.0, 1200
        args.rates, args.step_seconds, args.idle = "2400", 2.0, "200"
        args.writers, args.repeats, args.worker_clients = 4, 1, "20"
    scenarios = args.scenario
    rates = [int(r) for r in args.rates.split(",") if r.strip()]
    idle_counts = [int(n) for n in args.idle.split(",") if n.strip()]
    worker_counts = [int(n) for n in args.worker_clients.split(",") if n.strip()]
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="clinic-bench-"))
    if os.name != "nt" and os.geteuid() == 0:
        tmp.chmod(0o755)
    pg = None
    result: dict[str, Any] = {
        "started": datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": "clinic-server bench " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["bench"] else sys.argv[1:]),
        "machine": {"nproc": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None},
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                 if k not in ("database_url", "func")},
    }
    samples: dict[str, list[float]] = {}
    pinning = Pinning(args.pin)
    result["pinning"] = pinning.describe()
    progress = tqdm(total=len(scenarios), desc="bench", unit="scenario", file=sys.stderr)
    bench: Bench | None = None
    failed: Exception | None = None
    try:
        if args.database_url:
            db_url = args.database_url
        else:
            print(f"preparing an embedded PostgreSQL in {tmp}", flush=True)
            pg, db_url = _prepare_db(tmp)
            postmaster = _postmaster_pid(db_url)
            if postmaster is not None:
                pinning.server(postmaster, children=True)
        pinning.clients(os.getpid())  # the writers run here
        print(pinning.describe(), flush=True)
        asyncio.run(_bench_seed(db_url))
        pairs = asyncio.run(_bench_pairs(db_url))
        bench = Bench(args, tmp, db_url, pinning)
        bench.serve(args.server_workers)
        bench.tokens = asyncio.run(_tokens(bench.ws_url))
        desk = bench.tokens["frontdesk"]
        if {"fanout", "rates", "workers"} & set(scenarios):
            bench.versions = asyncio.run(_create_fanout_appointments(bench.ws_url, desk, pairs))
        targets = _peers(bench, result) if {"fanout", "rates"} & set(scenarios) else []

        if "fanout" in scenarios:
            result["fanout"], samples = _fanout(bench, targets)
            progress.update()
        if "rates" in scenarios:
            bench.serve(args.server_workers)
            result["rates"] = _rates(bench, targets, rates)
            result["rates_held"] = rates_held(result["rates"])
            print(_table(f"highest rate held with p99 <= {HELD_P99_MS:g} ms (changes/min achieved; 0: none)",
                         sorted(result["rates_held"].items())), flush=True)
            progress.update()
        if "workers" in scenarios:
            result["workers"] = _workers(bench, worker_counts)
            progress.update()

        if "idle" in scenarios:
            bench.stop_server()  # a fresh process, so the baseline is an idle server's; one worker: one RSS
            bench.serve(1)
            assert bench.server is not None
            print("\n== idle connections (signed in and subscribed, one server worker)", flush=True)
            result["idle"] = _idle(bench.port, bench.server.pid, bench.tokens, idle_counts, args.workers,
                                   _max_seq(db_url), pinning)
            progress.update()

        if "bookings" in scenarios:
            bench.serve(args.server_workers)
            res = asyncio.run(_bookings(bench.ws_url, desk, pairs, args.writers, args.seconds))
            result["bookings"] = res
            print(_table("bookings", [
                ("writers", res["writers"]), ("bookings ok / failed", f"{res['ok']} / {res['failed']}"),
                ("validated bookings/s", f"{res['bookings_per_s']:.1f}"),
                ("call p50 / p99 (ms)", f"{res['p50_ms']:.1f} / {res['p99_ms']:.1f}"),
            ]), flush=True)
            if res["fail_reasons"]:
                print("  failures:", res["fail_reasons"])
            progress.update()

        if "store" in scenarios:
            shown = ("appointments", "events_fed", "events_applied", "achieved_rate", "stall_p50_ms", "stall_p99_ms",
                     "stall_max_ms", "stalls_over_50ms", "snapshot_load_ms", "window_open_ms")
            for key, tab, title in (("store", "calendar", "day view"), ("store_week", "week", "week view")):
                res = _store(1000, 200, 1.0, tab) if args.short else _store(10_000, 1000, 5.0, tab)
                result[key] = res
                print(_table(f"client store and Qt models (front-desk window, {title})",
                             [(k, res.get(k)) for k in shown]), flush=True)
            progress.update()
    except Exception as exc:  # keep what the scenarios before it measured: minutes of machine time
        failed = exc
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        progress.close()
        if bench is not None:
            from .peer import stop_peer
            for proc in bench.peers:
                stop_peer(proc)
            bench.stop_server()
        if pg is not None:
            pg.stop()

    stamp = time.strftime("%Y%m%d-%H%M%S")
    _plots(args.out, stamp, result, samples)
    path = args.out / f"bench-{stamp}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nresults: {path}")
    if failed is not None:
        raise failed
    return 0


def _plots(out: Path, stamp: str, result: dict[str, Any], samples: dict[str, list[float]]) -> None:
    from . import plots

    made = []
    if samples:
        made.append(out / f"latency-cdf-{stamp}.png")
        plots.latency_cdf(made[-1], samples)
    rate_rows = list(result.get("rates") or [])
    rated = {r["system"] for r in rate_rows}
    for name, system in (result.get("fanout") or {}).get("systems", {}).items():
        if name not in rated and name != FLOOR:  # the floor has no writer: its rate is its own
            rate_rows += system["runs"]
    if rate_rows:
        made.append(out / f"latency-vs-rate-{stamp}.png")
        plots.latency_vs_rate(made[-1], rate_rows)
    if result.get("idle"):
        made.append(out / f"memory-per-connection-{stamp}.png")
        plots.memory_per_connection(made[-1], [r for r in result["idle"] if r["connections"]])
    for key, name in (("store", "store-stall"), ("store_week", "store-stall-week")):
        if result.get(key):
            made.append(out / f"{name}-{stamp}.png")
            plots.store_stall(made[-1], result[key])
    result["plots"] = [str(p) for p in made]
