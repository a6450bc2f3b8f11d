"""Running asyncio code inside Qt for the desktop tests: a qasync loop and an async wait helper."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import qasync


class QtAsyncRunner:
    """One qasync QEventLoop per test: Qt events and asyncio tasks run together, as in the app."""

    def __init__(self, app: Any) -> None:
        self.loop = qasync.QEventLoop(app)
        self._previous: asyncio.AbstractEventLoop | None = None

    def __enter__(self) -> QtAsyncRunner:
        asyncio.set_event_loop(self.loop)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.set_event_loop(None)
        self.loop.close()

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
