"""Qt objects caught in reference cycles are destroyed on the GUI thread, never on a worker thread."""

from __future__ import annotations

import gc
import threading
import weakref

from PySide6.QtCore import QObject

from clinic_desktop.gui_thread_gc import GuiThreadGarbageCollector


class _TimerInACycle(QObject):
    """Like a closed event loop's timer: a QObject with a live Qt timer, kept only by a cycle."""

    def __init__(self) -> None:
        super().__init__()
        self.me = self
        self.startTimer(60_000)


class _PlainCycle:
    def __init__(self) -> None:
        self.me = self


def _abandon_and_churn_in_a_worker(died_on: list[str], kind: type = _TimerInACycle) -> None:
    """Drop a cyclic object, then allocate cyclic garbage on a worker thread (as database seeding does)."""
    gc.collect()  # start from empty generations, so no collection runs before the worker's
    victim = kind()
    weakref.finalize(victim, lambda: died_on.append(threading.current_thread().name))
    del victim

    def churn() -> None:
        for _ in range(200_000):
            box: list[object] = []
            box.append(box)

    worker = threading.Thread(target=churn, name="worker")
    worker.start()
    worker.join()


def test_without_the_collector_a_worker_thread_collects_the_cycles_of_the_gui_thread(qapp) -> None:
    """The hazard is real: with automatic collection on, the worker thread frees the GUI thread's cycle.

    (A plain object here: a Qt object destroyed this way would leave its timer to crash a later test.)
    """
    gc.enable()
    died_on: list[str] = []
    try:
        _abandon_and_churn_in_a_worker(died_on, _PlainCycle)
    finally:
        gc.disable()  # the autouse fixture's collector is running for this test
    assert died_on == ["worker"]


def test_the_collector_destroys_them_on_the_gui_thread(qapp, qtbot, gui_thread_gc) -> None:
    """With the collector running, the worker leaves the garbage alone and the GUI-thread timer frees it."""
    assert not gc.isenabled() and gui_thread_gc.active
    died_on: list[str] = []
    _abandon_and_churn_in_a_worker(died_on)
    assert died_on == []
    qtbot.waitUntil(lambda: died_on != [], timeout=10_000)
    assert died_on == [threading.main_thread().name]
    assert gui_thread_gc.collections >= 1


def test_stopping_collects_at_once_and_restores_automatic_collection(qapp) -> None:
    """stop() frees the pending cycles on the calling thread and switches the interpreter's collector back on."""
    gc.enable()
    collector = GuiThreadGarbageCollector()
    collector.start()
    try:
        assert not gc.isenabled()
        died_on: list[str] = []
        victim = _TimerInACycle()
        weakref.finalize(victim, lambda: died_on.append(threading.current_thread().name))
        del victim
        collector.stop()
        assert died_on == [threading.main_thread().name] and gc.isenabled()
    finally:
        gc.disable()  # the autouse fixture's collector is still running for this test
