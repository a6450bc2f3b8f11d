"""Which connection failures are worth retrying, and the error for a write attempted offline."""

from __future__ import annotations

import asyncio

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from server.protocol import Reason, RpcError

__all__ = ["OfflineError", "SessionEndedError", "is_retryable"]


class OfflineError(ConnectionError):
    """A call was attempted while the client is not connected; nothing was sent or queued."""


class SessionEndedError(Exception):
    """The server no longer accepts this session's credentials; the user must sign in again."""


def is_retryable(error: BaseException) -> bool:
    """True for failures a later attempt may not hit (network, server restart, overload)."""
    if isinstance(error, InvalidURI):
        return False
    if isinstance(error, InvalidStatus):
        return error.response.status_code >= 500 or error.response.status_code == 429
    if isinstance(error, (ConnectionClosed, InvalidHandshake, OSError, asyncio.TimeoutError, EOFError)):
        return True
    if isinstance(error, RpcError):
        return error.reason in (Reason.INTERNAL, Reason.RATE_LIMITED)
    return False
