"""`clinic-server bench`: the clinic server against the targets, and a peer relay, in one run.

One run, one machine: it prepares its own embedded PostgreSQL (or uses `--database-url`), starts the
server in its own process, and drives simulated clients from separate worker processes (`fleet`).
Scenarios, in the order `--scenario all` runs them:

  fanout    commit-to-client latency and per-client loss/duplication at `--clients` clients
            (5 % front desk, 5 % dentists, 90 % patients) and `--events-per-minute`
  rates     the same clients at rising rates (`--rates`) until p99 passes 200 ms
  peer      the same load through a broadcaster + Starlette relay on the same database
  idle      server memory per idle (signed-in, subscribed) connection at `--idle` counts
  bookings  validated `appointments.create` calls a second with `--writers` concurrent writers
  store     the desktop client's store and models absorbing events (longest main-loop stall)

It prints a table per scenario and writes `bench-<time>.json` and PNG plots to `--out`.
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
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from .fleet import ClientSpec, Fleet
from .process import start_until_healthy

__all__ = ["add_arguments", "run"]

LONDON = ZoneInfo("Europe/London")
REPO_ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ("fanout", "rates", "peer", "idle", "bookings", "store")
BENCH_DENTISTS = 24
FANOUT_APPOINTMENTS = 480  # enough in flight that the writer keeps its rate while calls are slow
USERS = {"admin": ("frontdesk",), "dentist": ("drsmith", "drpatel"), "patient": ("alice", "bob")}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scenario", choices=("all", *SCENARIOS), default="all")
    p.add_argument("--clients", type=int, default=1000, help="subscribed clients (fanout, rates, peer)")
    p.add_argument("--events-per-minute", type=int, default=10_000, help="changes a minute (fanout, peer)")
    p.add_argument("--seconds", type=float, default=20.0, help="length of the fanout and peer runs")
    p.add_argument("--rates", default="20000,40000,80000,160000",
                   help="rising events a minute for the rates scenario (stops once p99 > 200 ms)")
    p.add_argument("--step-seconds", type=float, default=10.0, help="length of each rising-rate step")
    p.add_argument("--idle", default="1000,5000,10000", help="idle connection counts")
    p.add_argument("--writers", type=int, default=32, help="concurrent booking writers (bookings)")
    p.add_argument("--workers", type=int, default=2, help="client worker processes")
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


def _start_server(url: str, data_dir: Path, log_path: Path) -> tuple[subprocess.Popen, int]:
    # No keepalive pings: the clients listen without parsing while measuring (sync.heartbeat still flows).
    return start_until_healthy(
        ["server", "serve", "--database-url", url, "--data-dir", str(data_dir)], log_path, "server", 60,
        {"CLINIC_WRITES_PER_MINUTE": "100000000", "CLINIC_LOG_LEVEL": "WARNING", "CLINIC_PING_SECONDS": "0"})


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
    got = fleet.collect(written)
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


def _store(appointments: int, per_second: int, seconds: float) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-m", "server.bench.store_stall", "--appointments", str(appointments),
                           "--events-per-second", str(per_second), "--seconds", str(seconds)],
                          capture_output=True, text=True, env=env, cwd=str(REPO_ROOT), timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"store bench failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _table(title: str, rows: list[tuple[str, Any]]) -> str:
    w = max(len(k) for k, _ in rows)
    return f"\n== {title}\n" + "\n".join(f"  {k.ljust(w)}  {v}" for k, v in rows)


# ---------------------------------------------------------------------------------------------- entry

def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if args.short:
        args.clients, args.seconds, args.events_per_minute = 20, 3.0, 1200
        args.rates, args.step_seconds, args.idle = "2400", 2.0, "200"
        args.writers = 4
    scenarios = SCENARIOS if args.scenario == "all" else (args.scenario,)
    rates = [int(r) for r in args.rates.split(",") if r.strip()]
    idle_counts = [int(n) for n in args.idle.split(",") if n.strip()]
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="clinic-bench-"))
    if os.name != "nt" and os.geteuid() == 0:
        tmp.chmod(0o755)
    pg = server = None
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
        server, port = _start_server(db_url, tmp / "data", tmp / "server.log")
        pinning.server(server.pid)
        ws_url = f"ws://127.0.0.1:{port}/ws"
        tokens = asyncio.run(_tokens(ws_url))
        desk = tokens["frontdesk"]
        versions: dict[int, int] = {}
        if {"fanout", "rates", "peer"} & set(scenarios):
            versions = asyncio.run(_create_fanout_appointments(ws_url, desk, pairs))

        if {"fanout", "rates"} & set(scenarios):
            fleet = Fleet("127.0.0.1", port, args.workers, pinning.clients)
            try:
                opened, errors = fleet.open(_specs(args.clients, tokens), _max_seq(db_url))
                print(f"{opened}/{args.clients} clients signed in and subscribed", flush=True)
                result["setup_errors"] = errors
                steps = []
                if "fanout" in scenarios:
                    s = _step(fleet, "clinic-server", ws_url, db_url, desk, versions, args.events_per_minute, args.seconds)
                    samples["clinic-server"] = s.pop("_sample")
                    result["fanout"] = {"summary": s, "per_client": s.pop("_per_client")}
                    steps.append(s)
                    print(_table("fanout: clinic-server", _step_row(s)), flush=True)
                    progress.update()
                if "rates" in scenarios:
                    for rate in rates:
                        s = _step(fleet, "clinic-server", ws_url, db_url, desk, versions, rate, args.step_seconds)
                        s.pop("_sample"), s.pop("_per_client")
                        steps.append(s)
                        print(_table(f"rates: clinic-server at {rate}/min", _step_row(s)), flush=True)
                        if s["p99_ms"] > 200:
                            break
                    result["rates"] = steps
                    progress.update()
            finally:
                fleet.quit()

        if "peer" in scenarios:
            from .peer import install_peer_feed, remove_peer_feed, start_peer, stop_peer
            asyncio.run(install_peer_feed(db_url))
            # The peer holds one broadcaster subscription from start-up: broadcaster 0.3.1 drops clients
            # that subscribe while its first LISTEN is still in flight (see docs/BENCHMARKS.md).
            peer, peer_port = start_peer(db_url, tmp / "peer.log", hold_subscription=True)
            pinning.server(peer.pid)
            fleet = Fleet("127.0.0.1", peer_port, args.workers, pinning.clients)
            try:
                opened, errors = fleet.open(_specs(args.clients, None), 0)
                print(f"{opened}/{args.clients} clients connected to the broadcaster peer", flush=True)
                # uvicorn pings its WebSocket clients, so they parse (and answer) as they go.
                s = _step(fleet, "broadcaster peer", ws_url, db_url, desk, versions, args.events_per_minute,
                          args.seconds, raw=False)
                samples["broadcaster peer"] = s.pop("_sample")
                result["peer"] = {"summary": s, "per_client": s.pop("_per_client"), "setup_errors": errors}
                print(_table("fanout: broadcaster + Starlette peer", _step_row(s)), flush=True)
            finally:
                fleet.quit()
                stop_peer(peer)
                asyncio.run(remove_peer_feed(db_url))
            progress.update()

        if "idle" in scenarios:
            _stop(server)  # a fresh process, so the baseline is an idle server's
            server, port = _start_server(db_url, tmp / "data", tmp / "server.log")
            pinning.server(server.pid)
            ws_url = f"ws://127.0.0.1:{port}/ws"
            print("\n== idle connections (signed in and subscribed)", flush=True)
            result["idle"] = _idle(port, server.pid, tokens, idle_counts, args.workers, _max_seq(db_url), pinning)
            progress.update()

        if "bookings" in scenarios:
            res = asyncio.run(_bookings(ws_url, desk, pairs, args.writers, args.seconds))
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
            res = _store(1000, 200, 1.0) if args.short else _store(10_000, 1000, 5.0)
            result["store"] = res
            shown = ("appointments", "events_fed", "events_applied", "achieved_rate", "stall_p50_ms", "stall_p99_ms",
                     "stall_max_ms", "stalls_over_50ms", "snapshot_load_ms", "window_open_ms")
            print(_table("client store and Qt models (front-desk window)", [(k, res.get(k)) for k in shown]), flush=True)
            progress.update()
    finally:
        progress.close()
        if server is not None:
            _stop(server)
        if pg is not None:
            pg.stop()

    stamp = time.strftime("%Y%m%d-%H%M%S")
    _plots(args.out, stamp, result, samples)
    path = args.out / f"bench-{stamp}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nresults: {path}")
    return 0


def _plots(out: Path, stamp: str, result: dict[str, Any], samples: dict[str, list[float]]) -> None:
    from . import plots

    made = []
    if samples:
        made.append(out / f"latency-cdf-{stamp}.png")
        plots.latency_cdf(made[-1], samples)
    rate_rows = list(result.get("rates") or [])
    if "peer" in result:
        rate_rows.append(result["peer"]["summary"])
    if rate_rows:
        made.append(out / f"latency-vs-rate-{stamp}.png")
        plots.latency_vs_rate(made[-1], rate_rows)
    if result.get("idle"):
        made.append(out / f"memory-per-connection-{stamp}.png")
        plots.memory_per_connection(made[-1], [r for r in result["idle"] if r["connections"]])
    if result.get("store"):
        made.append(out / f"store-stall-{stamp}.png")
        plots.store_stall(made[-1], result["store"])
    result["plots"] = [str(p) for p in made]
