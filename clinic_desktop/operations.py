"""The one way views perform a server call: disable the control, await, re-enable, report failures."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from server.protocol import Reason, RpcError

from .messages import describe_error
from .session import Session
from .sync import OfflineError

__all__ = ["Operations"]

log = logging.getLogger(__name__)

# The methods whose `version_conflict` carries an appointment as `current`.
_APPOINTMENT_CONFLICTS = ("appointments.", "lists.confirm", "lists.unscheduled_resolve")

_OFFLINE_TEXT = "You are offline. Nothing was changed; please try again when the connection is back."


def exc_reason(error: BaseException) -> Reason | None:
    return error.reason if isinstance(error, RpcError) else None


class Operations(QObject):
    """Runs RPCs for views. A failure is reported once, in words, through `failed` or a given reporter."""

    failed = Signal(str)  # a sentence for the user (shown as an error toast by the main window)
    succeeded = Signal(str)  # an optional confirmation sentence
    # A call ended (either way) and its controls are back: views recompute which controls make sense
    # now (RoleView does, for every view), since the state they had before the call may be stale.
    settled = Signal()

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.last_error: str | None = None  # the last failure shown, for tests and diagnostics
        self.conflict_dialog: QWidget | None = None  # the last ConflictDialog shown (tests, diagnostics)

    async def run(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        controls: Iterable[QWidget | None] = (),
        report: Callable[[str], None] | None = None,
        done: str | None = None,
        refusals: Collection[Reason] = (),
        refused: Callable[[RpcError], None] | None = None,
    ) -> Any | None:
        """Call `method`; returns its result, or None after reporting a failure.

        A refusal whose reason is in `refusals` is handed to `refused` instead of being reported:
        the caller asks the user what to do (a version conflict, a possible duplicate patient).

        The controls are disabled while the call is in flight (so a double click cannot book
        twice) and restored in `finally`. Nothing is queued while offline: the user is told.
        An appointment in the result goes into the store at once (version-guarded), so the
        screen does not wait for the matching event. Then `settled` fires: the event for this
        change (or someone else's) may have arrived while the controls were disabled, so the
        state they had before the call is stale and the views recompute it.
        """
        try:
            return await self._run(method, params, controls, report, done, refusals, refused)
        finally:
            self.settled.emit()

    async def update_appointment(
        self,
        seen: dict[str, Any],
        changes: dict[str, Any],
        *,
        controls: Iterable[QWidget | None] = (),
        report: Callable[[str], None] | None = None,
        done: str | None = None,
        parent: QWidget | None = None,
        kept_theirs: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any] | None:
        """`appointments.update` with the version of `seen`, the row as the user saw it when deciding.

        Never the store's latest version: that would overwrite whatever someone else changed in the
        meantime without anyone noticing. On `version_conflict` a ConflictDialog shows theirs against
        yours; "Apply mine anyway" re-sends on the current version, "Keep theirs" calls `kept_theirs`
        with the current row. Returns the updated row, or None.
        """
        from .booking.conflict_dialog import (
            ConflictDialog,  # the dialog is a view; imported when needed
        )

        params = {"id": seen["id"], "version": seen["version"], **changes}
        controls = list(controls)
        while True:
            conflicts: list[RpcError] = []
            result = await self.run("appointments.update", params, controls=controls, report=report, done=done,
                                    refusals={Reason.VERSION_CONFLICT}, refused=conflicts.append)
            if result is not None or not conflicts:
                return result
            current = conflicts[0].extra.get("current")
            if not isinstance(current, dict) or "version" not in current:  # gone, or not ours to see
                self._report(describe_error(conflicts[0], role=self.session.role), report)
                return None
            dialog = ConflictDialog(self.session, seen, current, changes, parent=parent)
            self.conflict_dialog = dialog
            choice = await dialog.ask()
            dialog.deleteLater()
            if choice != "mine":
                if kept_theirs is not None:
                    kept_theirs(current)
                return None
            params["version"] = current["version"]

    async def _run(
        self,
        method: str,
        params: dict[str, Any] | None,
        controls: Iterable[QWidget | None],
        report: Callable[[str], None] | None,
        done: str | None,
        refusals: Collection[Reason] = (),
        refused: Callable[[RpcError], None] | None = None,
    ) -> Any | None:
        widgets = [widget for widget in controls if widget is not None]
        was_enabled = [widget.isEnabled() for widget in widgets]
        for widget in widgets:
            widget.setEnabled(False)
        try:
            result = await self.session.call(method, **(params or {}))
        except OfflineError:
            self._report(_OFFLINE_TEXT, report)
            return None
        except (RpcError, ConnectionError, OSError, TimeoutError) as exc:
            log.info("%s failed: %r", method, exc)
            current = exc.extra.get("current") if isinstance(exc, RpcError) else None
            if exc_reason(exc) == Reason.VERSION_CONFLICT and isinstance(current, dict) and "version" in current \
                    and method.startswith(_APPOINTMENT_CONFLICTS):
                # Show what the other person changed, so the retry starts from the current row. Only an
                # appointment: a chair's, a patient's or a type's current row is not one (its caller stores it).
                self.session.store.upsert("appointment", current)
            if refused is not None and exc_reason(exc) in refusals:
                refused(exc)  # type: ignore[arg-type]  # a reason implies an RpcError
                return None
            self._report(describe_error(exc, role=self.session.role), report)
            return None
        finally:
            for widget, enabled in zip(widgets, was_enabled):
                try:
                    widget.setEnabled(enabled)
                except RuntimeError:  # the widget was deleted while we waited
                    pass
        if method.startswith("appointments.") and isinstance(result, dict) and "version" in result:
            self.session.store.upsert("appointment", result)
        if done:
            self.succeeded.emit(done)
        return result

    def _report(self, text: str, report: Callable[[str], None] | None) -> None:
        self.last_error = text
        if report is not None:
            report(text)
        else:
            self.failed.emit(text)
