"""The fault suite's shared parts: its counters (printed at the end of the run) and a server factory.

Run it alone with `pytest tests/faults`; CI runs it with everything else. The summary line
(`fault suite: faults injected N, ...`) is what docs/RELIABILITY.md quotes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.counters import FAULTS, SOAK
from tests.server_process import ServerProcess


def _raise_open_file_limit(wanted: int = 8192) -> None:
    """1,000 clients need ~2,000 sockets here and 1,000 in the server (which inherits this limit)."""
    try:
        import resource
    except ImportError:  # Windows: no such limit
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


_raise_open_file_limit()


SOAK_SECONDS = 120.0  # CI's soak; `--soak-seconds 1800` for a long one


def _soak_seconds(config) -> float:
    """The soak's length; the default when this conftest was loaded after the command line was read."""
    return float(config.getoption("--soak-seconds", default=SOAK_SECONDS))


def pytest_collection_modifyitems(config, items) -> None:
    """Give the soak the time it was asked for (the suite's 300 s timeout is for ordinary tests)."""
    for item in items:
        if "soak_seconds" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.timeout(_soak_seconds(config) + 420))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if FAULTS.touched:
        terminalreporter.write_line(FAULTS.summary("fault suite"))
    if SOAK.touched:
        terminalreporter.write_line(SOAK.summary("fault soak"))


@pytest.fixture
def soak_seconds(request) -> float:
    """`--soak-seconds`: how long the soak injects faults."""
    return _soak_seconds(request.config)


@pytest.fixture
def make_server(database_url: str, tmp_path: Path) -> Iterator:
    """Start servers on the test's fresh demo database (`extra_env` per server); all stopped afterwards."""
    started: list[ServerProcess] = []

    def make(extra_env: dict[str, str] | None = None, name: str = "server", url: str | None = None) -> ServerProcess:
        env = {"CLINIC_WRITES_PER_MINUTE": "1000000", "CLINIC_HEARTBEAT_SECONDS": "1",
               "CLINIC_MAX_FUTURE_BOOKINGS": "100000"}
        env.update(extra_env or {})
        proc = ServerProcess(url or database_url, tmp_path / f"{name}-data", tmp_path / f"{name}.log", extra_env=env)
        proc.start()
        started.append(proc)
        return proc

    try:
        yield make
    finally:
        for proc in started:
            proc.stop()
