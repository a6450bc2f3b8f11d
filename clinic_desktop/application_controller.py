"""The app's life: login window → signed-in main window → sign out or quit, with clean shutdown."""

from __future__ import annotations

import asyncio
import logging
import time

from PySide6.QtCore import QObject, QSettings, QSize
from PySide6.QtWidgets import QApplication

from .credential_store import CredentialStore
from .demo_server import DemoServer, DemoServerError
from .login.login_window import LoginWindow
from .main_window import MainWindow
from .session import Session
from .window_geometry import fit_to_screen

__all__ = ["ApplicationController"]

log = logging.getLogger(__name__)

DEMO_HINT = "Demo users (password “demo”): frontdesk, drsmith, drpatel, alice, bob."
DEMO_RESTARTS_PER_MINUTE = 3  # beyond this the demo server is left stopped and the user is told


class ApplicationController(QObject):
    """Owns the windows, the session and (with --demo) the bundled server; `run()` returns on quit."""

    def __init__(self, *, server_url: str | None = None, demo: bool = False,
                 settings: QSettings | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # Closing the last window must not stop the loop before the session is closed cleanly.
        QApplication.setQuitOnLastWindowClosed(False)
        self.settings = settings or QSettings("DentalCare", "DentalCare Connect")
        self.credentials = CredentialStore()
        self.server_url = server_url
        self.demo = DemoServer() if demo else None
        self.session: Session | None = None
        self.login_window: LoginWindow | None = None
        self.main_window: MainWindow | None = None
        self._quit = asyncio.Event()  # set when the user closes the last window or quits
        self._sign_out_task: asyncio.Task[None] | None = None
        self._restart_task: asyncio.Task[None] | None = None  # bringing a dead demo server back
        self._demo_restarts: list[float] = []  # when (monotonic) it was restarted, for the limit
        if self.demo is not None:
            self.demo.on_exit(self._on_demo_exited)

    async def run(self) -> None:
        """Show the login, run until quit, then close everything in order."""
        self._show_login()
        assert self.login_window is not None
        if self.demo is not None:
            self.login_window.set_busy("Starting the demo clinic server (the first start takes a minute)…")
            self.login_window.show_hint(DEMO_HINT)
            try:
                url = await self.demo.start()
            except (DemoServerError, OSError) as exc:
                self.login_window.show_error(f"The demo server could not start: {exc}")
            else:
                self.login_window.set_server(url)
                self.login_window.username_edit.setText(self.login_window.username_edit.text() or "frontdesk")
                self.login_window.set_busy("")
                self.login_window.password_edit.setFocus()
        elif self.login_window.remember_check.isChecked():
            self.login_window.try_remembered()
        try:
            await self._quit.wait()
        finally:
            await self.shutdown()

    def quit(self) -> None:
        self._quit.set()

    async def shutdown(self) -> None:
        if self._restart_task is not None:
            await asyncio.gather(self._restart_task, return_exceptions=True)
        if self._sign_out_task is not None:
            await asyncio.gather(self._sign_out_task, return_exceptions=True)
        if self.login_window is not None:
            await self.login_window.tasks.close()
        if self.session is not None:
            await self.session.close()  # the views' tasks first, then the connection
            self.session = None
        if self.main_window is not None:
            self.main_window.closed.disconnect(self._on_main_window_closed)
            self.main_window.close()
        if self.demo is not None:
            await self.demo.stop()
        self.settings.sync()

    # -- the demo server ---------------------------------------------------------------------

    def _on_demo_exited(self, code: int, last_words: str) -> None:
        """Our own server died under us: start it again on the same port; the client reconnects by itself."""
        if self._quit.is_set():
            return
        self._restart_task = asyncio.ensure_future(self._restart_demo(code, last_words))

    async def _restart_demo(self, code: int, last_words: str) -> None:
        assert self.demo is not None
        now = time.monotonic()
        self._demo_restarts = [t for t in self._demo_restarts if now - t < 60] + [now]
        why = f" ({last_words})" if last_words else f" (exit code {code})"
        if len(self._demo_restarts) > DEMO_RESTARTS_PER_MINUTE:
            self._tell(f"The demo server keeps stopping{why}. Quit and run the demo again.", error=True)
            return
        self._tell("The demo server stopped unexpectedly; starting it again…", busy=True)
        try:
            await self.demo.start()
        except (DemoServerError, OSError) as exc:
            self._tell(f"The demo server could not be restarted: {exc}. Quit and run the demo again.", error=True)
            return
        self._tell("The demo server is running again.")

    def _tell(self, text: str, *, error: bool = False, busy: bool = False) -> None:
        """Say what happened to the demo server in whichever window is open."""
        if self.main_window is not None:
            self.main_window.show_toast(text, error=error)
        elif self.login_window is not None:
            if error:
                self.login_window.show_error(text)
            else:
                self.login_window.set_busy(text if busy else "")
                if not busy:
                    self.login_window.show_hint(f"{text} {DEMO_HINT}")

    # -- windows -----------------------------------------------------------------------------

    def _show_login(self) -> None:
        window = LoginWindow(self.settings, self.credentials)
        if self.server_url:
            window.set_server(self.server_url)
        window.signed_in.connect(self._on_login_window_signed_in)
        window.closed.connect(self._on_login_window_closed)
        fit_to_screen(window, QSize(480, 420))
        window.show()
        window.focus_first_empty()
        self.login_window = window

    def _on_login_window_signed_in(self, session: Session) -> None:
        self.session = session
        session.session_ended.connect(self._on_session_session_ended)
        window = MainWindow(session, self.settings)
        window.sign_out_requested.connect(self._on_main_window_sign_out_requested)
        window.closed.connect(self._on_main_window_closed)
        window.show()
        self.main_window = window
        if self.login_window is not None:
            self.login_window.close()
            self.login_window.deleteLater()
            self.login_window = None

    def _on_login_window_closed(self) -> None:
        self.quit()

    def _on_main_window_closed(self) -> None:
        self.quit()

    def _on_main_window_sign_out_requested(self) -> None:
        self._sign_out_task = asyncio.ensure_future(self._sign_out("You have been signed out."))

    def _on_session_session_ended(self, _reason: str) -> None:
        self._sign_out_task = asyncio.ensure_future(self._sign_out("Your session has ended. Please sign in again."))

    async def _sign_out(self, message: str) -> None:
        session, self.session = self.session, None
        window, self.main_window = self.main_window, None
        if window is not None:
            window.closed.disconnect(self._on_main_window_closed)
            window.close()
            window.deleteLater()
        if session is not None:
            await session.tasks.close()
            await session.sign_out()
        self._show_login()
        if self.login_window is not None:
            self.login_window.show_error(message)
            if self.demo is not None:
                self.login_window.show_hint(DEMO_HINT)
