"""The signed-in window: the role's view, an offline banner, toasts and the connection status bar."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings, QSize, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QVBoxLayout, QWidget

from .admin.admin_view import AdminView
from .dentist.dentist_view import DentistView
from .messages import STATUS_LABELS
from .operations import Operations
from .patient.patient_view import PatientView
from .role_view import RoleView
from .session import Session
from .store import Change
from .widgets.connection_indicator import ConnectionIndicator
from .widgets.offline_banner import OfflineBanner
from .widgets.toast import Toast
from .window_geometry import fit_to_screen

__all__ = ["MainWindow"]

_ROLE_TITLES = {"admin": "Front desk", "dentist": "Dentist", "patient": "Patient"}


class MainWindow(QMainWindow):
    """Builds the view for the user's role and keeps the chrome (status, banner, toasts) current."""

    sign_out_requested = Signal()
    closed = Signal()

    def __init__(self, session: Session, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._settings = settings
        self.operations = Operations(session, self)
        clinic = session.store.settings().get("clinic_name") or "DentalCare Connect"
        role = session.role
        self.setWindowTitle(f"{clinic} — {_ROLE_TITLES.get(role, role)}: {session.user.get('name', '')}")
        self.setObjectName("mainWindow")

        self.banner = OfflineBanner()
        self.view: RoleView = self._make_view(role)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addWidget(self.view, 1)
        self.setCentralWidget(central)

        self.indicator = ConnectionIndicator()
        self.user_label = QLabel(f"{session.user.get('name', '')} ({_ROLE_TITLES.get(role, role)})")
        self.statusBar().addWidget(self.indicator)
        self.statusBar().addPermanentWidget(self.user_label)
        self.toast = Toast(self)

        self._add_actions()
        session.state_changed.connect(self._on_session_state_changed)
        session.latency_changed.connect(self._on_session_latency_changed)
        session.store.add_listener(self._on_store_changed)
        self.operations.failed.connect(self._on_operations_failed)
        self.operations.succeeded.connect(self._on_operations_succeeded)
        self._on_session_state_changed(str(session.state))
        self._restore_geometry()

    def _make_view(self, role: str) -> RoleView:
        if role == "admin":
            return AdminView(self.session, self.operations)
        if role == "dentist":
            return DentistView(self.session, self.operations)
        return PatientView(self.session, self.operations)

    def _add_actions(self) -> None:
        menu = self.menuBar().addMenu("&File")
        sign_out = QAction("Sign out", self)
        sign_out.triggered.connect(self.sign_out_requested.emit)
        menu.addAction(sign_out)
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        menu.addAction(quit_action)
        go = self.menuBar().addMenu("&Go")
        for text, shortcut, handler in (
            ("Previous day", "Ctrl+Left", self.view.go_previous_day),
            ("Next day", "Ctrl+Right", self.view.go_next_day),
            ("Today", "Ctrl+T", self.view.go_today),
            ("New appointment", "Ctrl+N", self.view.new_appointment),
        ):
            action = QAction(text, self)
            action.setShortcut(QKeySequence(shortcut))
            action.triggered.connect(handler)
            go.addAction(action)
            self.addAction(action)

    # -- chrome ------------------------------------------------------------------------------

    @property
    def last_toast(self) -> str:
        """The toast text shown last (tests, diagnostics)."""
        return self.toast.last_text

    def show_toast(self, text: str, *, error: bool = False) -> None:
        """Show the outcome of the user's own action at once."""
        self.toast.show_message(text, error=error, seconds=6.0 if error else 4.0)

    def _on_session_state_changed(self, state: str) -> None:
        self.indicator.set_state(state)
        self.banner.set_state(state)
        self.view.set_writable(state == "connected")

    def _on_session_latency_changed(self, milliseconds: float) -> None:
        self.indicator.set_latency(milliseconds)

    def _on_operations_failed(self, text: str) -> None:
        self.show_toast(text, error=True)

    def _on_operations_succeeded(self, text: str) -> None:
        self.show_toast(text)

    def _on_store_changed(self, change: Change) -> None:
        """Toast what matters to this user when someone else changes it (events only, not own results)."""
        if change.kind != "appointment" or change.committed_at is None or change.row is None:
            return
        row, previous = change.row, change.previous
        if row.get("busy"):
            return
        clock = self.session.clock
        who = row.get("patient_name") or "A patient"
        when = clock.format_when(row["start"])
        role = self.session.role
        text = ""
        if change.op == "insert":
            if role == "dentist" and row.get("dentist_id") == self.session.dentist_id:
                text = f"New booking: {who}, {when}"
            elif role == "admin" and row.get("source") in ("patient", "assistant"):
                text = f"New online booking: {who}, {when}"
            elif role == "patient" and row.get("source") != "patient":
                text = f"Booked for you: {when}"
        elif change.op == "update" and previous is not None:
            if previous.get("start") != row.get("start") or previous.get("dentist_id") != row.get("dentist_id"):
                if role == "patient":
                    text = f"Your appointment was moved to {when}"
                elif role == "dentist":
                    text = f"Moved: {who} now {when}"
            elif previous.get("status") != row.get("status") and row.get("status") == "cancelled":
                if role == "patient":
                    text = f"Your appointment on {when} was cancelled"
                elif role == "dentist" and row.get("dentist_id") == self.session.dentist_id:
                    text = f"Cancelled: {who}, {when}"
            elif role == "admin" and previous.get("status") != row.get("status"):
                text = f"{who}: {STATUS_LABELS.get(row.get('status') or '', row.get('status'))}"
        if text:  # others' changes come in bursts: the toast folds them into one message a second
            self.toast.show_news(text)

    # -- geometry ----------------------------------------------------------------------------

    def _restore_geometry(self) -> None:
        """Last session's geometry, or 1280x800, always inside the screen's available area."""
        geometry = self._settings.value("main/geometry") if self._settings is not None else None
        fit_to_screen(self, QSize(1280, 800), geometry if isinstance(geometry, QByteArray) else None)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._settings is not None:
            self._settings.setValue("main/geometry", self.saveGeometry())
        self.session.store.remove_listener(self._on_store_changed)
        self.view.detach()
        self.closed.emit()
        super().closeEvent(event)
