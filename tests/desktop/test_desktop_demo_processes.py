"""`--demo` leaves no process behind and survives its own server's death.

Real parts: the app's DemoServer runs the real `clinic-server serve --demo` on an embedded PostgreSQL
in a throw-away data folder; the app itself runs in-process (restart test) or as a subprocess that
the test SIGKILLs (orphan test). Waits poll for pids and states, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from clinic_desktop.application_controller import ApplicationController
from clinic_desktop.sync import ConnectionState
from qt_async import until
from tests.helpers import make_world_reachable

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo_data(monkeypatch):
    """A data folder for the demo server (outside pytest's basetemp, reachable by the postgres user)."""
    root = Path(tempfile.mkdtemp(prefix="clinic-demo-app-"))
    data_dir = root / "data"
    make_world_reachable(data_dir)
    monkeypatch.setenv("CLINIC_DATA_DIR", str(data_dir))
    monkeypatch.setenv("CLINIC_LOG_LEVEL", "WARNING")
    monkeypatch.delenv("CLINIC_DATABASE_URL", raising=False)
    yield data_dir
    postgres = _postmaster_pid(data_dir)
    if postgres is not None and not _gone(postgres):  # a failed test must not leave its cluster running
        subprocess.run([sys.executable, "-c", "import sys; from server.db.embedded import pg_binary;"
                        "import subprocess; subprocess.run([str(pg_binary('pg_ctl')), '-D', sys.argv[1], "
                        "'-m', 'immediate', 'stop'])", str(data_dir / "pgdata")], cwd=str(REPO), check=False)
    shutil.rmtree(root, ignore_errors=True)


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        first = (data_dir / "pgdata" / "postmaster.pid").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    return int(first) if first.strip().isdigit() else None


def _gone(pid: int) -> bool:
    """Not running any more (a zombie waiting for a reaper counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def test_the_app_restarts_its_demo_server_when_it_dies(qt_async, tmp_path, demo_data) -> None:
    """SIGKILL the demo server: the app says so, starts it again, reconnects; on quit server and database stop."""
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)

    async def scenario() -> None:
        controller = ApplicationController(demo=True, settings=settings)
        run = asyncio.ensure_future(controller.run())
        await until(lambda: controller.login_window is not None
                    and controller.login_window.server_edit.text() == controller.demo.ws_url
                    and controller.login_window.sign_in_button.isEnabled(), timeout=240, what="the demo server")
        login = controller.login_window
        login.username_edit.setText("frontdesk")
        login.password_edit.setText("demo")
        login.sign_in_button.click()
        await until(lambda: controller.main_window is not None, what="the main window")
        window = controller.main_window
        first = controller.demo.process.pid
        postgres = _postmaster_pid(demo_data)
        assert postgres is not None

        os.kill(first, signal.SIGKILL)
        await until(lambda: window.last_toast.startswith("The demo server stopped unexpectedly"),
                    what="the app to notice its server's death")
        await until(lambda: window.last_toast == "The demo server is running again.", timeout=120,
                    what="the restarted server")
        assert controller.demo.process.pid != first
        await until(lambda: window.session.state == ConnectionState.CONNECTED, timeout=30, what="reconnection")
        assert not window.banner.isVisible()
        # The killed server's PostgreSQL was adopted, its stale handle ignored: one cluster, still the same.
        assert _postmaster_pid(demo_data) == postgres

        window.close()
        await asyncio.wait_for(run, 60)
        assert controller.demo.process is None
        await until(lambda: _gone(postgres), timeout=60, what="PostgreSQL to stop on quit")

    try:
        qt_async.run(scenario(), timeout=400)
    finally:
        QApplication.setQuitOnLastWindowClosed(True)


def _demo_children(app: psutil.Process) -> tuple[psutil.Process, int] | None:
    """The app's demo server and its port, once the server answers /healthz."""
    for child in app.children(recursive=True):
        try:
            cmdline = child.cmdline()
        except psutil.Error:
            continue
        if "--parent-pid" in cmdline and "--port" in cmdline:
            port = int(cmdline[cmdline.index("--port") + 1])
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return child, port
            except OSError:
                return None
    return None


def test_killing_the_app_stops_its_server_and_database(tmp_path, demo_data) -> None:
    """SIGKILL `clinic-desktop --demo`: its server (parent-pid watchdog) and then PostgreSQL end shortly after."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    app = subprocess.Popen([sys.executable, "-m", "clinic_desktop", "--demo"], cwd=str(REPO), env=env,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server: psutil.Process | None = None
    try:
        deadline = time.monotonic() + 240
        found = None
        while found is None and time.monotonic() < deadline and app.poll() is None:
            found = _demo_children(psutil.Process(app.pid))
            if found is None:
                time.sleep(0.5)
        assert found is not None, "the app's demo server never answered"
        server, _port = found
        postgres = _postmaster_pid(demo_data)
        assert postgres is not None and not _gone(postgres)

        app.kill()
        app.wait(30)
        deadline = time.monotonic() + 60
        while not (_gone(server.pid) and _gone(postgres)) and time.monotonic() < deadline:
            time.sleep(0.25)
        assert _gone(server.pid), "the demo server outlived the app"
        assert _gone(postgres), "PostgreSQL outlived the app"
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
        if server is not None and not _gone(server.pid):  # a failure must not leave the server running
            server.terminate()
            with contextlib.suppress(psutil.Error):
                server.wait(30)
