"""The dentist's view: the day's chair schedule with one-click statuses, upcoming days, own hours."""

from __future__ import annotations
