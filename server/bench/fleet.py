"""Client worker processes: each holds a share of the simulated clients on one epoll loop.

The orchestrator drives all workers in lock-step through a command queue per worker:

    ("open", (since, specs)) connect (and, for the clinic server, resume + subscribe) the given clients
    ("measure", None)      clear the logs and receive until the `stop` event is set
    ("collect", seqs)      drain until every client saw the last seq (or 30 s), then report
    ("quit", None)

Reports are compact: per-client received/lost/duplicated/unexpected counts, a mergeable latency
histogram (0.1 ms bins), the maximum, and a bounded random sample of latencies for the plots.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import random
import resource
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .wire import RawClient, receive_loop

__all__ = ["ClientSpec", "Fleet", "Histogram"]

BIN_MS = 0.1
FINE = 20_000  # 0 .. 2 s in 0.1 ms bins
COARSE_MS = 10.0
BINS = FINE + 11_800  # then 2 s .. 120 s in 10 ms bins, then one overflow bin
SAMPLE_PER_WORKER = 20_000


@dataclass(frozen=True)
class ClientSpec:
    index: int
    role: str  # admin / dentist / patient, or "peer" for the unauthenticated peer relay
    user: str
    token: str | None  # an access token for auth.resume (clinic server), None for the peer


class Histogram:
    """Latency counts in fixed bins (0.1 ms to 2 s, then 10 ms to 2 min): exact merge across processes."""

    def __init__(self, counts: list[int] | None = None, maximum: float = 0.0) -> None:
        self.counts = counts or [0] * (BINS + 1)
        self.maximum = maximum

    @staticmethod
    def _bin(ms: float) -> int:
        if ms <= 0:
            return 0
        b = int(ms / BIN_MS)
        if b >= FINE:
            b = FINE + int((ms - FINE * BIN_MS) / COARSE_MS)
        return b if b < BINS else BINS

    @staticmethod
    def _middle(b: int) -> float:
        if b < FINE:
            return (b + 0.5) * BIN_MS
        return FINE * BIN_MS + (b - FINE + 0.5) * COARSE_MS

    def add(self, ms: float) -> None:
        self.counts[self._bin(ms)] += 1
        if ms > self.maximum:
            self.maximum = ms

    def merge(self, other: "Histogram") -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts)]
        self.maximum = max(self.maximum, other.maximum)

    @property
    def total(self) -> int:
        return sum(self.counts)

    def percentile(self, q: float) -> float:
        total = self.total
        if not total:
            return float("nan")
        rank = q * (total - 1)
        seen = 0
        for b, n in enumerate(self.counts):
            seen += n
            if seen > rank:
                return self.maximum if b == BINS else min(self._middle(b), self.maximum)
        return self.maximum


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _worker(host: str, port: int, commands, replies, stop) -> None:
    _raise_fd_limit()
    clients: list[RawClient] = []
    while True:
        # Between commands keep reading (heartbeats, and pings that must be answered).
        while commands.empty() and any(not c.closed for c in clients):
            receive_loop(clients, lambda: not commands.empty())
        cmd, arg = commands.get()
        try:
            if cmd == "open":
                since, specs = arg
                replies.put(("open", _open(host, port, since, specs, clients)))
            elif cmd == "measure":
                for c in clients:
                    c.frames.clear()
                    c.times.clear()
                receive_loop(clients, stop.is_set, raw=arg)
                for c in clients:
                    c.feed_chunks()
                replies.put(("measure", None))
            elif cmd == "collect":
                replies.put(("collect", _collect(clients, arg)))
            elif cmd == "close":
                for c in clients:
                    c.close()
                clients.clear()
                replies.put(("close", None))
            elif cmd == "quit":
                for c in clients:
                    c.close()
                return
        except Exception as exc:  # reported to the orchestrator, never swallowed
            replies.put(("error", f"{cmd}: {exc!r}"))


def _open(host: str, port: int, since: int, specs: list[ClientSpec], clients: list[RawClient]) -> dict[str, Any]:
    errors: list[str] = []
    opened = 0
    for n, spec in enumerate(specs):
        if n % 200 == 199:  # let the clients opened so far answer the server's pings
            end = time.monotonic() + 0.01
            receive_loop(clients, lambda: time.monotonic() > end)
        try:
            c = RawClient.connect(host, port, tag=spec)
            if spec.token is not None:
                c.call("auth.resume", access_token=spec.token)
                position = c.call("sync.subscribe", since=since)["seq"]
                assert isinstance(position, int)
            c.sock.setblocking(False)
            clients.append(c)
            opened += 1
        except Exception as exc:
            if len(errors) < 20:
                errors.append(f"client {spec.index}: {exc!r}")
    return {"opened": opened, "errors": errors}


def _event(frame: bytes) -> tuple[int, float] | None:
    """(seq, committed_at epoch seconds) of a sync.event frame, None for anything else."""
    msg = json.loads(frame)
    if msg.get("method") != "sync.event":
        return None
    p = msg["params"]
    return p["seq"], datetime.fromisoformat(p["committed_at"]).timestamp()


def _collect(clients: list[RawClient], written: list[int]) -> dict[str, Any]:
    """Drain until each client holds the last written seq (30 s at most), then count and summarise."""
    expected = set(written)
    last = written[-1] if written else 0
    deadline = time.monotonic() + 30
    pending = [c for c in clients if not c.closed]

    def caught_up(c: RawClient) -> bool:
        for frame in reversed(c.frames[-50:]):
            ev = _event(frame)
            if ev is not None:
                return ev[0] >= last
        return not written

    while pending and time.monotonic() < deadline:
        pending = [c for c in pending if not c.closed and not caught_up(c)]
        if pending:
            end = time.monotonic() + 0.25
            receive_loop(pending, lambda: time.monotonic() > end)
    time.sleep(0.3)  # a late duplicate would arrive now
    end = time.monotonic() + 0.2
    receive_loop([c for c in clients if not c.closed], lambda: time.monotonic() > end)

    hist = Histogram()
    sample: list[float] = []
    seen_total = 0
    per_client = []
    for c in clients:
        seqs: list[int] = []
        for frame, at in zip(c.frames, c.times):
            ev = _event(frame)
            if ev is None:
                continue
            seq, committed = ev
            seqs.append(seq)
            if seq in expected:
                ms = (at - committed) * 1000.0
                hist.add(ms)
                seen_total += 1
                if len(sample) < SAMPLE_PER_WORKER:
                    sample.append(ms)
                elif random.random() < SAMPLE_PER_WORKER / seen_total:
                    sample[random.randrange(SAMPLE_PER_WORKER)] = ms
        unique = set(seqs)
        spec: ClientSpec = c.tag
        per_client.append({"client": spec.index, "role": spec.role, "user": spec.user, "received": len(seqs),
                           "lost": len(expected - unique), "duplicated": len(seqs) - len(unique),
                           "unexpected": len(unique - expected), "disconnected": c.closed})
        c.frames.clear()
        c.times.clear()
    return {"per_client": per_client, "hist": hist.counts, "max_ms": hist.maximum, "sample": sample}


class Fleet:
    """N worker processes holding simulated clients against one server (ours or the peer)."""

    def __init__(self, host: str, port: int, workers: int, pin=None) -> None:
        ctx = mp.get_context("spawn")
        self.stop = ctx.Event()
        self._commands = [ctx.Queue() for _ in range(workers)]
        self._replies = [ctx.Queue() for _ in range(workers)]
        self._procs = [ctx.Process(target=_worker, args=(host, port, q, r, self.stop), daemon=True)
                       for q, r in zip(self._commands, self._replies)]
        for p in self._procs:
            p.start()
            if pin is not None:
                pin(p.pid)

    def _all(self, cmd: str, args: list[Any], timeout: float = 900) -> list[Any]:
        for q, a in zip(self._commands, args):
            q.put((cmd, a))
        out = []
        for r in self._replies:
            kind, value = r.get(timeout=timeout)
            if kind == "error":
                raise RuntimeError(f"bench worker failed: {value}")
            out.append(value)
        return out

    def open(self, specs: list[ClientSpec], since: int) -> tuple[int, list[str]]:
        """Connect `specs` (spread over the workers) in addition to any already open."""
        n = len(self._procs)
        results = self._all("open", [(since, specs[w::n]) for w in range(n)])
        return sum(r["opened"] for r in results), [e for r in results for e in r["errors"]]

    def start_measuring(self, raw: bool = False) -> None:
        """Start listening; `raw` (only when the server sends no pings) defers frame parsing to the end."""
        self.stop.clear()
        for q in self._commands:
            q.put(("measure", raw))

    def stop_measuring(self) -> None:
        self.stop.set()
        for r in self._replies:
            kind, value = r.get(timeout=120)
            if kind == "error":
                raise RuntimeError(f"bench worker failed: {value}")

    def collect(self, written: list[int]) -> dict[str, Any]:
        results = self._all("collect", [written] * len(self._procs))
        hist = Histogram()
        sample: list[float] = []
        per_client: list[dict[str, Any]] = []
        for r in results:
            hist.merge(Histogram(r["hist"], r["max_ms"]))
            sample += r["sample"]
            per_client += r["per_client"]
        return {"hist": hist, "sample": sample, "per_client": sorted(per_client, key=lambda c: c["client"])}

    def close_clients(self) -> None:
        self._all("close", [None] * len(self._procs))

    def quit(self) -> None:
        for q in self._commands:
            q.put(("quit", None))
        for p in self._procs:
            p.join(30)
            if p.is_alive():
                p.kill()
