"""The connection state the status bar shows."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ConnectionState"]


class ConnectionState(StrEnum):
    CONNECTED = "connected"  # authenticated and subscribed; events flow, writes allowed
    RECONNECTING = "reconnecting"  # the link dropped; retrying with backoff, writes disabled
    OFFLINE = "offline"  # not signed in, signed out, or given up (bad credentials)
