"""Backups of the clinic database: `pg_dump` / `pg_restore` (custom format) from the embedded binaries.

A backup is one file that `clinic-server restore` turns back into a working database in a new data
directory (or an empty external database): appointments, users and their password hashes, the whole
change_log with its seqs, Alembic's version. It is written to a temporary name and renamed when
complete, so a failed backup never leaves a file that looks good; a restore runs in one transaction,
so a failed restore leaves nothing half-written.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .embedded import DatabaseLocation, pg_binary

__all__ = ["BackupError", "DatabaseSummary", "backup", "check_backup", "check_destination", "restore", "summary"]

# Tables a DentalCare Connect backup must hold; a dump of some other database is refused.
REQUIRED_TABLES = ("appointments", "users", "change_log", "alembic_version")
# A restored feed is another history: a new epoch sends every client that held the old one to a
# snapshot. A backup from before the epoch existed gets one from its migration instead.
RENEW_FEED_EPOCH = ("DO $$ BEGIN IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'public' "
                    "AND table_name = 'change_log_state' AND column_name = 'epoch') THEN "
                    "UPDATE change_log_state SET epoch = gen_random_uuid(); END IF; END $$")


class BackupError(Exception):
    """An operator-facing problem (wrong path, not a backup, database not empty); the message says what to do."""


@dataclass(frozen=True)
class DatabaseSummary:
    """What an IT person checks after a backup or a restore drill."""

    appointments: int
    users: int
    last_seq: int

    def __str__(self) -> str:
        return f"{self.appointments} appointments, {self.users} users, change log up to seq {self.last_seq}"


def _run(args: list[str], location: DatabaseLocation | None = None) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL program; the password, if any, goes through its environment, never its arguments."""
    env = location.libpq_env() if location is not None else None
    return subprocess.run(args, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env)


def _psql_value(location: DatabaseLocation, sql: str) -> str:
    result = _run([str(pg_binary("psql")), *location.libpq_args(), "-d", location.database, "-XtAc", sql], location)
    if result.returncode != 0:
        raise BackupError(f"cannot query the database {location.database}: {_last_line(result.stderr)}")
    return result.stdout.strip()


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no message)"


def summary(location: DatabaseLocation) -> DatabaseSummary:
    """Counts of the rows that matter, to print after a backup or a restore."""
    values = _psql_value(location, "SELECT (SELECT count(*) FROM appointments) || ' ' || (SELECT count(*) FROM users)"
                                   " || ' ' || (SELECT coalesce(max(seq), 0) FROM change_log)").split()
    return DatabaseSummary(int(values[0]), int(values[1]), int(values[2]))


def check_destination(out: Path) -> None:
    """Refuse a backup path that is a folder or lies in a folder that does not exist."""
    out = Path(out).expanduser()
    if out.is_dir():
        raise BackupError(f"{out} is a folder; give the backup file's name, e.g. {out / 'clinic.dump'}")
    if not out.parent.is_dir():
        raise BackupError(f"the folder {out.parent} does not exist")


def backup(location: DatabaseLocation, out: Path) -> int:
    """Dump the database to `out` (custom format, mode 0600: it holds password hashes); returns its size in bytes."""
    out = Path(out).expanduser()
    check_destination(out)
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # pg_dump writes into it, keeping 0600
    result = _run([str(pg_binary("pg_dump")), *location.libpq_args(), "-d", location.database,
                   "--format=custom", "--file", str(partial)], location)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {_last_line(result.stderr)}")
    partial.chmod(0o600)
    os.replace(partial, out)  # a new file: an older backup's wider mode does not carry over
    return out.stat().st_size


def check_backup(path: Path) -> None:
    """Refuse a missing file, a file that is not a pg_dump archive, or a dump of another database."""
    path = Path(path).expanduser()
    if not path.exists():
        raise BackupError(f"the backup file {path} does not exist")
    if not path.is_file():
        raise BackupError(f"{path} is not a file")
    result = _run([str(pg_binary("pg_restore")), "--list", str(path)])
    if result.returncode != 0:
        raise BackupError(f"{path} is not a usable backup ({_last_line(result.stderr)})")
    listed = {line.split()[-2] for line in result.stdout.splitlines()
              if " TABLE " in line and not line.startswith(";") and len(line.split()) >= 2}
    missing = [t for t in REQUIRED_TABLES if t not in listed]
    if missing:
        raise BackupError(f"{path} is a PostgreSQL backup but not of a DentalCare Connect database "
                          f"(no {', '.join(missing)} table)")


# Settings that pg_dump 18 writes into every dump's preamble and that older servers do not know.
_NEWER_SETTINGS = ("SET transaction_timeout",)


def _restore_through_psql(path: Path, location: DatabaseLocation) -> subprocess.CompletedProcess[str]:
    """Restore into a PostgreSQL older than 17 (an IT department's own server, say 15).

    The dump is read by the embedded pg_restore 18 as SQL, the preamble's settings that an older server
    does not know are left out, and psql runs the rest in one transaction that stops at the first error.
    """
    env = location.libpq_env()
    reader = subprocess.Popen([str(pg_binary("pg_restore")), "--no-owner", "--no-privileges", "-f", "-", str(path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    writer = subprocess.Popen([str(pg_binary("psql")), *location.libpq_args(), "-d", location.database, "-X", "-q",
                               "--single-transaction", "-v", "ON_ERROR_STOP=1", "-f", "-"],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert reader.stdout is not None and writer.stdin is not None
    try:
        for line in reader.stdout:
            if not line.startswith(tuple(s.encode() for s in _NEWER_SETTINGS)):
                writer.stdin.write(line)
        writer.stdin.close()
    except BrokenPipeError:
        pass  # psql stopped at an error; its message says which
    reader_err = reader.stderr.read().decode(errors="replace") if reader.stderr else ""
    reader.wait()
    writer_err = writer.stderr.read().decode(errors="replace") if writer.stderr else ""
    writer.wait()
    code = reader.returncode or writer.returncode
    return subprocess.CompletedProcess(reader.args, code, "", writer_err or reader_err)


def restore(path: Path, location: DatabaseLocation) -> None:
    """Restore a backup into an empty database, in one transaction (all or nothing)."""
    check_backup(path)
    tables = int(_psql_value(location, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"))
    if tables:
        raise BackupError(f"the database {location.database} is not empty ({tables} tables); restore into a new "
                          "--data-dir, or drop and recreate the database first")
    if int(_psql_value(location, "SHOW server_version_num")) >= 170000:
        result = _run([str(pg_binary("pg_restore")), *location.libpq_args(), "-d", location.database,
                       "--single-transaction", "--exit-on-error", "--no-owner", "--no-privileges", str(path)], location)
    else:
        result = _restore_through_psql(path, location)
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed, nothing was restored: {_last_line(result.stderr)}")
    _psql_value(location, RENEW_FEED_EPOCH)  # seqs of the restored feed mean something else to open clients
