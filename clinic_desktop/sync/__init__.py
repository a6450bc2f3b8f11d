"""The sync client: one WebSocket to the server, kept alive, feeding the entity store. No Qt here."""

from __future__ import annotations

from .backoff import Backoff
from .client import SyncClient
from .connection_state import ConnectionState
from .errors import OfflineError, is_retryable

__all__ = ["Backoff", "ConnectionState", "OfflineError", "SyncClient", "is_retryable"]
