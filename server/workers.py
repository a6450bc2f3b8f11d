"""`clinic-server serve --workers N`: N server processes on one port, and the supervisor that runs them.

Each worker is a whole `clinic-server serve` (its own event loop, relay and connections) that listens
with `SO_REUSEPORT`, so the kernel spreads new connections over the workers; every worker relays the
shared change_log to its own connections, as separate instances on one database already do (revocations,
write limits and assistant conversations live in the database). The supervisor (this module, in the
parent process) starts the embedded PostgreSQL once and hands the workers its URL, creates the token
secret once, starts worker 0 alone (it migrates and seeds the demo) and then the others, restarts a
worker that dies, and on SIGTERM/SIGINT stops every worker and then PostgreSQL.

It keeps `<data dir>/workers.json` current (each worker's pid, state and restarts); every worker's
`/healthz` adds it, so whichever worker answers reports them all.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from .app import ClinicServer
from .auth import load_or_create_secret
from .config import Config

__all__ = ["STATE_FILE", "WorkerServer", "read_state", "reuse_port_available", "supervise"]

log = logging.getLogger("clinic.workers")

STATE_FILE = "workers.json"
START_TIMEOUT = 120.0  # a first start may migrate and seed the database
STOP_TIMEOUT = 15.0
LISTENING = "clinic-server listening on"  # the line `serve` prints once it accepts connections


def reuse_port_available() -> bool:
    """Whether several processes can listen on one port (SO_REUSEPORT: Linux, the BSDs, macOS; not Windows)."""
    return hasattr(socket, "SO_REUSEPORT") and os.name != "nt"


def read_state(data_dir: Path) -> dict[str, Any] | None:
    """The supervisor's view of its workers (None when there is no supervisor or the file is unreadable)."""
    try:
        return json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


class WorkerServer(ClinicServer):
    """One worker: it shares the port with its siblings, and its /healthz reports every worker."""

    reuse_port = True

    def __init__(self, config: Config, index: int) -> None:
        super().__init__(config)
        self.index = index

    async def _http(self, connection: Any, request: Any) -> Any:
        response = await super()._http(connection, request)
        if response is None or request.path.split("?", 1)[0] != "/healthz":
            return response
        body = json.loads(response.body)
        body["worker"] = {"index": self.index, "pid": os.getpid()}
        state = read_state(self.config.data_dir)
        if state is not None:
            body["workers"] = state["workers"]
            body["workers_running"] = sum(1 for w in state["workers"] if w["state"] == "running")
        data = json.dumps(body).encode()
        del response.headers["Content-Length"]
        response.headers["Content-Length"] = str(len(data))
        return dataclasses.replace(response, body=data)


@dataclasses.dataclass
class _Worker:
    index: int
    proc: subprocess.Popen | None = None
    state: str = "starting"  # starting, running, restarting, stopped
    restarts: int = 0
    started: float = 0.0
    ready: threading.Event = dataclasses.field(default_factory=threading.Event)


class _Pool:
    """The worker processes, their restarts and the state file."""

    def __init__(self, command: list[str], env: dict[str, str], data_dir: Path, count: int, port: int) -> None:
        self.command = command
        self.env = env
        self.data_dir = data_dir
        self.port = port
        self.workers = [_Worker(i) for i in range(count)]
        self._lock = threading.Lock()

    def start(self, worker: _Worker) -> None:
        worker.ready = threading.Event()
        worker.started = time.monotonic()
        worker.proc = subprocess.Popen([*self.command, "--worker-index", str(worker.index)], env=self.env,
                                       stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, bufsize=1)
        threading.Thread(target=self._read, args=(worker, worker.proc.stdout, worker.ready), daemon=True,
                         name=f"worker-{worker.index}-stdout").start()
        self.save()

    def _read(self, worker: _Worker, stdout: TextIO, ready: threading.Event) -> None:
        """Pass the worker's output on; its "listening" line marks it running (and is not repeated)."""
        for line in stdout:
            if line.startswith(LISTENING) and not ready.is_set():
                ready.set()
                worker.state = "running"
                self.save()
            else:
                sys.stdout.write(line)
                sys.stdout.flush()

    def wait_ready(self, worker: _Worker, timeout: float = START_TIMEOUT) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if worker.ready.wait(0.1):
                return True
            if worker.proc is None or worker.proc.poll() is not None:
                return False
        return False

    def replace_dead(self) -> None:
        """Restart each worker that exited; one that keeps dying right after starting waits longer each time."""
        for worker in self.workers:
            proc = worker.proc
            if proc is None or proc.poll() is None:
                continue
            if worker.state != "restarting":
                log.warning("worker %d (pid %d) exited with code %s; starting a new one",
                            worker.index, proc.pid, proc.returncode)
                worker.state = "restarting"
                self.save()
            quick = time.monotonic() - worker.started < 10
            delay = min(30.0, 2.0 ** min(worker.restarts, 5)) if quick else 0.0
            if time.monotonic() - worker.started >= delay:
                worker.restarts += 1
                self.start(worker)

    def stop(self) -> None:
        """SIGTERM every worker, wait for all of them, SIGKILL any that linger."""
        procs = [w.proc for w in self.workers if w.proc is not None and w.proc.poll() is None]
        for proc in procs:
            proc.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker pid %d did not stop within %.0f s; killing it", proc.pid, STOP_TIMEOUT)
                proc.kill()
                proc.wait()
        for worker in self.workers:
            worker.state = "stopped"
        self.save()

    def save(self) -> None:
        """Write workers.json atomically (the workers' /healthz reads it)."""
        with self._lock:
            state = {"supervisor_pid": os.getpid(), "port": self.port, "workers": [
                {"index": w.index, "pid": w.proc.pid if w.proc else None, "state": w.state, "restarts": w.restarts}
                for w in self.workers]}
            path = self.data_dir / STATE_FILE
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(state))
            os.replace(tmp, path)


def _reserve_port(host: str, port: int) -> tuple[int, socket.socket | None]:
    """The port the workers share: `port`, or for 0 a free one held (bound, never listening) by the supervisor,
    so nothing else takes it while a worker restarts."""
    if port:
        return port, None
    family = socket.getaddrinfo(host or None, 0, type=socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, 0))
    return int(sock.getsockname()[1]), sock


def _child_command(argv: list[str], port: int) -> list[str]:
    """The worker's command: this same `serve` command line, with one worker, the shared port, and this
    process as the parent to watch (a killed supervisor leaves no workers behind)."""
    program = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "server"]
    return [*program, *argv, "--workers", "1", "--port", str(port), "--parent-pid", str(os.getpid())]


def _parent_alive(pid: int | None, created: float | None) -> bool:
    if pid is None:
        return True
    import psutil

    try:
        parent = psutil.Process(pid)
        return parent.status() != psutil.STATUS_ZOMBIE and parent.create_time() == created
    except psutil.Error:
        return False


def supervise(cfg: Config, argv: list[str], count: int, parent_pid: int | None = None) -> int:
    """Run `count` workers until SIGTERM/SIGINT (or the end of `parent_pid`); returns the exit code."""
    from .db.embedded import open_database

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    created = None
    if parent_pid is not None:
        import psutil
        try:
            created = psutil.Process(parent_pid).create_time()
        except psutil.Error:
            return 0
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    location, embedded = open_database(cfg.database_url, cfg.data_dir)
    env["CLINIC_DATABASE_URL"] = location.url  # the environment, not argv: `ps` would show its password
    pool: _Pool | None = None
    try:
        if cfg.secret is None:
            load_or_create_secret(cfg.data_dir)  # before any worker, so all of them read the same one
        port, reservation = _reserve_port(cfg.host, cfg.port)
        pool = _Pool(_child_command(argv, port), env, cfg.data_dir, count, port)
        first, rest = pool.workers[0], pool.workers[1:]
        pool.start(first)  # alone: it applies migrations and seeds the demo clinic
        if not pool.wait_ready(first):
            log.error("worker 0 did not start; see its messages above")
            return 1
        for worker in rest:
            pool.start(worker)
        for worker in rest:  # worker 0 proved the configuration: one that fails now is restarted below
            pool.wait_ready(worker)
        print(f"{LISTENING} {'wss' if cfg.tls else 'ws'}://{cfg.host}:{port}/ws ({count} workers, pids "
              f"{', '.join(str(w.proc.pid) for w in pool.workers if w.proc)})", flush=True)
        while not stop.wait(0.5):
            if not _parent_alive(parent_pid, created):
                log.warning("the process that started this server (%s) has ended; stopping", parent_pid)
                break
            pool.replace_dead()
        if reservation is not None:
            reservation.close()
        return 0
    finally:
        if pool is not None:
            pool.stop()
        if embedded is not None:
            embedded.stop()
