"""`clinic-server` as an operator runs it: one-shot commands, and a server on its own embedded database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from tests.server_process import REPO_ROOT, ServerProcess


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
        """The libpq URL of the `clinic` database of the running embedded cluster (its socket folder, its password)."""
        lines = (self.data_dir / "pgdata" / "postmaster.pid").read_text().splitlines()
        password = quote((self.data_dir / "postgres.password").read_text().strip(), safe="")
        return f"postgresql://postgres:{password}@/clinic?host={lines[4]}"  # line 5: the socket directory
