"""JSON-RPC error codes and the application's error reasons (the fixed part of the wire contract)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = ["ErrorCode", "Reason", "RpcError", "WS_CLOSE_RESYNC", "WS_CLOSE_AUTH_EXPIRED"]


class ErrorCode:
    """JSON-RPC 2.0 error codes."""

    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    APPLICATION = -32000


class Reason(StrEnum):
    """`data.reason` of an application error (-32000)."""

    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    INVALID_PARAMS = "invalid_params"
    SLOT_UNAVAILABLE = "slot_unavailable"
    OUTSIDE_WORKING_HOURS = "outside_working_hours"
    TOO_SOON = "too_soon"
    TOO_FAR = "too_far"
    VERSION_CONFLICT = "version_conflict"
    INVALID_TRANSITION = "invalid_transition"
    RATE_LIMITED = "rate_limited"
    TOO_MANY_BOOKINGS = "too_many_bookings"  # a patient holds the most upcoming appointments they may book
    POSSIBLE_DUPLICATE = "possible_duplicate"  # patients.create: a likely existing record (sent with candidates)
    INTERNAL = "internal"


# WebSocket close codes (private-use range 4000-4999), documented in docs/protocol.md.
WS_CLOSE_RESYNC = 4001  # the client fell behind; reconnect and subscribe with `since`
WS_CLOSE_AUTH_EXPIRED = 4002  # the session's token expired or was revoked; authenticate again


class RpcError(Exception):
    """An error to send back as a JSON-RPC error object.

    `reason` is set for application errors (code -32000); `extra` is merged into `data`
    (per-field messages for invalid_params, the current row for version_conflict, ...).
    """

    def __init__(
        self,
        code: int,
        message: str,
        reason: Reason | str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = Reason(reason) if reason is not None else None
        self.extra = extra

    @classmethod
    def app(cls, reason: Reason | str, message: str, **extra: Any) -> "RpcError":
        return cls(ErrorCode.APPLICATION, message, reason, **extra)

    def to_error(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        data: dict[str, Any] = {}
        if self.reason is not None:
            data["reason"] = str(self.reason)
        data.update(self.extra)
        if data:
            error["data"] = data
        return error
