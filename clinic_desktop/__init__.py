"""DentalCare Connect desktop client: a Qt (PySide6 + qasync) front end over the sync server."""

from __future__ import annotations

__version__ = "0.1.0"

# Must run before any Qt call: see qt_refcount_guard.py (a PySide6 bug on Python 3.11).
from .qt_refcount_guard import guard_singleton_refcounts  # noqa: E402

guard_singleton_refcounts()
