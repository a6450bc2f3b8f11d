"""Desktop tests run offscreen and share pytest-qt's one QApplication."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_QUICK_BACKEND", "software")

import pytest  # noqa: E402

from clinic_desktop.clinic_clock import ClinicClock  # noqa: E402
from clinic_desktop.store import EntityStore  # noqa: E402
from desktop_factories import make_snapshot  # noqa: E402


@pytest.fixture
def clock() -> ClinicClock:
    return ClinicClock("Europe/London")


@pytest.fixture
def store() -> EntityStore:
    """A store holding the demo directory (two dentists, four types, two patients) and no appointments."""
    entity_store = EntityStore()
    entity_store.load_snapshot(make_snapshot(appointments=0), seq=1)
    return entity_store


@pytest.fixture(autouse=True)
def gui_thread_gc(qapp):
    """As in the app: cyclic garbage (Qt objects in cycles) is collected on the GUI thread only.

    Without it a fixture's worker thread (the database seeding in tests/conftest.py) can collect an
    earlier test's closed qasync loop and destroy its timers off the GUI thread: a segfault later.
    """
    from clinic_desktop.gui_thread_gc import GuiThreadGarbageCollector

    collector = GuiThreadGarbageCollector()
    collector.start()
    yield collector
    collector.stop()
    collector.deleteLater()


@pytest.fixture
def qt_async(qapp):
    """A qasync event loop for this test (see qt_async.py); closed afterwards."""
    from qt_async import QtAsyncRunner

    with QtAsyncRunner(qapp) as runner:
        yield runner
