"""Protocol fuzzing against a live server: random and mutated frames over real WebSockets, as three users.

Each example sends one frame (a mutated request, random JSON, a batch, raw bytes) and then a probe
request on the same connection. The server must answer the frame with clean JSON-RPC errors
(never `internal`), keep the connection and itself alive, and change nothing in the database.
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from websockets.sync.client import connect

from tests.faults.clinic import db_digest, run_in_thread
from tests.faults.counters import FAULTS
from tests.faults.test_fault_fuzz_codec import huge_ints, json_values, weird_text

EXAMPLES = int(os.environ.get("CLINIC_FUZZ_EXAMPLES", "500"))
NOWHERE = 2**31 - 1  # a valid id that names nothing

# A valid request per method; writes aim at nothing that exists, so even a "valid" mutation changes nothing.
BASE: dict[str, dict] = {
    "directory.get": {},
    "slots.find": {"type_id": 1, "from": "2030-01-07", "to": "2030-01-08", "dentist_id": 1},
    "appointments.list": {"from": "2030-01-07", "to": "2030-01-08"},
    "patients.search": {"query": "a", "limit": 5},
    "sync.subscribe": {"since": 0},
    "auth.resume": {"access_token": "x.y.z"},
    "auth.refresh": {"refresh_token": "not-a-token"},
    "appointments.create": {"dentist_id": NOWHERE, "type_id": 1, "start": "2030-01-07T09:00:00+00:00",
                            "patient_id": 1, "notes": "n"},
    "appointments.update": {"id": NOWHERE, "version": 1, "notes": "n"},
    "appointments.cancel": {"id": NOWHERE, "reason": "r"},
    "availability.set": {"dentist_id": NOWHERE, "weekly": [{"weekday": 0, "start": "09:00", "end": "12:00"}]},
    "exceptions.add": {"dentist_id": NOWHERE, "start": "2030-01-07T09:00:00+00:00", "end": "2030-01-07T10:00:00+00:00",
                       "kind": "closed", "reason": "r"},
    "exceptions.delete": {"id": NOWHERE},
    "assistant.message": {"text": "hello", "patient_id": NOWHERE},
}
# Methods whose valid form would change something: their mutations must stay invalid.
MUST_FAIL = {"patients.create": {"name": "x" * 201}, "auth.login": {"username": "nobody-" + "x" * 150, "password": "p"},
             "auth.change_password": {"current_password": "wrong-password", "new_password": "short"}}
REQUIRED_IDS = {"dentist_id", "id"}
WRITES = {"appointments.create", "appointments.update", "appointments.cancel", "availability.set", "exceptions.add",
          "exceptions.delete"}


@st.composite
def mutated_request(draw):
    method = draw(st.sampled_from(sorted(BASE) + sorted(MUST_FAIL)))
    params = dict(BASE[method] if method in BASE else MUST_FAIL[method])
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["replace", "drop", "add", "huge"]))
        if action == "replace" and params:
            key = draw(st.sampled_from(sorted(params)))
            value = draw(json_values)
            if key in REQUIRED_IDS and method in WRITES:
                value = draw(st.one_of(weird_text, st.floats(), st.lists(huge_ints), st.just(NOWHERE)))
            params[key] = value
        elif action == "drop" and params and method not in MUST_FAIL:
            params.pop(draw(st.sampled_from(sorted(params))))
        elif action == "add":
            params[draw(weird_text)] = draw(json_values)
        elif action == "huge" and params:
            params[draw(st.sampled_from(sorted(params)))] = draw(huge_ints)
    if method in MUST_FAIL:
        params.update(MUST_FAIL[method])  # keep it refused whatever else changed
    if method in WRITES:
        # A write must stay aimed at nothing: a small integer id could name a real row and make it valid.
        # Dropped or null is no better: exceptions.add without a dentist is a clinic-wide closure.
        for key in REQUIRED_IDS & set(BASE[method]):
            value = params.get(key)
            if value is None or (isinstance(value, int) and not isinstance(value, bool) and 0 <= value < NOWHERE):
                params[key] = NOWHERE
    envelope = {"jsonrpc": "2.0", "id": draw(st.one_of(st.integers(-(2**53), 2**53), st.text(max_size=20))),
                "method": method, "params": params}
    if method not in WRITES and method not in MUST_FAIL and draw(st.booleans()):
        envelope["params"] = draw(json_values)  # anything at all, for methods that change nothing
    return envelope


def _byte_mutations(text: str, edits: list[tuple[int, int]]) -> bytes:
    data = bytearray(text.encode())
    for pos, byte in edits:
        if data:
            data[pos % len(data)] = byte
    return bytes(data)


frames = st.one_of(
    mutated_request().map(json.dumps),
    st.lists(mutated_request(), min_size=0, max_size=60).map(json.dumps),
    json_values.map(json.dumps),
    st.tuples(mutated_request().map(json.dumps), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                                          min_size=1, max_size=8)).map(lambda a: _byte_mutations(*a)),
    st.binary(max_size=200),
    st.sampled_from(["[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000,
                     '{"jsonrpc":"2.0","id":1,"method":"directory.get","params":{"x":' + "9" * 5000 + "}}",
                     '{"jsonrpc":"2.0","id":1e999,"method":"directory.get"}', "\ufeff{}", "null", '""']),
)

ALLOWED = {-32700, -32600, -32601, -32602, -32000}


class Session:
    """A signed-in synchronous WebSocket that can tell our probe's answer from everything else."""

    def __init__(self, url: str, username: str | None) -> None:
        self.ws = connect(url, max_size=None, open_timeout=30, legacy=True)
        self.probes = 0
        if username:
            self.ws.send(json.dumps({"jsonrpc": "2.0", "id": "login", "method": "auth.login",
                                     "params": {"username": username, "password": "demo"}}))
            assert "result" in json.loads(self.ws.recv(timeout=30))

    def exchange(self, frame: str | bytes) -> list:
        """Send `frame`, then a probe; return every answer that came before the probe's."""
        self.probes += 1
        probe = f"probe-{self.probes}"
        self.ws.send(frame)
        self.ws.send(json.dumps({"jsonrpc": "2.0", "id": probe, "method": "auth.resume", "params": {"access_token": ""}}))
        answers = []
        while True:
            msg = json.loads(self.ws.recv(timeout=60))
            if isinstance(msg, dict) and msg.get("id") == probe:
                return answers
            if isinstance(msg, dict) and msg.get("method") in ("sync.event", "sync.heartbeat"):
                continue
            answers.append(msg)


def _check(answer) -> None:
    items = answer if isinstance(answer, list) else [answer]
    for item in items:
        assert isinstance(item, dict) and item.get("jsonrpc") == "2.0", item
        if "error" in item:
            err = item["error"]
            assert err["code"] in ALLOWED, err
            reason = (err.get("data") or {}).get("reason")
            assert reason != "internal", f"bad input answered as an internal fault: {item}"


@pytest.fixture
def fuzz_server(make_server):
    return make_server({"CLINIC_WRITES_PER_MINUTE": "1000000"})


def test_live_server_survives_fuzzed_frames_and_changes_nothing(fuzz_server, database_url):
    """Hundreds of hostile frames as admin, patient and anonymous: clean errors, no internal, connection alive, data unchanged."""
    before = run_in_thread(db_digest(database_url))
    sessions = {"frontdesk": Session(fuzz_server.ws_url, "frontdesk"), "alice": Session(fuzz_server.ws_url, "alice"),
                "anonymous": Session(fuzz_server.ws_url, None)}

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(who=st.sampled_from(sorted(sessions)), frame=frames)
    def run(who, frame):
        FAULTS.add(bad_inputs=1)
        for answer in sessions[who].exchange(frame):
            _check(answer)

    try:
        run()
    finally:
        for s in sessions.values():
            s.ws.close()
    assert fuzz_server.running
    assert run_in_thread(db_digest(database_url)) == before, "an invalid request changed the database"
    assert "Traceback" not in fuzz_server.log_text()
    assert "internal error" not in fuzz_server.log_text()
