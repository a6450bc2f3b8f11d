"""The pure JSON-RPC codec (server/protocol/codec.py) and the purity of server.protocol."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.protocol import (
    ErrorCode,
    Reason,
    RpcError,
    decode_request,
    encode_error,
    encode_notification,
    encode_request,
    encode_result,
    parse_frame,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_a_valid_request_decodes() -> None:
    """A well-formed request yields method, named params and id."""
    req = decode_request({"jsonrpc": "2.0", "id": 7, "method": "auth.login", "params": {"username": "alice"}})
    assert (req.method, req.params, req.id, req.is_notification) == ("auth.login", {"username": "alice"}, 7, False)


def test_missing_or_null_params_are_empty_and_no_id_is_a_notification() -> None:
    """Absent or null params become {}; a request without an id is a notification; a null id is not."""
    note = decode_request({"jsonrpc": "2.0", "method": "x"})
    assert note.params == {} and note.is_notification and note.id is None
    req = decode_request({"jsonrpc": "2.0", "method": "x", "params": None, "id": None})
    assert req.params == {} and not req.is_notification
    assert decode_request({"jsonrpc": "2.0", "method": "x", "id": "abc"}).id == "abc"


@pytest.mark.parametrize(
    "obj",
    [
        [], [{"jsonrpc": "2.0", "method": "x", "id": 1}], "text", 3, None, True,
        {"method": "x", "id": 1},
        {"jsonrpc": "1.0", "method": "x", "id": 1},
        {"jsonrpc": 2.0, "method": "x", "id": 1},
        {"jsonrpc": "2.0", "method": "x", "id": True},
        {"jsonrpc": "2.0", "method": "x", "id": 1.5},
        {"jsonrpc": "2.0", "method": "x", "id": [1]},
        {"jsonrpc": "2.0", "method": "x", "id": {"a": 1}},
        {"jsonrpc": "2.0", "method": "x", "id": 2**60},
        {"jsonrpc": "2.0", "method": "x", "id": "i" * 200},
        {"jsonrpc": "2.0", "id": 1},
        {"jsonrpc": "2.0", "method": "", "id": 1},
        {"jsonrpc": "2.0", "method": 5, "id": 1},
        {"jsonrpc": "2.0", "method": "x", "params": "a", "id": 1},
        {"jsonrpc": "2.0", "method": "x", "params": 3, "id": 1},
    ],
)
def test_malformed_requests_are_invalid_request(obj: object) -> None:
    """Non-objects, a wrong jsonrpc, bad id types, a missing method or scalar params give -32600."""
    with pytest.raises(RpcError) as info:
        decode_request(obj)
    assert info.value.code == ErrorCode.INVALID_REQUEST == -32600


def test_positional_params_are_invalid_params() -> None:
    """A list of params is refused with -32602 (every method takes named params)."""
    with pytest.raises(RpcError) as info:
        decode_request({"jsonrpc": "2.0", "method": "x", "params": [1, 2], "id": 1})
    assert info.value.code == ErrorCode.INVALID_PARAMS == -32602


@pytest.mark.parametrize("frame", ["", "{", "not json", "{'a': 1}", b"\xff\xfe", "[1,", "{\"a\":}", "[" * 100000])
def test_garbage_frames_are_parse_errors(frame: str | bytes) -> None:
    """Anything that is not JSON raises RpcError -32700 (including absurd nesting)."""
    with pytest.raises(RpcError) as info:
        parse_frame(frame)
    assert info.value.code == ErrorCode.PARSE_ERROR == -32700


def test_encoders_round_trip() -> None:
    """Encoded requests decode back; results, errors and notifications are valid JSON-RPC 2.0 objects."""
    req = decode_request(parse_frame(encode_request(3, "slots.find", {"type_id": 1})))
    assert (req.method, req.params, req.id) == ("slots.find", {"type_id": 1}, 3)
    assert json.loads(encode_result(3, {"ok": "é"})) == {"jsonrpc": "2.0", "id": 3, "result": {"ok": "é"}}
    err = RpcError.app(Reason.RATE_LIMITED, "slow down", retry_after=2.5)
    assert json.loads(encode_error(None, err)) == {
        "jsonrpc": "2.0", "id": None,
        "error": {"code": -32000, "message": "slow down", "data": {"reason": "rate_limited", "retry_after": 2.5}},
    }
    assert json.loads(encode_error(1, RpcError(ErrorCode.METHOD_NOT_FOUND, "nope"))) == {
        "jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "nope"},
    }
    note = json.loads(encode_notification("sync.heartbeat", {"seq": 5}))
    assert note == {"jsonrpc": "2.0", "method": "sync.heartbeat", "params": {"seq": 5}}
    assert "id" not in note


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
request_like = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.sampled_from(["2.0", "1.0", 2.0, None]),
        "id": json_values,
        "method": st.one_of(st.text(max_size=20), json_values),
        "params": json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, request_like))
def test_decode_request_raises_only_rpc_errors(obj: object) -> None:
    """On any JSON value decode_request either returns a Request or raises RpcError with a JSON-RPC code."""
    try:
        req = decode_request(obj)
    except RpcError as exc:
        assert exc.code in (ErrorCode.INVALID_REQUEST, ErrorCode.INVALID_PARAMS)
    else:
        assert isinstance(req.params, dict) and isinstance(req.method, str) and req.method


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=50), st.binary(max_size=50)))
def test_parse_frame_raises_only_rpc_errors(frame: str | bytes) -> None:
    """parse_frame on arbitrary text or bytes returns a value or raises RpcError -32700, nothing else."""
    try:
        parse_frame(frame)
    except RpcError as exc:
        assert exc.code == ErrorCode.PARSE_ERROR


def test_protocol_package_is_pure() -> None:
    """Importing server.protocol pulls in neither Qt, SQLAlchemy, asyncpg nor websockets."""
    code = (
        "import sys, json, server.protocol\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'shiboken6', 'sqlalchemy', 'asyncpg', 'websockets', 'qasync'))\n"
        "print(json.dumps(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
