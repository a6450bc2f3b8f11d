"""`clinic-server`: serve (default), migrate, create-user, seed-demo, prune."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import signal
import sys
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
    cfg = _config(args)
    logging.basicConfig(level=cfg.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    if args.command == "serve":
        return asyncio.run(_serve(cfg))
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
            from .seed import seed_demo
            await seed_demo(db)
            print("demo clinic loaded: users frontdesk, drsmith, drpatel, alice, bob (password 'demo')")

        return asyncio.run(_with_db(cfg, _seed))
    return 2


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


async def _serve(cfg: Config) -> int:
    from .app import ClinicServer

    server = ClinicServer(cfg)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        await server.start()
        print(f"clinic-server listening on {'wss' if cfg.tls else 'ws'}://{cfg.host}:{server.port}/ws", flush=True)
        await stop.wait()
    finally:
        await server.close()
    return 0
