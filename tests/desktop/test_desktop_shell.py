"""The app's shell: windows that fit the screen and never grow by themselves, and the sign-in window's manners."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication

from clinic_desktop.application_controller import ApplicationController
from clinic_desktop.credential_store import CredentialStore
from clinic_desktop.login.login_window import LoginWindow
from clinic_desktop.main_window import MainWindow
from clinic_desktop.session import Session
from desktop_factories import make_snapshot
from qt_async import until
from scripted_server import ScriptedServer
from scripted_windows import slot_at

REPO = Path(__file__).resolve().parents[2]

# Opens each role's default window on a 1600x1000 screen at 150 % scaling and prints where it landed.
SCALED_WINDOWS = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/tests/desktop"]
from PySide6.QtWidgets import QApplication
app = QApplication([])
from clinic_desktop.main_window import MainWindow
from clinic_desktop.session import Session
from desktop_factories import make_snapshot
area = app.primaryScreen().availableGeometry()
out = {"screen": [area.x(), area.y(), area.width(), area.height()], "ratio": app.primaryScreen().devicePixelRatio()}
for role, extra in (("admin", {}), ("dentist", {"dentist_id": 1}), ("patient", {"patient_id": 1})):
    session = Session("ws://127.0.0.1:9/ws")
    session.client.user = {"id": 1, "role": role, "name": "Tester", **extra}
    session.store.load_snapshot(make_snapshot(appointments=4), seq=1)
    window = MainWindow(session)
    window.show()
    app.processEvents()
    frame = window.frameGeometry()
    out[role] = [frame.x(), frame.y(), frame.width(), frame.height()]
print(json.dumps(out))
"""


def _offline_window(qtbot, role: str, **user) -> MainWindow:
    """A signed-in window of `role` over a loaded store, never connected (geometry needs no server)."""
    session = Session("ws://127.0.0.1:9/ws")
    session.client.user = {"id": 1, "role": role, "name": "Tester", **user}
    session.store.load_snapshot(make_snapshot(appointments=4), seq=1)
    window = MainWindow(session)
    qtbot.addWidget(window)
    window.show()
    return window


def test_default_windows_fit_a_1600x1000_screen_at_150_percent(tmp_path) -> None:
    """At 1.5x scaling (1067x667 usable) each role's first window lies wholly inside the screen."""
    config = tmp_path / "screen.json"
    config.write_text(json.dumps({"screens": [{"name": "laptop", "x": 0, "y": 0, "width": 1600, "height": 1000,
                                               "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}))
    env = dict(os.environ, QT_QPA_PLATFORM=f"offscreen:configfile={config}", QT_SCALE_FACTOR="1.5")
    result = subprocess.run([sys.executable, "-c", SCALED_WINDOWS, str(REPO)], capture_output=True, text=True,
                            env=env, timeout=120, cwd=str(REPO))
    assert result.returncode == 0, result.stderr
    placed = json.loads(result.stdout.strip().splitlines()[-1])
    assert placed["ratio"] == 1.5
    sx, sy, sw, sh = placed["screen"]
    assert (sw, sh) == (1067, 667)
    for role in ("admin", "dentist", "patient"):
        x, y, w, h = placed[role]
        assert sx <= x and sy <= y and x + w <= sx + sw and y + h <= sy + sh, (role, placed[role], placed["screen"])


def test_offered_slots_do_not_widen_the_patient_window(qtbot) -> None:
    """Six long slot buttons in the assistant's panel leave the patient window's size (inside the screen) alone."""
    window = _offline_window(qtbot, "patient", patient_id=1)
    area = window.screen().availableGeometry()
    qtbot.waitUntil(window.isVisible)
    before = window.frameGeometry()
    assert area.contains(before)
    window.view.chat._show_slots([slot_at(day, 10 + day % 5, 1 + day % 2) for day in range(1, 7)])
    for _ in range(3):  # run the posted layout requests: a growth would happen here
        QApplication.sendPostedEvents()
        QApplication.processEvents()
    after = window.frameGeometry()
    assert after.size() == before.size() and area.contains(after)
    buttons = [window.view.chat.slot_area.findChild(type(window.view.chat.send_button), f"chatSlot{n}") for n in (1, 6)]
    assert all(b is not None and b.isVisible() and "Dr " in b.text() for b in buttons)


class MemoryKeyring(KeyringBackend):
    """A working keychain in memory, used only where a test sets it (never picked by keyring's discovery)."""

    priority = 1  # type: ignore[assignment]
    viable = False  # keyring would otherwise choose this class as every later test's default keychain

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.items.pop((service, username), None)


@pytest.fixture
def keychain():
    """Set the keyring backend for one test, then put the previous one back."""
    previous = keyring.get_keyring()
    yield keyring.set_keyring
    keyring.set_keyring(previous)


def test_remember_me_without_a_keychain_says_so(qtbot, keychain) -> None:
    """With keyring's "fail" backend the box is off and a note says sign-ins cannot be remembered."""
    keychain(fail.Keyring())
    window = LoginWindow(None, CredentialStore())
    qtbot.addWidget(window)
    window.show()
    assert not window.remember_check.isEnabled() and not window.remember_check.isChecked()
    assert window.keychain_label.isVisible() and "no system keychain" in window.keychain_label.text()

    keychain(MemoryKeyring())
    with_keychain = LoginWindow(None, CredentialStore())
    qtbot.addWidget(with_keychain)
    with_keychain.show()
    assert with_keychain.remember_check.isEnabled() and not with_keychain.keychain_label.isVisible()


def test_enter_on_the_remember_box_submits(qt_async, qtbot, keychain) -> None:
    """Return on the focused checkbox signs in as it does in the password field (here: asks for the password)."""
    keychain(MemoryKeyring())
    window = LoginWindow(None, CredentialStore())
    qtbot.addWidget(window)
    window.show()
    window.username_edit.setText("frontdesk")
    window.remember_check.setFocus()

    async def scenario() -> None:
        qtbot.keyClick(window.remember_check, Qt.Key.Key_Return)
        await until(lambda: window.message_label.text() == "Enter your username and password.", what="submission")
        assert not window.remember_check.isChecked()  # Return submits; it does not toggle the box
        await window.tasks.close()

    qt_async.run(scenario())


def test_after_sign_out_the_cursor_is_in_the_password_field(qt_async, tmp_path) -> None:
    """Signing out brings back the login with server and user filled in and the focus on Password."""
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
        await until(lambda: controller.main_window is not None, what="the main window")
        controller.main_window.sign_out_requested.emit()
        await until(lambda: controller.login_window is not None and controller.login_window.isVisible(),
                    what="the login window again")
        login = controller.login_window
        assert login.username_edit.text() == "frontdesk" and login.server_edit.text() == server.url
        assert login.focusWidget() is login.password_edit
        login.close()
        await asyncio.wait_for(run, 20)
        await server.stop()

    try:
        qt_async.run(scenario())
    finally:
        QApplication.setQuitOnLastWindowClosed(True)
