"""`clinic-server bench`: a first, honest load benchmark of the sync server.

It starts its own server process on a database it prepares (an embedded PostgreSQL in a temp dir by
default, or `--database-url`), runs simulated clients in separate worker processes, and reports
commit-to-receive latency and per-client lost/duplicated events (the `fanout` scenario), or validated
bookings per second with K concurrent writers (the `bookings` scenario).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["add_arguments", "run"]

LONDON = ZoneInfo("Europe/London")
REPO_ROOT = Path(__file__).resolve().parents[2]
APPOINTMENT_IDS = (1, 2, 3, 4)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scenario", choices=["fanout", "bookings"], default="fanout")
    p.add_argument("--clients", type=int, default=200, help="simulated subscribed clients (fanout)")
    p.add_argument("--events-per-minute", type=int, default=10000, help="changes the writer makes (fanout)")
    p.add_argument("--seconds", type=float, default=20.0, help="how long the writers run")
    p.add_argument("--writers", type=int, default=8, help="concurrent booking writers (bookings)")
    p.add_argument("--workers", type=int, default=2, help="client worker processes")
    p.add_argument("--database-url", help="an external, migrated and demo-seeded database (default: embedded, temp)")
    p.add_argument("--out", type=Path, default=Path("bench-results"), help="directory for the JSON result")
    p.add_argument("--short", action="store_true", help="a few seconds with 20 clients (for the test suite)")


# ---------------------------------------------------------------------------------------------- a tiny client

class Client:
    def __init__(self, ws) -> None:
        self.ws = ws
        self._ids = 0
        self._pending: dict[int, asyncio.Future] = {}
        self.seqs: list[int] = []
        self.latencies: list[float] = []
        self.max_seq = 0
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str) -> "Client":
        from websockets.asyncio.client import connect
        ws = await connect(url, max_size=None, open_timeout=60, ping_interval=None)
        return cls(ws)

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                now = time.time()
                msg = json.loads(frame)
                if "id" in msg and ("result" in msg or "error" in msg):
                    fut = self._pending.pop(msg["id"], None)
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
                elif msg.get("method") == "sync.event":
                    params = msg["params"]
                    seq = params["seq"]
                    self.seqs.append(seq)
                    self.max_seq = max(self.max_seq, seq)
                    committed = datetime.fromisoformat(params["committed_at"]).timestamp()
                    self.latencies.append(now - committed)
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


def _username(i: int) -> tuple[str, str]:
    """Roles split 5% admin, 5% dentist, 90% patient."""
    r = i % 20
    if r == 0:
        return "admin", "frontdesk"
    if r == 1:
        return "dentist", ("drsmith", "drpatel")[(i // 20) % 2]
    return "patient", ("alice", "bob")[i % 2]


# ---------------------------------------------------------------------------------------------- worker process

def _worker(url: str, indices: list[int], ready, go, stop, final_seq, results) -> None:
    asyncio.run(_worker_async(url, indices, ready, go, stop, final_seq, results))


async def _worker_async(url, indices, ready, go, stop, final_seq, results) -> None:
    clients: dict[int, Client] = {}
    errors: list[str] = []
    sem = asyncio.Semaphore(50)

    async def one(i: int) -> None:
        async with sem:
            try:
                c = await Client.open(url)
                await c.call("auth.login", username=_username(i)[1], password="demo")
                await c.call("sync.subscribe", since=None)
                clients[i] = c
            except Exception as exc:  # reported, not hidden
                errors.append(f"client {i}: {exc!r}")

    await asyncio.gather(*(one(i) for i in indices))
    ready.put((len(clients), errors))
    while not stop.is_set():
        await asyncio.sleep(0.05)
    target = final_seq.value
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(c.max_seq < target for c in clients.values()):
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # a late duplicate would show up here
    out = {i: {"role": _username(i)[0], "user": _username(i)[1], "seqs": c.seqs, "latencies": c.latencies}
           for i, c in clients.items()}
    await asyncio.gather(*(c.close() for c in clients.values()))
    results.put((out, errors))


# ---------------------------------------------------------------------------------------------- server + db

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def _start_server(url: str, data_dir: Path, log_path: Path) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    env = dict(os.environ)
    env.update(CLINIC_WRITES_PER_MINUTE="100000000", CLINIC_LOG_LEVEL="WARNING")
    env.pop("CLINIC_DATABASE_URL", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    log = open(log_path, "ab")
    proc = subprocess.Popen([sys.executable, "-m", "server", "serve", "--database-url", url, "--port", str(port),
                             "--data-dir", str(data_dir)], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, cwd=str(REPO_ROOT))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}); see {log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return proc, port
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("the server did not become healthy within 60 s")


def _stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def _max_seq(url: str) -> int:
    import asyncpg
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT coalesce(max(seq), 0) FROM change_log"))
    finally:
        await conn.close()


async def _versions(url: str) -> dict[int, int]:
    import asyncpg
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT id, version FROM appointments WHERE id = ANY($1::bigint[])", list(APPOINTMENT_IDS))
        return {r["id"]: r["version"] for r in rows}
    finally:
        await conn.close()


async def _seqs_after(url: str, start: int) -> list[int]:
    import asyncpg
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT seq FROM change_log WHERE seq > $1 ORDER BY seq", start)
        return [r["seq"] for r in rows]
    finally:
        await conn.close()


# ---------------------------------------------------------------------------------------------- scenarios

async def _fanout_writer(ws_url: str, db_url: str, per_minute: int, seconds: float) -> dict[str, Any]:
    desks = {}
    for aid in APPOINTMENT_IDS:  # one connection per appointment: requests on one socket may be serialised
        desks[aid] = await Client.open(ws_url)
        await desks[aid].call("auth.login", username="frontdesk", password="demo")
    versions: dict[int, int] = {}
    for aid in APPOINTMENT_IDS:
        versions[aid] = 0
    written = failed = 0
    rate = per_minute / 60.0
    per_task = rate / len(APPOINTMENT_IDS)
    t0 = time.monotonic()
    end = t0 + seconds

    async def loop(aid: int) -> None:
        nonlocal written, failed
        n = 0
        while True:
            due = t0 + n / per_task
            if due >= end or time.monotonic() >= end:  # wall clock: a writer that falls behind writes less
                return
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            n += 1
            try:
                res = await desks[aid].call("appointments.update", id=aid, version=versions[aid], notes=f"bench {n}")
                versions[aid] = res["version"]
                written += 1
            except Exception:
                failed += 1
                try:  # learn the current version (after a conflict)
                    versions.update(await _versions(db_url))
                except Exception:
                    pass

    versions.update(await _versions(db_url))
    await asyncio.gather(*(loop(aid) for aid in APPOINTMENT_IDS))
    elapsed = time.monotonic() - t0
    for c in desks.values():
        await c.close()
    return {"written_ok": written, "failed": failed, "elapsed_s": elapsed}


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def _run_fanout(args, db_url: str, ws_url: str) -> dict[str, Any]:
    start_seq = asyncio.run(_max_seq(db_url))
    ctx = mp.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    go, stop = ctx.Event(), ctx.Event()
    final_seq = ctx.Value("q", 0)
    workers = max(1, min(args.workers, args.clients))
    procs = []
    for w in range(workers):
        idx = list(range(w, args.clients, workers))
        p = ctx.Process(target=_worker, args=(ws_url, idx, ready, go, stop, final_seq, results), daemon=True)
        p.start()
        procs.append(p)
    connected, setup_errors = 0, []
    for _ in procs:
        n, errs = ready.get(timeout=300)
        connected += n
        setup_errors += errs
    print(f"{connected}/{args.clients} clients subscribed; writing for {args.seconds:g} s", flush=True)
    writer = asyncio.run(_fanout_writer(ws_url, db_url, args.events_per_minute, args.seconds))
    written = asyncio.run(_seqs_after(db_url, start_seq))
    final_seq.value = written[-1] if written else start_seq
    stop.set()
    per_client: dict[int, dict] = {}
    for _ in procs:
        out, errs = results.get(timeout=300)
        per_client.update(out)
        setup_errors += errs
    for p in procs:
        p.join(30)
    expected = set(written)
    all_lat: list[float] = []
    clients_out = []
    for i in sorted(per_client):
        c = per_client[i]
        got = [s for s in c["seqs"] if s > start_seq]
        lat = [l for s, l in zip(c["seqs"], c["latencies"]) if s > start_seq]
        all_lat += lat
        seen = set(got)
        clients_out.append({"client": i, "role": c["role"], "user": c["user"], "received": len(got),
                            "lost": len(expected - seen), "duplicated": len(got) - len(seen),
                            "unexpected": len(seen - expected),
                            "p50_ms": _pct(lat, 0.5) * 1000, "p99_ms": _pct(lat, 0.99) * 1000})
    summary = {
        "clients": args.clients, "clients_connected": connected, "events_written": len(written),
        "events_expected_per_client": len(expected),
        "writer_rate_per_s": len(written) / writer["elapsed_s"] if writer["elapsed_s"] else 0.0,
        "p50_ms": _pct(all_lat, 0.5) * 1000, "p90_ms": _pct(all_lat, 0.9) * 1000,
        "p99_ms": _pct(all_lat, 0.99) * 1000, "max_ms": max(all_lat) * 1000 if all_lat else float("nan"),
        "mean_ms": statistics.fmean(all_lat) * 1000 if all_lat else float("nan"),
        "lost_total": sum(c["lost"] for c in clients_out),
        "duplicated_total": sum(c["duplicated"] for c in clients_out),
        "clients_with_loss": sum(1 for c in clients_out if c["lost"]),
    }
    print(_table([
        ("clients", f"{connected}/{args.clients}"),
        ("events written", summary["events_written"]),
        ("writer rate (events/s)", f"{summary['writer_rate_per_s']:.1f} (target {args.events_per_minute / 60:.1f})"),
        ("events expected per client", summary["events_expected_per_client"]),
        ("latency p50 (ms)", f"{summary['p50_ms']:.1f}"),
        ("latency p90 (ms)", f"{summary['p90_ms']:.1f}"),
        ("latency p99 (ms)", f"{summary['p99_ms']:.1f}"),
        ("latency max (ms)", f"{summary['max_ms']:.1f}"),
        ("lost (all clients)", summary["lost_total"]),
        ("duplicated (all clients)", summary["duplicated_total"]),
    ]))
    return {"summary": summary, "writer": writer, "start_seq": start_seq, "errors": setup_errors[:50],
            "per_client": clients_out}


def _booking_slots() -> list[tuple[int, int, str]]:
    """(dentist, patient, start) bookings that cannot collide: future weekdays within the 90-day horizon,
    09:00-12:00 and 13:00-17:00 London, 30-minute steps (type 1 = 30 min), dentist d always with patient d.

    The two demo dentists can hold at most 28 bookings a weekday, so the whole horizon is ~1,800 bookings;
    the scenario stops early when they run out. The seeded demo appointments (next 3 weekdays) are skipped.
    """
    times = [(h, m) for h in list(range(9, 12)) + list(range(13, 17)) for m in (0, 30)]
    out: list[tuple[int, int, str]] = []
    today = datetime.now(LONDON).date()
    d = today + timedelta(days=7)
    while d < today + timedelta(days=88):
        if d.weekday() < 5:
            for h, m in times:
                start = datetime(d.year, d.month, d.day, h, m, tzinfo=LONDON)
                for dentist in (1, 2):
                    out.append((dentist, dentist, start.isoformat()))
        d += timedelta(days=1)
    return out


async def _bookings(ws_url: str, writers: int, seconds: float) -> dict[str, Any]:
    slots = _booking_slots()
    pos = 0
    ok = fail = 0
    reasons: dict[str, int] = {}
    lat: list[float] = []
    clients = [await Client.open(ws_url) for _ in range(writers)]
    for c in clients:
        await c.call("auth.login", username="frontdesk", password="demo")
    t0 = time.monotonic()
    end = t0 + seconds

    async def writer(c: Client, w: int) -> None:
        nonlocal pos, ok, fail
        while time.monotonic() < end and pos < len(slots):
            dentist, patient, start = slots[pos]
            pos += 1
            t = time.monotonic()
            try:
                await c.call("appointments.create", dentist_id=dentist, type_id=1, patient_id=patient, start=start)
                ok += 1
                lat.append(time.monotonic() - t)
            except Exception as exc:
                fail += 1
                reason = str(exc)
                if isinstance(exc, RuntimeError) and isinstance(exc.args[0], dict):
                    reason = str((exc.args[0].get("data") or {}).get("reason") or exc.args[0].get("message"))
                reasons[reason] = reasons.get(reason, 0) + 1

    await asyncio.gather(*(writer(c, w) for w, c in enumerate(clients)))
    elapsed = time.monotonic() - t0
    for c in clients:
        await c.close()
    return {"writers": writers, "slots_available": len(slots), "ran_out_of_slots": pos >= len(slots), "ok": ok, "failed": fail, "fail_reasons": reasons, "elapsed_s": elapsed,
            "bookings_per_s": ok / elapsed if elapsed else 0.0,
            "p50_ms": _pct(lat, 0.5) * 1000, "p99_ms": _pct(lat, 0.99) * 1000}


def _run_bookings(args, db_url: str, ws_url: str) -> dict[str, Any]:
    res = asyncio.run(_bookings(ws_url, args.writers, args.seconds))
    print(_table([
        ("writers", res["writers"]), ("bookings ok", res["ok"]), ("failed", res["failed"]),
        ("bookings/s", f"{res['bookings_per_s']:.1f}"),
        ("call p50 (ms)", f"{res['p50_ms']:.1f}"), ("call p99 (ms)", f"{res['p99_ms']:.1f}"),
    ]))
    if res["fail_reasons"]:
        print("failures:", res["fail_reasons"])
    return {"summary": res}


def _table(rows: list[tuple[str, Any]]) -> str:
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(w)}  {v}" for k, v in rows)


# ---------------------------------------------------------------------------------------------- entry

def run(args: argparse.Namespace) -> int:
    if args.short:
        args.clients = min(args.clients, 20) if args.clients != 200 else 20
        args.seconds = min(args.seconds, 3.0)
        args.events_per_minute = min(args.events_per_minute, 1200)
        args.writers = min(args.writers, 4)
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="clinic-bench-"))
    if os.name != "nt" and os.geteuid() == 0:
        tmp.chmod(0o755)
    pg = None
    server = None
    try:
        if args.database_url:
            db_url = args.database_url
        else:
            print(f"preparing an embedded PostgreSQL in {tmp}", flush=True)
            pg, db_url = _prepare_db(tmp)
        server, port = _start_server(db_url, tmp / "data", tmp / "server.log")
        ws_url = f"ws://127.0.0.1:{port}/ws"
        started = datetime.now().astimezone().isoformat(timespec="seconds")
        if args.scenario == "fanout":
            result = _run_fanout(args, db_url, ws_url)
        else:
            result = _run_bookings(args, db_url, ws_url)
        result.update({
            "scenario": args.scenario, "started": started, "short": args.short,
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "database_url"},
            "machine": {"nproc": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        })
        path = args.out / f"bench-{args.scenario}-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_text(json.dumps(result, indent=2, default=str))
        print(f"results: {path}")
        return 0
    finally:
        if server is not None:
            _stop_server(server)
        if pg is not None:
            pg.stop()
