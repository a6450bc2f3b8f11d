"""The application: flags, and a clean quit that closes the connection and awaits every task."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from clinic_desktop import __version__
from clinic_desktop.app import parse_args
from clinic_desktop.application_controller import ApplicationController
from clinic_desktop.sync import ConnectionState
from qt_async import until
from scripted_server import ScriptedServer


def test_version_flag_prints_without_a_display() -> None:
    """`clinic-desktop --version` answers without starting Qt."""
    result = subprocess.run([sys.executable, "-m", "clinic_desktop", "--version"], capture_output=True, text=True,
                            timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0 and result.stdout.strip() == f"clinic-desktop {__version__}"


def test_flags_parse_server_and_demo() -> None:
    """--server and --demo are understood."""
    args = parse_args(["--server", "ws://clinic:8765/ws", "--demo"])
    assert args.server == "ws://clinic:8765/ws" and args.demo


def test_sign_in_then_quit_closes_connection_and_tasks(qt_async, tmp_path) -> None:
    """Signing in opens the role's window; closing it ends run(), closes the link, leaves no task behind."""
    server = ScriptedServer()
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)

    async def scenario() -> None:
        await server.start()
        controller = ApplicationController(server_url=server.url, settings=settings)
        run = asyncio.ensure_future(controller.run())
        await until(lambda: controller.login_window is not None and controller.login_window.isVisible())
        controller.login_window.username_edit.setText("frontdesk")
        controller.login_window.password_edit.setText("demo")
        controller.login_window.sign_in_button.click()
        await until(lambda: controller.main_window is not None and controller.main_window.isVisible(),
                    what="the main window")
        session = controller.main_window.session
        assert session.state == ConnectionState.CONNECTED
        controller.main_window.close()
        await asyncio.wait_for(run, 20)
        assert session.state == ConnectionState.OFFLINE and len(session.tasks) == 0
        await until(lambda: not server.connections, what="the server to see the close")
        assert settings.value("main/geometry") is not None
        assert settings.value("login/username") == "frontdesk"
        await server.stop()

    try:
        qt_async.run(scenario())
    finally:
        QApplication.setQuitOnLastWindowClosed(True)
