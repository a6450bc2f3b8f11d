"""The front desk's views: day calendar, appointment list, booking, dentists' hours."""

from __future__ import annotations
