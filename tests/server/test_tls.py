"""`wss://`: the server serves TLS with a given certificate and key, and a client trusting that certificate connects."""

from __future__ import annotations

import shutil
import ssl
import subprocess

import pytest
from websockets.asyncio.client import connect

from tests.server_process import ServerProcess

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")


async def test_wss_with_a_self_signed_certificate(database_url: str, tmp_path) -> None:
    """With --tls-cert/--tls-key the server speaks wss://; a client pinning that certificate signs in, a plain one is refused."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    srv = ServerProcess(database_url, tmp_path / "d", tmp_path / "s.log",
                        extra_env={"CLINIC_TLS_CERT": str(cert), "CLINIC_TLS_KEY": str(key)})
    srv.http_url = srv.http_url.replace("http://", "https://")
    ctx = ssl.create_default_context(cafile=str(cert))
    import urllib.request
    original = urllib.request.urlopen

    def urlopen(url, timeout=2):  # the fixture's health check, trusting our certificate
        return original(url, timeout=timeout, context=ctx)

    urllib.request.urlopen = urlopen
    try:
        srv.start()
    finally:
        urllib.request.urlopen = original
    try:
        url = f"wss://127.0.0.1:{srv.port}/ws"
        async with connect(url, ssl=ctx) as ws:
            await ws.send('{"jsonrpc":"2.0","id":1,"method":"auth.login","params":{"username":"alice","password":"demo"}}')
            assert '"role":"patient"' in await ws.recv()
        with pytest.raises(ssl.SSLCertVerificationError):
            async with connect(url, ssl=ssl.create_default_context()):
                pass
    finally:
        srv.stop()
