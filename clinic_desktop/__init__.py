"""DentalCare Connect desktop client: a Qt (PySide6 + qasync) front end over the sync server."""

from __future__ import annotations

__version__ = "0.1.0"
