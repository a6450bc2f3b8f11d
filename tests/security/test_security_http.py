"""The HTTP side and the frame decoder against hostile input: browser origins, /metrics, unpaired surrogates."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.faults.counters import SECURITY
from tests.helpers import RpcClient
from tests.server_process import ServerProcess


async def test_a_browser_page_cannot_open_a_socket_to_the_server(server: ServerProcess) -> None:
    """Any web page a clinic PC visits could otherwise script the clinic's server; the desktop sends no Origin."""
    with pytest.raises(InvalidStatus) as refused:
        async with connect(server.ws_url, origin="https://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    SECURITY.add(bad_inputs=1)
    async with RpcClient(server.ws_url) as desk:  # no Origin: served as always
        assert (await desk.login("frontdesk"))["user"]["role"] == "admin"


async def test_a_listed_origin_is_allowed(database_url: str, tmp_path) -> None:
    srv = ServerProcess(database_url, tmp_path / "d", tmp_path / "s.log",
                        extra_env={"CLINIC_ALLOWED_ORIGINS": "https://portal.clinic.example"})
    srv.start()
    try:
        async with connect(srv.ws_url, origin="https://portal.clinic.example") as ws:
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "auth.login",
                                      "params": {"username": "alice", "password": "demo"}}))
            assert "result" in json.loads(await ws.recv())
    finally:
        srv.stop()


def _get(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_metrics_answer_loopback_and_the_token_only(database_url: str, tmp_path) -> None:
    """Through a proxy on the same host (X-Forwarded-For) /metrics needs the token; loopback reads it directly."""
    srv = ServerProcess(database_url, tmp_path / "d", tmp_path / "s.log",
                        extra_env={"CLINIC_METRICS_TOKEN": "a-long-metrics-token"})
    srv.start()
    try:
        url = srv.http_url + "/metrics"
        assert _get(url) == 200
        forwarded = {"X-Forwarded-For": "203.0.113.9"}
        assert _get(url, forwarded) == 403
        assert _get(url, {**forwarded, "Authorization": "Bearer wrong"}) == 403
        assert _get(url, {**forwarded, "Authorization": "Bearer a-long-metrics-token"}) == 200
        SECURITY.add(bad_inputs=2)
    finally:
        srv.stop()


async def test_an_unpaired_surrogate_gets_a_parse_error_and_the_connection_lives(server: ServerProcess) -> None:
    async with RpcClient(server.ws_url) as client:
        for frame in ('{"jsonrpc":"2.0","id":"\\ud800","method":"auth.login","params":{}}',
                      '{"jsonrpc":"2.0","id":7,"method":"auth.login","params":{"username":"\\udfff","password":"x"}}'):
            await client.send_raw(frame)
            answer = await client.recv_raw()
            assert isinstance(answer, dict) and answer["error"]["code"] == -32700, answer
            SECURITY.add(bad_inputs=1)
        assert (await client.login("frontdesk"))["user"]["role"] == "admin"
        assert not client.closed
    assert "Traceback" not in server.log_text()
