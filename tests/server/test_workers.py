"""`clinic-server serve --workers 2`: two processes on one port behave as one server, and stop as one.

Which worker holds a connection is read from the kernel (the worker process's own sockets), not guessed:
clients are opened until each worker holds at least one.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import AsyncExitStack
from datetime import date, timedelta
from pathlib import Path

import psutil
import pytest

from tests.helpers import RpcClient, make_world_reachable
from tests.server_process import REPO_ROOT, ServerProcess, free_port

pytestmark = pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="needs SO_REUSEPORT")


class WorkersProcess(ServerProcess):
    """The test harness's server with `--workers 2` (the last --workers on the line wins)."""

    def command(self) -> list[str]:
        return [*super().command(), "--workers", "2"]


def health(url: str) -> dict:
    with urllib.request.urlopen(url + "/healthz", timeout=5) as response:
        return json.loads(response.read())


def worker_pids(url: str) -> list[int]:
    return [w["pid"] for w in health(url)["workers"]]


def holder(pids: list[int], local_port: int) -> int | None:
    """The worker whose process holds the server end of the connection from `local_port`."""
    for pid in pids:
        proc = psutil.Process(pid)
        connections = proc.net_connections("tcp") if hasattr(proc, "net_connections") else proc.connections("tcp")
        if any(c.raddr and c.raddr.port == local_port for c in connections):
            return pid
    return None


def gone(pids: list[int], timeout: float = 20.0) -> bool:
    """Whether every pid has exited (zombies count as gone: their parent is reaped separately) within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def workers(database_url: str, tmp_path: Path) -> Iterator[WorkersProcess]:
    proc = WorkersProcess(database_url, tmp_path / "data", tmp_path / "server.log")
    proc.start()  # returns once one worker answers
    try:
        deadline = time.monotonic() + 60
        while health(proc.http_url).get("workers_running") != 2:
            assert time.monotonic() < deadline, proc.log_text()
            time.sleep(0.1)
        yield proc
    finally:
        proc.stop()


async def _clients_on_both(url: str, pids: list[int], stack: AsyncExitStack) -> dict[int, RpcClient]:
    """Signed-in clients (front desk), opened until each worker holds one; {worker pid: client}."""
    held: dict[int, RpcClient] = {}
    for _ in range(200):
        client = await stack.enter_async_context(RpcClient(url))
        await client.login("frontdesk")
        assert client.ws is not None
        pid = holder(pids, client.ws.local_address[1])
        assert pid is not None, "no worker holds this connection"
        held.setdefault(pid, client)
        if len(held) == len(pids):
            return held
    raise AssertionError(f"200 connections all went to {list(held)}")


async def test_a_booking_through_one_worker_reaches_clients_on_the_other(workers: WorkersProcess) -> None:
    """Connections spread over both workers; a booking made on one is a sync.event on the other's client."""
    pids = worker_pids(workers.http_url)
    assert len(set(pids)) == 2
    async with AsyncExitStack() as stack:
        held = await _clients_on_both(workers.ws_url, pids, stack)
        writer, watcher = held[pids[0]], held[pids[1]]
        await watcher.subscribe(since=(await watcher.subscribe())["seq"])
        start = date.today() + timedelta(days=8)
        slot = (await writer.call("slots.find", type_id=1, dentist_id=1,
                                  **{"from": start.isoformat(), "to": (start + timedelta(days=7)).isoformat()}))[0]
        booked = await writer.call("appointments.create", dentist_id=1, type_id=1, patient_id=1, start=slot["start"])
        events = await watcher.events_until(lambda e: e["entity"] == "appointment" and e["id"] == booked["id"], 10)
        assert events[-1]["data"]["start"] == booked["start"]
    both = health(workers.http_url)
    assert both["workers_running"] == 2 and both["status"] == "ok"


def test_sigterm_stops_every_worker_and_the_embedded_database(tmp_path: Path) -> None:
    """With the embedded database: one PostgreSQL for both workers; SIGTERM to the parent ends all of them."""
    port = free_port()
    make_world_reachable(tmp_path / "data")
    env = dict(os.environ, CLINIC_LOG_LEVEL="WARNING")
    env.pop("CLINIC_DATABASE_URL", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    log = open(tmp_path / "server.log", "wb")
    parent = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--workers", "2", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(tmp_path / "data")], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(REPO_ROOT))
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert parent.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if health(url).get("workers_running") == 2:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.2)
        pids = worker_pids(url)
        postmaster = int((tmp_path / "data" / "pgdata" / "postmaster.pid").read_text().split()[0])
        postgres = [postmaster, *(c.pid for c in psutil.Process(postmaster).children(recursive=True))]
        assert {p.pid for p in psutil.Process(parent.pid).children()} >= set(pids)
        assert [h.get("database") for h in (health(url), health(url))] == ["ok", "ok"]

        parent.send_signal(signal.SIGTERM)
        assert parent.wait(60) == 0
        assert gone([*pids, *postgres]), "a worker or a PostgreSQL process outlived the server"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        log.close()


async def test_a_killed_worker_is_replaced(workers: WorkersProcess) -> None:
    """SIGKILL one worker: the supervisor starts another in its place, and both serve connections again."""
    before = worker_pids(workers.http_url)
    os.kill(before[1], signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        try:
            state = health(workers.http_url)
        except OSError:  # a connection the kernel had queued for the killed worker is reset: ask again
            assert time.monotonic() < deadline
            time.sleep(0.2)
            continue
        replaced = state["workers"][1]
        if replaced["pid"] != before[1] and replaced["state"] == "running":
            break
        assert time.monotonic() < deadline, state
        time.sleep(0.2)
    assert replaced["restarts"] == 1 and state["workers"][0]["pid"] == before[0]
    assert gone([before[1]])
    after = worker_pids(workers.http_url)
    async with AsyncExitStack() as stack:
        held = await _clients_on_both(workers.ws_url, after, stack)
        assert set(held) == set(after)
        for client in held.values():
            assert (await client.call("appointments.list")) is not None
