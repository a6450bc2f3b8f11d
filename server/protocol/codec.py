"""Encoding and decoding of JSON-RPC 2.0 frames. Pure: no sockets, no database."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import ErrorCode, RpcError

__all__ = [
    "Request",
    "decode_request",
    "encode_result",
    "encode_error",
    "encode_notification",
    "encode_request",
    "MAX_FRAME_BYTES",
]

MAX_FRAME_BYTES = 256 * 1024  # a booking request is < 2 KiB; anything near this is hostile

_INVALID = object()


@dataclass(frozen=True, slots=True)
class Request:
    """One decoded JSON-RPC request. `id` is None for a notification (no answer expected)."""

    method: str
    params: dict[str, Any]
    id: int | str | None
    is_notification: bool


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str)


def decode_request(obj: Any) -> Request:
    """Validate one JSON value as a JSON-RPC 2.0 request object.

    Raises RpcError(-32600) for a malformed request; positional params (a list) are refused
    with -32602 because every method of this protocol takes named params.
    """
    if not isinstance(obj, dict):
        raise RpcError(ErrorCode.INVALID_REQUEST, "Invalid Request: expected a JSON object")
    if obj.get("jsonrpc") != "2.0":
        raise RpcError(ErrorCode.INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"')
    has_id = "id" in obj
    rid = obj.get("id")
    if has_id and (isinstance(rid, bool) or not isinstance(rid, (int, str, type(None)))):
        raise RpcError(ErrorCode.INVALID_REQUEST, 'Invalid Request: "id" must be a string, number or null')
    if isinstance(rid, int) and abs(rid) > 2**53:
        raise RpcError(ErrorCode.INVALID_REQUEST, 'Invalid Request: "id" is out of range')
    if isinstance(rid, str) and len(rid) > 128:
        raise RpcError(ErrorCode.INVALID_REQUEST, 'Invalid Request: "id" is too long')
    method = obj.get("method")
    if not isinstance(method, str) or not method:
        raise RpcError(ErrorCode.INVALID_REQUEST, 'Invalid Request: "method" must be a non-empty string')
    params = obj.get("params", {})
    if params is None:
        params = {}
    if isinstance(params, list):
        raise RpcError(ErrorCode.INVALID_PARAMS, "Invalid params: use named params (an object)")
    if not isinstance(params, dict):
        raise RpcError(ErrorCode.INVALID_REQUEST, 'Invalid Request: "params" must be an object')
    return Request(method=method, params=params, id=rid, is_notification=not has_id)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def parse_frame(text: str | bytes) -> Any:
    """Parse a frame's JSON; raises RpcError(-32700) on anything that is not JSON.

    JSON may spell an unpaired surrogate (`"\\ud800"`), which no UTF-8 text can hold: echoed back in an
    id or stored from a param it would fail later, so such a frame is refused here.
    """
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise RpcError(ErrorCode.PARSE_ERROR, "Parse error: the frame is not valid JSON") from exc
    if _SURROGATE_ESCAPE.search(text if isinstance(text, str) else text.decode("utf-8", "replace")):
        try:
            _dumps(obj).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise RpcError(ErrorCode.PARSE_ERROR,
                           "Parse error: the frame holds an unpaired surrogate, which is not valid Unicode") from exc
    return obj


def encode_result(rid: int | str | None, result: Any) -> str:
    return _dumps({"jsonrpc": "2.0", "id": rid, "result": result})


def encode_error(rid: int | str | None, error: RpcError) -> str:
    return _dumps({"jsonrpc": "2.0", "id": rid, "error": error.to_error()})


def encode_notification(method: str, params: dict[str, Any]) -> str:
    return _dumps({"jsonrpc": "2.0", "method": method, "params": params})


def encode_request(rid: int | str, method: str, params: dict[str, Any] | None = None) -> str:
    return _dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params or {}})
