"""Background coroutines started from Qt slots, kept referenced until done and awaited on quit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

__all__ = ["BackgroundTasks"]

log = logging.getLogger(__name__)


class BackgroundTasks:
    """Holds strong references to running tasks (asyncio keeps only weak ones) and closes them cleanly."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = False

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any] | None:
        """Start `coro` on the running loop; returns None (and drops it) once closed or with no loop."""
        if self.closed:
            coro.close()
            return None
        try:
            task = asyncio.get_running_loop().create_task(coro, name=name)
        except RuntimeError:
            # No running loop (a widget built outside the app's loop, e.g. in a layout test).
            coro.close()
            return None
        self._tasks.add(task)
        task.add_done_callback(self._on_done)
        return task

    def _on_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    def __len__(self) -> int:
        return len(self._tasks)

    async def close(self, timeout: float = 5.0) -> None:
        """Refuse new tasks, give running ones `timeout` to finish, cancel the rest."""
        self.closed = True
        tasks = list(self._tasks)
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
