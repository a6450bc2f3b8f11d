"""Sign in: server address, username, password and "remember me" (refresh token in the OS keychain)."""

from __future__ import annotations

import logging

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from websockets.exceptions import InvalidURI

from server.protocol import Reason, RpcError

from ..background_tasks import BackgroundTasks
from ..credential_store import CredentialStore
from ..messages import describe_error
from ..session import Session

__all__ = ["LoginWindow"]

log = logging.getLogger(__name__)

DEFAULT_SERVER = "ws://127.0.0.1:8765/ws"


class LoginWindow(QWidget):
    """Emits `signed_in(session)`; closing it without signing in emits `closed`."""

    signed_in = Signal(object)  # the connected Session
    closed = Signal()

    def __init__(self, settings: QSettings | None = None, credentials: CredentialStore | None = None,
                 *, heartbeat_timeout: float = 15.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self._credentials = credentials or CredentialStore()
        self._heartbeat_timeout = heartbeat_timeout
        self.tasks = BackgroundTasks()
        self._handing_over = False  # closing because signed in, not because the user quit
        self.setWindowTitle("DentalCare Connect — Sign in")
        self.setMinimumWidth(440)

        title = QLabel("DentalCare Connect")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        title.setFont(font)
        subtitle = QLabel("Sign in to your clinic's schedule")
        self.server_edit = QLineEdit(self._setting("login/server", DEFAULT_SERVER))
        self.server_edit.setPlaceholderText(DEFAULT_SERVER)
        self.username_edit = QLineEdit(self._setting("login/username", ""))
        self.username_edit.setPlaceholderText("e.g. frontdesk")
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.remember_check = QCheckBox("Remember me on this computer")
        self.remember_check.setChecked(self._setting("login/remember", "false") == "true")
        self.keychain_label = QLabel("")
        self.keychain_label.setWordWrap(True)
        self.keychain_label.setObjectName("keychainNote")
        if not self._credentials.available:
            # Say so rather than offer a box that silently remembers nothing.
            self.remember_check.setChecked(False)
            self.remember_check.setEnabled(False)
            self.keychain_label.setText("This computer has no system keychain, so your sign-in cannot be "
                                        "remembered: you will be asked for your password each time.")
        self.keychain_label.setVisible(bool(self.keychain_label.text()))
        self.sign_in_button = QPushButton("Sign in")
        self.sign_in_button.setDefault(True)
        self.sign_in_button.setMinimumHeight(34)
        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)
        self.message_label.setObjectName("loginMessage")
        self.hint_label = QLabel("")
        self.hint_label.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Server", self.server_edit)
        form.addRow("Username", self.username_edit)
        form.addRow("Password", self.password_edit)
        form.addRow("", self.remember_check)
        form.addRow("", self.keychain_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 24)
        layout.setSpacing(10)
        layout.addWidget(title)
        layout.addWidget(subtitle)
        layout.addSpacing(8)
        layout.addLayout(form)
        layout.addWidget(self.sign_in_button)
        layout.addWidget(self.message_label)
        layout.addWidget(self.hint_label)
        layout.addStretch(1)

        self.sign_in_button.clicked.connect(self._on_sign_in_button_clicked)
        self.password_edit.returnPressed.connect(self._on_sign_in_button_clicked)
        self.username_edit.returnPressed.connect(self.password_edit.setFocus)

    def _setting(self, key: str, default: str) -> str:
        if self._settings is None:
            return default
        return str(self._settings.value(key, default))

    # -- own API -----------------------------------------------------------------------------

    def set_server(self, url: str) -> None:
        self.server_edit.setText(url)

    def focus_first_empty(self) -> None:
        """Put the cursor where typing starts: after a sign-out that is Password, not Server."""
        for edit in (self.server_edit, self.username_edit, self.password_edit):
            if not edit.text().strip() or edit is self.password_edit:
                edit.setFocus()
                return

    def set_busy(self, text: str) -> None:
        """Show progress (e.g. starting the demo server) with sign-in disabled; empty text re-enables."""
        self.sign_in_button.setEnabled(not text)
        self._show(text)

    def show_hint(self, text: str) -> None:
        self.hint_label.setText(text)

    def show_error(self, text: str) -> None:
        self.sign_in_button.setEnabled(True)
        self._show(text, error=True)

    def _show(self, text: str, *, error: bool = False) -> None:
        palette = self.message_label.palette()
        role = QPalette.ColorRole.Highlight if error else QPalette.ColorRole.WindowText
        palette.setColor(QPalette.ColorRole.WindowText, self.palette().color(role))
        self.message_label.setPalette(palette)
        self.message_label.setText(text)

    def try_remembered(self) -> None:
        """Sign in with a remembered refresh token, if the keychain has one for this server and user."""
        server, username = self.server_edit.text().strip(), self.username_edit.text().strip()
        if not (self.remember_check.isChecked() and server and username):
            return
        token = self._credentials.load(server, username)
        if token:
            self.tasks.spawn(self.sign_in(refresh_token=token), name="sign-in")

    async def sign_in(self, *, refresh_token: str | None = None) -> Session | None:
        server = self.server_edit.text().strip() or DEFAULT_SERVER
        username = self.username_edit.text().strip()
        password = self.password_edit.text()
        if refresh_token is None and not (username and password):
            self.show_error("Enter your username and password.")
            return None
        self.set_busy(f"Connecting to {server}…")
        session = Session(server, heartbeat_timeout=self._heartbeat_timeout)
        try:
            if refresh_token is not None:
                await session.sign_in(refresh_token=refresh_token)
            else:
                await session.sign_in(username=username, password=password)
        except RpcError as exc:
            if exc.reason == Reason.UNAUTHENTICATED:
                if refresh_token is not None:
                    self._credentials.forget(server, username)
                    self.show_error("Your remembered sign-in has expired. Please enter your password.")
                else:
                    self.show_error("Wrong username or password.")
            else:
                self.show_error(describe_error(exc))
            return None
        except InvalidURI:
            self.show_error("The server address should look like ws://host:8765/ws.")
            return None
        except Exception as exc:  # noqa: BLE001 - any failure to connect is shown, in words
            log.info("sign-in failed: %r", exc)
            self.show_error(f"Cannot reach the clinic server at {server}. Check the address and that it is running.")
            return None
        self.password_edit.clear()
        self._remember(session, server, username)
        self.set_busy("")
        self._handing_over = True
        self.signed_in.emit(session)
        return session

    def _remember(self, session: Session, server: str, username: str) -> None:
        remember = self.remember_check.isChecked()
        if self._settings is not None:
            self._settings.setValue("login/server", server)
            self._settings.setValue("login/username", username)
            self._settings.setValue("login/remember", "true" if remember else "false")
        if not remember:
            self._credentials.forget(server, username)
            return
        token = session.client.refresh_token
        if token and self._credentials.save(server, username, token):
            # Refresh tokens rotate on every reconnect: keep the keychain's copy current.
            session.refresh_token_changed.connect(lambda new: self._credentials.save(server, username, new))

    def _on_sign_in_button_clicked(self) -> None:
        if self.sign_in_button.isEnabled():
            self.tasks.spawn(self.sign_in(), name="sign-in")

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Enter on the "remember me" box signs in, as it does in the fields (a QWidget has no default button)."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.focusWidget() is self.remember_check:
            self._on_sign_in_button_clicked()
            event.accept()
            return
        super().keyPressEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._handing_over:
            self.closed.emit()
        super().closeEvent(event)


