"""wss:// with a self-signed certificate: the desktop sync client trusts it by CA file or by pinned fingerprint, nothing else."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import urllib.request

import pytest

from clinic_desktop.store import EntityStore
from clinic_desktop.sync.client import SyncClient
from clinic_desktop.sync.tls import PinMismatchError, fingerprint
from tests.faults.counters import SECURITY
from tests.server_process import ServerProcess

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")


def _certificate(tmp_path, name: str) -> tuple:
    cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=clinic-server", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture
def tls_server(database_url, tmp_path):
    cert, key = _certificate(tmp_path, "server")
    srv = ServerProcess(database_url, tmp_path / "d", tmp_path / "s.log",
                        extra_env={"CLINIC_TLS_CERT": str(cert), "CLINIC_TLS_KEY": str(key)})
    srv.http_url = srv.http_url.replace("http://", "https://")
    ctx = ssl.create_default_context(cafile=str(cert))
    original = urllib.request.urlopen
    urllib.request.urlopen = lambda url, timeout=2: original(url, timeout=timeout, context=ctx)  # the health check
    try:
        srv.start()
    finally:
        urllib.request.urlopen = original
    try:
        yield srv, cert
    finally:
        srv.stop()


async def _signs_in(url: str, **trust) -> SyncClient:
    client = SyncClient(url, EntityStore(), **trust)
    await client.sign_in(username="alice", password="demo")
    return client


async def test_desktop_trusts_a_self_signed_server_by_ca_file_or_pin(tls_server, tmp_path):
    """The sync client connects over wss:// with the certificate as CA file, or with its SHA-256 pinned; the store fills."""
    srv, cert = tls_server
    url = f"wss://127.0.0.1:{srv.port}/ws"
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    for trust in ({"ca_file": str(cert)}, {"pin_sha256": fingerprint(der)},
                  {"pin_sha256": ":".join(fingerprint(der)[i:i + 2].upper() for i in range(0, 64, 2))}):
        client = await _signs_in(url, **trust)
        try:
            assert client.connected and client.store.count("appointment") > 0
        finally:
            await client.close()


async def test_desktop_refuses_an_untrusted_or_impostor_certificate(tls_server, tmp_path):
    """No trust configured, the wrong CA file, or the wrong pin: the client refuses before sending the password."""
    srv, cert = tls_server
    url = f"wss://127.0.0.1:{srv.port}/ws"
    other_cert, _ = _certificate(tmp_path, "impostor")
    other_pin = fingerprint(ssl.PEM_cert_to_DER_cert(other_cert.read_text()))
    for trust, error in (({}, ssl.SSLCertVerificationError), ({"ca_file": str(other_cert)}, ssl.SSLCertVerificationError),
                         ({"pin_sha256": other_pin}, PinMismatchError)):
        client = SyncClient(url, EntityStore(), **trust)
        with pytest.raises(error):
            await client.sign_in(username="alice", password="demo")
        assert not client.connected and client.user is None  # never got as far as signing in
        SECURITY.add(bad_inputs=1)
