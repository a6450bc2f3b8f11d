"""The security suite's counters, printed at the end of the run, and its server (a log file at DEBUG level)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.counters import SECURITY
from tests.server_process import ServerProcess


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if SECURITY.touched:
        terminalreporter.write_line(SECURITY.summary("security suite") + "")


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server logging everything it would ever log (DEBUG), so the log-secrecy checks see the worst case."""
    proc = ServerProcess(database_url, tmp_path / "data", tmp_path / "server.log",
                         extra_env={"CLINIC_LOG_LEVEL": "DEBUG", "CLINIC_HEARTBEAT_SECONDS": "1"})
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
