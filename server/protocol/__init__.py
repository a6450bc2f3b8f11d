"""The wire contract shared by the client and the server. Pure: imports neither Qt nor the database."""

from .codec import (
    MAX_FRAME_BYTES,
    Request,
    decode_request,
    encode_error,
    encode_notification,
    encode_request,
    encode_result,
    parse_frame,
)
from .errors import WS_CLOSE_AUTH_EXPIRED, WS_CLOSE_RESYNC, ErrorCode, Reason, RpcError
from .shapes import KINDS, OCCUPYING_STATUSES, STATUSES, busy_block, redacted, view_for, view_kind

__all__ = [
    "KINDS",
    "MAX_FRAME_BYTES",
    "OCCUPYING_STATUSES",
    "STATUSES",
    "WS_CLOSE_AUTH_EXPIRED",
    "WS_CLOSE_RESYNC",
    "ErrorCode",
    "Reason",
    "Request",
    "RpcError",
    "busy_block",
    "redacted",
    "decode_request",
    "encode_error",
    "encode_notification",
    "encode_request",
    "encode_result",
    "parse_frame",
    "view_for",
    "view_kind",
]
