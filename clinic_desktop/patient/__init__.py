"""The patient's view: own appointments, live booking, cancel, and the assistant chat."""

from __future__ import annotations
