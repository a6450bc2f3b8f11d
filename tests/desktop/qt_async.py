"""Running asyncio code inside Qt for the desktop tests: a qasync loop and an async wait helper."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import qasync


class QtAsyncRunner:
    """One qasync QEventLoop per test: Qt events and asyncio tasks run together, as in the app."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = qasync.QEventLoop(app)
        self._quit_on_last_window_closed = True

    def __enter__(self) -> QtAsyncRunner:
        # As in the app (ApplicationController): closing the last window must not quit Qt, because
        # with qasync that stops the asyncio loop too, mid-scenario ("Event loop stopped before
        # Future completed."), e.g. while a test awaits `session.close()` after `window.close()`.
        self._quit_on_last_window_closed = self.app.quitOnLastWindowClosed()
        self.app.setQuitOnLastWindowClosed(False)
        asyncio.set_event_loop(self.loop)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.set_event_loop(None)
        self.loop.close()
        self.app.setQuitOnLastWindowClosed(self._quit_on_last_window_closed)

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 120.0) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))


async def until(condition: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> None:
    """Wait (processing Qt and asyncio events) until `condition()` is true; fail after `timeout` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
