"""Property fuzzing of the pure wire layer: the codec and every method's params model, no network.

Whatever arrives, the outcome is a request or a clean JSON-RPC error (-32700 / -32600 / -32602),
never another exception that would become `internal` or take the connection down.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from server import handlers
from server.app import ClinicServer
from server.protocol import ErrorCode, RpcError, decode_request, encode_error, parse_frame
from tests.faults.counters import FAULTS

FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

huge_ints = st.one_of(st.integers(), st.integers(min_value=2**31 - 2, max_value=2**31 + 2),
                      st.sampled_from([2**53, 2**53 + 1, 2**63, -(2**63) - 1, 10**30, 10**400]))
weird_text = st.one_of(st.text(), st.text(alphabet=st.characters(codec="utf-8"), max_size=50),
                       st.sampled_from(["\x00", "\ud7ff", "\u202e", "🦷" * 1000, "'; DROP TABLE appointments; --",
                                        "Robert'); --", "%", "_", "\\", "${jndi:ldap://x}", "<script>", "a" * 5000]))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), huge_ints, st.floats(allow_nan=False), weird_text),
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(weird_text, inner, max_size=5)),
    max_leaves=20,
)
CODES = {ErrorCode.PARSE_ERROR, ErrorCode.INVALID_REQUEST, ErrorCode.INVALID_PARAMS}


def _nested(depth: int, kind: str) -> str:
    return ("[" * depth + "]" * depth) if kind == "list" else ('{"a":' * depth + "1" + "}" * depth)


@FUZZ
@given(frame=st.one_of(st.text(), st.binary(), json_values.map(json.dumps)))
def test_any_frame_parses_or_gets_a_parse_error(frame):
    """parse_frame returns a value or raises RpcError(-32700), for any text or bytes."""
    FAULTS.add(bad_inputs=1)
    try:
        parse_frame(frame)
    except RpcError as exc:
        assert exc.code == ErrorCode.PARSE_ERROR


@pytest.mark.parametrize("depth", [100, 10_000, 200_000])
@pytest.mark.parametrize("kind", ["list", "dict"])
def test_deep_nesting_is_a_parse_error_or_a_value(depth, kind):
    """Absurdly deep JSON never escapes as RecursionError."""
    FAULTS.add(bad_inputs=1)
    try:
        parse_frame(_nested(depth, kind))
    except RpcError as exc:
        assert exc.code == ErrorCode.PARSE_ERROR


@FUZZ
@given(obj=st.one_of(json_values, st.fixed_dictionaries(
    {"jsonrpc": st.one_of(st.just("2.0"), json_values)},
    optional={"id": json_values, "method": st.one_of(st.sampled_from(sorted(handlers.METHODS)), json_values),
              "params": json_values})))
def test_any_value_decodes_or_gets_an_invalid_request(obj):
    """decode_request yields a request or RpcError -32600/-32602; the error always encodes to valid JSON."""
    FAULTS.add(bad_inputs=1)
    try:
        req = decode_request(obj)
    except RpcError as exc:
        assert exc.code in CODES
        assert json.loads(encode_error(None, exc))["error"]["code"] == exc.code
        return
    assert isinstance(req.method, str) and req.method and isinstance(req.params, dict)


@FUZZ
@given(method=st.sampled_from(sorted(handlers.METHODS)), params=st.dictionaries(
    st.one_of(st.sampled_from(["id", "version", "start", "end", "from", "to", "dentist_id", "type_id", "patient_id",
                               "chair_id", "notes", "status", "reason", "weekly", "exceptions", "kind", "query",
                               "limit", "name", "phone", "email", "date_of_birth", "text", "conversation_id",
                               "username", "password", "access_token", "refresh_token", "since", "idempotency_key",
                               "current_password", "new_password"]), weird_text),
    json_values, max_size=6))
def test_params_models_accept_or_refuse_cleanly(method, params):
    """Every method's params model either accepts or answers -32602 invalid_params with per-field messages."""
    FAULTS.add(bad_inputs=1)
    _handler, model = handlers.METHODS[method]
    try:
        ClinicServer._validate(model, params)
    except RpcError as exc:
        assert exc.code == ErrorCode.INVALID_PARAMS
        assert exc.to_error()["data"]["reason"] == "invalid_params"
        assert exc.to_error()["data"]["fields"]
