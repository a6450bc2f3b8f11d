"""Packaging tests: the `bundle` marker's skip, and the command-line and process helpers they share.

`@pytest.mark.bundle` tests build the PyInstaller bundle (a minute or more and PyInstaller itself):
they run only when CLINIC_TEST_BUNDLE=1, which `.ci/run` sets, so a plain `pytest` skips them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import make_world_reachable
from tests.server_process import REPO_ROOT, ServerProcess


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("CLINIC_TEST_BUNDLE") == "1":
        return
    skip = pytest.mark.skip(reason="builds the PyInstaller bundle: set CLINIC_TEST_BUNDLE=1 (CI does)")
    for item in items:
        if "bundle" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def work_dir() -> Iterator[Path]:
    """A scratch folder the unprivileged embedded-PostgreSQL user can reach, outside pytest's basetemp.

    Other pytest runs on the same machine reset `/tmp/pytest-of-USER` to mode 0700 and prune old
    basetemps, which would cut a running embedded cluster off from its data (the session cluster in
    tests/conftest.py lives outside basetemp for the same reason).
    """
    path = Path(tempfile.mkdtemp(prefix="clinic-packaging-"))
    make_world_reachable(path)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def clinic_server(*args: str | Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run `clinic-server ARGS` from this checkout as an operator would; output captured as text."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.pop("CLINIC_DATABASE_URL", None)
    env.pop("CLINIC_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "server", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO_ROOT, env=env, timeout=timeout, stdin=subprocess.DEVNULL)


class EmbeddedServerProcess(ServerProcess):
    """A real server on its own embedded PostgreSQL in `data_dir` (no --database-url), as a clinic PC runs it."""

    START_TIMEOUT = 120.0  # the first start of a data directory runs initdb

    def __init__(self, data_dir: Path, log_path: Path, **kwargs) -> None:
        super().__init__("", data_dir, log_path, **kwargs)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "server", "serve", "--host", self.host, "--port", str(self.port),
                "--data-dir", str(self.data_dir)]

    def database_url_of_cluster(self) -> str:
        """The libpq URL of the `clinic` database of the running embedded cluster (its unix socket folder)."""
        lines = (self.data_dir / "pgdata" / "postmaster.pid").read_text().splitlines()
        return f"postgresql://postgres:@/clinic?host={lines[4]}"  # line 5: the socket directory
