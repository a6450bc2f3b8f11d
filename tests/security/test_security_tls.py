"""wss:// with a self-signed certificate: the desktop sync client trusts it by CA file or by pinned fingerprint, nothing else."""

from __future__ import annotations

import ssl
import urllib.request

import pytest

from clinic_desktop.store import EntityStore
from clinic_desktop.sync.client import SyncClient
from clinic_desktop.sync.tls import PinMismatchError, fingerprint
from tests.faults.counters import SECURITY
from tests.server_process import ServerProcess

x509 = pytest.importorskip("cryptography.x509", reason="needs cryptography (a keyring dependency) to make certificates")


def _certificate(tmp_path, name: str) -> tuple:
    """A fresh self-signed certificate for 127.0.0.1/localhost and its key, as PEM files."""
    import datetime
    import ipaddress

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "clinic-server")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


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
