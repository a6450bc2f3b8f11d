"""The one way views perform a server call: disable the control, await, re-enable, report failures."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from server.protocol import Reason, RpcError

from .messages import describe_error
from .session import Session
from .sync import OfflineError

__all__ = ["Operations"]

log = logging.getLogger(__name__)

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

    async def run(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        controls: Iterable[QWidget | None] = (),
        report: Callable[[str], None] | None = None,
        done: str | None = None,
    ) -> Any | None:
        """Call `method`; returns its result, or None after reporting a failure.

        The controls are disabled while the call is in flight (so a double click cannot book
        twice) and restored in `finally`. Nothing is queued while offline: the user is told.
        An appointment in the result goes into the store at once (version-guarded), so the
        screen does not wait for the matching event. Then `settled` fires: the event for this
        change (or someone else's) may have arrived while the controls were disabled, so the
        state they had before the call is stale and the views recompute it.
        """
        try:
            return await self._run(method, params, controls, report, done)
        finally:
            self.settled.emit()

    async def _run(
        self,
        method: str,
        params: dict[str, Any] | None,
        controls: Iterable[QWidget | None],
        report: Callable[[str], None] | None,
        done: str | None,
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
            if exc_reason(exc) == Reason.VERSION_CONFLICT and isinstance(current, dict) and "version" in current:
                # Show what the other person changed, so the retry starts from the current row.
                self.session.store.upsert("appointment", current)
            self._report(describe_error(exc), report)
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
