"""The embedded PostgreSQL is locked down: its password, its private socket folder, no TCP, 0600 backups.

Each test attacks a separate cluster in a long data path (long enough that the socket cannot live in the
data folder, the case where it used to land in a world-writable folder), under parents that must keep
their modes. The other-OS-user checks need root (to become `nobody`) and are skipped, saying so, without it.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import asyncpg
import psutil
import pytest

from server.db.backup import backup
from server.db.embedded import PASSWORD_FILE, RUN_USER, DatabaseLocation, EmbeddedPostgres, pg_binary
from tests.faults.counters import SECURITY

AS_ROOT = os.name != "nt" and os.geteuid() == 0


@dataclass
class Cluster:
    data_dir: Path
    location: DatabaseLocation
    socket_dir: Path
    parent_modes: dict[Path, int]  # every folder above the data folder, as it was before the first start


def _modes_above(path: Path) -> dict[Path, int]:
    return {p: stat.S_IMODE(p.stat().st_mode) for p in path.parents}


def _socket_dir(location: DatabaseLocation) -> Path:
    return Path(dict(parse_qsl(urlsplit(location.url).query))["host"])


def _without_password(location: DatabaseLocation, password: str | None = None) -> str:
    parts = urlsplit(location.url)
    user = "postgres" if password is None else f"postgres:{password}"
    return parts._replace(netloc=f"{user}@").geturl()


async def _connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(url, passfile="/nonexistent/.pgpass")  # no ~/.pgpass fallback


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A cluster of its own, 90-odd characters deep, under folders others may pass through but not list."""
    root = Path(tempfile.mkdtemp(prefix="clinic-sec-pg-"))
    data_dir = root / ("long-folder-name-" * 4) / "data"
    data_dir.parent.mkdir()
    for folder in (root, data_dir.parent):
        folder.chmod(0o711)
    parent_modes = _modes_above(data_dir)
    embedded = EmbeddedPostgres(data_dir)
    location = embedded.start()
    try:
        yield Cluster(data_dir, location, _socket_dir(location), parent_modes)
    finally:
        embedded.stop()
        shutil.rmtree(root, ignore_errors=True)


async def test_connections_without_the_password_are_refused_and_nothing_listens_on_tcp(
        cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over its socket, no password or a wrong one is refused; the right one works; no TCP port is open."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    for url in (_without_password(cluster.location), _without_password(cluster.location, "guess")):
        with pytest.raises(asyncpg.InvalidPasswordError):
            await _connect(url)
    SECURITY.add(bad_inputs=2)
    conn = await _connect(cluster.location.url)
    try:
        assert await conn.fetchval("SHOW listen_addresses") == ""
    finally:
        await conn.close()
    pid = int((cluster.data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
    listening = [c for c in psutil.Process(pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert listening == []


def test_socket_folder_is_private_to_the_cluster_user(cluster: Cluster) -> None:
    """The socket's folder is 0700 and belongs to the OS user postgres runs as: nobody else can even reach it."""
    st = cluster.socket_dir.stat()
    assert stat.S_IMODE(st.st_mode) == 0o700
    assert st.st_uid == (pwd.getpwnam(RUN_USER).pw_uid if AS_ROOT else os.getuid())


def test_password_file_is_private_to_the_server(cluster: Cluster) -> None:
    """The generated password is kept mode 0600, owned by the server's user, beside the token secret."""
    st = (cluster.data_dir / PASSWORD_FILE).stat()
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.getuid()
    assert len((cluster.data_dir / PASSWORD_FILE).read_text().strip()) >= 32


def test_another_os_user_can_neither_connect_nor_run_programs(cluster: Cluster) -> None:
    """`nobody` gets no session, so no `COPY ... FROM PROGRAM`, and cannot read the password."""
    if not AS_ROOT:
        pytest.skip("acting as another OS user needs root")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("this machine has no `nobody` user to attack from")
    drop = tempfile.mkdtemp(prefix="clinic-sec-drop-")
    os.chmod(drop, 0o1777)  # a program run by the cluster could write here
    marker = Path(drop) / "pwned"
    try:
        sql = f"CREATE TEMP TABLE t (line text); COPY t FROM PROGRAM 'touch {marker}'"
        attempt = subprocess.run(
            [str(pg_binary("psql")), "-h", str(cluster.socket_dir), "-U", "postgres", "-d", "postgres",
             "--no-password", "-X", "-c", sql],
            user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[], cwd="/", capture_output=True, text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("PG")}, stdin=subprocess.DEVNULL)
        peek = subprocess.run(["cat", str(cluster.data_dir / PASSWORD_FILE)], user=nobody.pw_uid,
                              group=nobody.pw_gid, extra_groups=[], capture_output=True, text=True)
        SECURITY.add(bad_inputs=2)
        assert attempt.returncode != 0, attempt.stdout
        assert not marker.exists()
        assert peek.returncode != 0 and peek.stdout == ""
    finally:
        shutil.rmtree(drop, ignore_errors=True)


def test_backup_is_written_0600_even_over_an_older_file(cluster: Cluster, tmp_path: Path) -> None:
    """A backup holds password hashes: mode 0600, also when it replaces a world-readable file."""
    out = tmp_path / "clinic.dump"
    out.write_text("an older backup")
    out.chmod(0o644)
    assert backup(cluster.location, out) > 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    fresh = tmp_path / "fresh.dump"
    backup(cluster.location, fresh)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600


def test_folders_above_the_data_folder_keep_their_modes(cluster: Cluster) -> None:
    """Starting the cluster (as root: for an unprivileged postgres) changes no folder outside the data folder."""
    assert _modes_above(cluster.data_dir) == cluster.parent_modes


def test_a_cluster_made_without_a_password_requires_one_from_its_next_start(
        tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A data folder from before passwords (trust in pg_hba.conf, no password set) is locked on the next start."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    root = Path(tempfile.mkdtemp(prefix="clinic-sec-old-"))
    root.chmod(0o711)
    data_dir = root / "data"
    first = EmbeddedPostgres(data_dir)
    location = first.start()
    try:
        async def open_up() -> None:  # what an older version left behind
            conn = await _connect(location.url)
            try:
                await conn.execute("ALTER ROLE postgres PASSWORD NULL")
            finally:
                await conn.close()

        asyncio.run(open_up())
        (data_dir / "pgdata" / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    finally:
        first.stop()
    (data_dir / PASSWORD_FILE).unlink()

    again = EmbeddedPostgres(data_dir)
    location = again.start()
    try:
        async def attack_then_use() -> str:
            with pytest.raises(asyncpg.InvalidPasswordError):
                await _connect(_without_password(location))
            conn = await _connect(location.url)
            try:
                return await conn.fetchval("SELECT current_user")
            finally:
                await conn.close()

        assert asyncio.run(attack_then_use()) == "postgres"
        SECURITY.add(bad_inputs=1)
        assert "trust" not in (data_dir / "pgdata" / "pg_hba.conf").read_text()
    finally:
        again.stop()
        shutil.rmtree(root, ignore_errors=True)
