"""Work around PySide6 builds that treat None, True and False as immortal on Python 3.11.

PySide6 6.12 returns these singletons from void and bool-returning calls (QPainter.setPen,
QWidget.setEnabled, Signal.emit, ...) without taking a reference, which is only correct on
Python >= 3.12 where they are immortal (PEP 683). On 3.11 each such call lowers the singleton's
reference count by one, and a long-running client (a calendar repainting all day) eventually
aborts with "none_dealloc: deallocating None". Giving the three singletons a reference count no
program can exhaust makes them as immortal as 3.12 does. No effect on Python >= 3.12.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["guard_singleton_refcounts"]

_HEADROOM = 1 << 48  # ~2.8e14 calls before it could matter; far below the ssize_t limit
_guarded = False


def guard_singleton_refcounts() -> bool:
    """Raise the reference counts of None, True and False once; returns True if it did anything."""
    global _guarded
    if _guarded or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    for singleton in (None, True, False):
        refcount = ctypes.c_ssize_t.from_address(id(singleton))  # ob_refcnt is PyObject's first field
        refcount.value += _HEADROOM
    _guarded = True
    return True
