"""Shared fixtures: one embedded PostgreSQL per session, a fresh seeded database per test, a real server.

Nothing here imports Qt: the desktop tests have their own conftest.

- `pg_cluster` (session): the embedded cluster's `clinic` database location, or, when
  `CLINIC_TEST_DATABASE_URL` is set, that external PostgreSQL (a role allowed to CREATE DATABASE; CI points
  it at Debian's own PostgreSQL server to prove "any PostgreSQL >= 14").
- `clinic_template` (session): a migrated, demo-seeded database that every test copies.
- `database_url`: a fresh copy (`CREATE DATABASE ... TEMPLATE clinic_template`), dropped afterwards.
- `server`: `python -m server serve` on a free port against that database (a `ServerProcess`).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # `tests.helpers` and `server` importable under plain `pytest` too
    sys.path.insert(0, str(REPO_ROOT))

from server.db.embedded import DatabaseLocation, EmbeddedPostgres
from tests.helpers import make_world_reachable

TEMPLATE_DB = "clinic_template"


def pytest_addoption(parser) -> None:
    # Here, not in tests/faults/conftest.py, so that `pytest --soak-seconds N` works from the top too.
    parser.addoption("--soak-seconds", type=float, default=120.0,
                     help="how long the fault soak injects faults (tests/faults/test_fault_soak.py; default 120)")

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a private loop in a private thread.

    Sync fixtures use this so they never touch (or collide with) pytest-asyncio's session loop.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="conftest-async", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def drop_database(admin_url: str, name: str) -> None:
    """Drop a database, terminating its backends first. Never raises."""
    try:
        conn = await asyncpg.connect(admin_url)
    except Exception:
        return
    try:
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
        except Exception:
            pass
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
        except Exception:
            try:
                await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}")
            except Exception:
                pass
    finally:
        await conn.close()


# --------------------------------------------------------------------------- database


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[DatabaseLocation]:
    """The embedded PostgreSQL cluster of the session; yields the location of its `clinic` database.

    It lives in a folder of its own, not under pytest's basetemp: pytest deletes old basetemps when
    other pytest runs start on the same machine, which would pull the data out from under us.
    """
    import shutil
    import tempfile

    external = os.environ.get("CLINIC_TEST_DATABASE_URL")
    if external:
        yield DatabaseLocation(external)
        return
    data_dir = Path(tempfile.mkdtemp(prefix="clinic-test-pg-"))
    make_world_reachable(data_dir)
    embedded = EmbeddedPostgres(data_dir)
    location = embedded.start()
    try:
        yield location
    finally:
        embedded.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_admin_url(pg_cluster: DatabaseLocation) -> str:
    """URL of the cluster's `postgres` database (for CREATE/DROP DATABASE)."""
    return pg_cluster.with_database("postgres").url


@pytest.fixture(scope="session")
def clinic_template(pg_cluster: DatabaseLocation, pg_admin_url: str) -> DatabaseLocation:
    """A migrated database holding the demo clinic, copied by every test (no connection is left open)."""
    from server.db import migrate
    from server.db.database import Database
    from server.seed import seed_demo

    location = pg_cluster.with_database(TEMPLATE_DB)

    async def create() -> None:
        await drop_database(pg_admin_url, TEMPLATE_DB)
        conn = await asyncpg.connect(pg_admin_url)
        try:
            await conn.execute(f"CREATE DATABASE {quote_ident(TEMPLATE_DB)}")
        finally:
            await conn.close()

    async def seed() -> None:
        db = Database(location)
        try:
            await seed_demo(db)
        finally:
            await db.close()

    run_async(create())
    migrate.upgrade(location)  # Alembic's env runs its own loop: call it from no running loop
    run_async(seed())
    return location


_db_counter = itertools.count(1)


@pytest.fixture
def database_url(clinic_template: DatabaseLocation, pg_admin_url: str) -> Iterator[str]:
    """A fresh copy of the seeded demo database for one test; its libpq URL. Dropped afterwards."""
    name = f"test_{os.getpid()}_{next(_db_counter)}"

    async def create() -> None:
        conn = await asyncpg.connect(pg_admin_url)
        try:
            await conn.execute(f"CREATE DATABASE {quote_ident(name)} TEMPLATE {quote_ident(TEMPLATE_DB)}")
        finally:
            await conn.close()

    run_async(create())
    try:
        yield clinic_template.with_database(name).url
    finally:
        run_async(drop_database(pg_admin_url, name))


@pytest.fixture
def empty_database_url(pg_cluster: DatabaseLocation, pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty database (no schema) for one test; its libpq URL. Dropped afterwards."""
    name = f"empty_{os.getpid()}_{next(_db_counter)}"

    async def create() -> None:
        conn = await asyncpg.connect(pg_admin_url)
        try:
            await conn.execute(f"CREATE DATABASE {quote_ident(name)}")
        finally:
            await conn.close()

    run_async(create())
    try:
        yield pg_cluster.with_database(name).url
    finally:
        run_async(drop_database(pg_admin_url, name))


# --------------------------------------------------------------------------- server


from tests.server_process import ServerProcess  # noqa: E402


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """A running server on a free port against a fresh demo database; always stopped at teardown."""
    proc = ServerProcess(database_url, tmp_path / "data", tmp_path / "server.log")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
