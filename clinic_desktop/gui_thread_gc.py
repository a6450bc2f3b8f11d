"""Python's cyclic garbage collector, run only on the GUI thread.

CPython runs a collection in whichever thread happens to cross the allocation threshold. If that is
a worker thread (an executor resolving a host name, asyncio's child watcher, a test fixture seeding a
database) and the garbage holds Qt objects - a closed event loop's timer, a dismissed dialog caught
in a reference cycle - their C++ destructors run on the wrong thread. Qt prints "Timers cannot be
stopped from another thread", leaves the timers registered with the GUI thread's dispatcher, and the
next one to fire dereferences a deleted object: a segmentation fault, minutes later, somewhere else.

The cure is the one long-running Qt applications use: switch automatic collection off and let a
timer on the GUI thread collect, generation by generation, with the interpreter's own thresholds.
Reference counting still frees everything that is not in a cycle at once; only cycles wait for the
next tick.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

__all__ = ["GuiThreadGarbageCollector"]


class GuiThreadGarbageCollector(QObject):
    """Collects cyclic garbage from a GUI-thread timer while automatic collection is off."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = 500) -> None:
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        self.collections = 0
        self._was_enabled = False
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def start(self) -> None:
        if self.active:
            return
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        """Collect everything now, on this thread, and give collection back to the interpreter."""
        if not self.active:
            return
        self._timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()

    def check(self) -> None:
        """Collect the generations whose counts passed their thresholds, as the interpreter would."""
        young, middle, old = gc.get_count()
        if young <= self.threshold[0]:
            return
        generation = 0
        if middle > self.threshold[1]:
            generation = 2 if old > self.threshold[2] else 1
        gc.collect(generation)
        self.collections += 1
