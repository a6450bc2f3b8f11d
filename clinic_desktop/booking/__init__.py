"""Booking: the live slot picker, the booking/move dialog, the cancel dialog."""

from __future__ import annotations
