"""`clinic-desktop`: parse the flags, start Qt on a qasync loop, run the application controller.

Two modes never open a window: `--self-test` (clinic_desktop/self_test.py) and `--run-server ARGS`,
which is `clinic-server ARGS` from the same program, so a packaged build can run its bundled server.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from .build_info import bundle_root, package_version

__all__ = ["main"]

ICON = (bundle_root() or Path(__file__).resolve().parent.parent) / "resources" / "icons" / "dentalcare.svg"
RUN_SERVER = "--run-server"  # first argument only: the rest goes to clinic-server's own parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="clinic-desktop", description="DentalCare Connect desktop client")
    parser.add_argument("--server", metavar="URL", help="sync server address, e.g. ws://clinic.local:8765/ws")
    parser.add_argument("--demo", action="store_true",
                        help="start a bundled server with demo data on an embedded database, then sign in to it")
    parser.add_argument("--self-test", action="store_true",
                        help="start the bundled server on a temporary database, sign in, book, wait for the "
                             "booking's event, print what happened and exit (0 = it works)")
    parser.add_argument("--version", action="version", version=f"clinic-desktop {package_version()}")
    parser.add_argument("--debug", action="store_true", help="log details to stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [RUN_SERVER]:
        from server.cli import main as server_main

        return server_main(argv[1:])
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.self_test:
        from .self_test import run_self_test

        return run_self_test()
    # Qt is imported only now, so --version and --help work without a display.
    import qasync
    from PySide6.QtWidgets import QApplication

    from .application_controller import ApplicationController
    from .gui_thread_gc import GuiThreadGarbageCollector

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("DentalCare Connect")
    app.setOrganizationName("DentalCare")
    app.setApplicationVersion(package_version())
    if ICON.exists():
        from PySide6.QtGui import QIcon

        app.setWindowIcon(QIcon(str(ICON)))
    collector = GuiThreadGarbageCollector(app)  # Qt objects must die on the GUI thread (see gui_thread_gc)
    collector.start()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    controller = ApplicationController(server_url=args.server, demo=args.demo)
    try:
        with loop:
            loop.run_until_complete(controller.run())
    except KeyboardInterrupt:
        return 130
    finally:
        collector.stop()
    return 0
