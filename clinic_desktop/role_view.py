"""What the main window needs from the admin, dentist and patient views."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtWidgets import QWidget

from .operations import Operations
from .session import Session

__all__ = ["RoleView"]

W = TypeVar("W", bound=QWidget)


class RoleView(QWidget):
    """Base of the three role views: write controls follow the connection; shortcuts land here."""

    def __init__(self, session: Session, operations: Operations, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.operations = operations
        self._write_controls: list[QWidget] = []  # disabled while offline (nothing is queued)
        self.writable = True
        # After every write (this view's or a dialog's), re-derive the controls: Operations restores
        # the state they had before the call, which an event arriving meanwhile may have made stale.
        operations.settled.connect(self._on_operations_settled)

    def add_write_control(self, widget: W) -> W:
        self._write_controls.append(widget)
        widget.setEnabled(self.writable)
        return widget

    def set_writable(self, writable: bool) -> None:
        self.writable = writable
        for widget in self._write_controls:
            widget.setEnabled(writable)
        self.update_actions()

    def update_actions(self) -> None:
        """Re-derive which write controls make sense for the current selection (views override)."""

    def _on_operations_settled(self) -> None:
        self.update_actions()

    def go_previous_day(self) -> None:
        self.go_days(-1)

    def go_next_day(self) -> None:
        self.go_days(1)

    def go_days(self, days: int) -> None:
        raise NotImplementedError

    def go_today(self) -> None:
        raise NotImplementedError

    def new_appointment(self) -> None:
        raise NotImplementedError

    def detach(self) -> None:
        """Stop listening to the store (the window is closing)."""
