"""Trusting the clinic server's certificate: a CA file, or a pinned certificate fingerprint.

A clinic server usually has a self-signed certificate. The client trusts it either through a CA
file (the certificate itself, or the clinic's own CA) or by pinning the SHA-256 fingerprint of the
server certificate; with a pin the certificate is checked against it right after the TLS
handshake, before anything (a password, a token) is sent.
Defaults come from `CLINIC_CA_FILE` and `CLINIC_CERT_SHA256`, so IT can set them per machine.
"""

from __future__ import annotations

import hashlib
import os
import ssl
from typing import Any

__all__ = ["PinMismatchError", "client_ssl_context", "check_pin", "fingerprint"]


class PinMismatchError(ssl.SSLError):
    """The server's certificate is not the pinned one: someone may be in the middle."""


def _normalise(pin: str) -> str:
    return pin.replace(":", "").strip().lower()


def fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate, as lowercase hex (what `openssl x509 -fingerprint -sha256` shows, sans colons)."""
    return hashlib.sha256(der).hexdigest()


def client_ssl_context(url: str, ca_file: str | None = None, pin_sha256: str | None = None) -> ssl.SSLContext | None:
    """The TLS context for `url` (None for ws://)."""
    if not url.startswith("wss://"):
        return None
    ca_file = ca_file or os.environ.get("CLINIC_CA_FILE") or None
    pin_sha256 = pin_sha256 or os.environ.get("CLINIC_CERT_SHA256") or None
    if pin_sha256:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        # The chain and name are not checked here: the pin, checked right after the handshake, is stricter.
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    return ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()


def check_pin(ws: Any, pin_sha256: str | None) -> None:
    """Raise PinMismatchError unless the connection's peer certificate has the pinned fingerprint."""
    pin_sha256 = pin_sha256 or os.environ.get("CLINIC_CERT_SHA256") or None
    if not pin_sha256:
        return
    ssl_object = ws.transport.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if der is None or fingerprint(der) != _normalise(pin_sha256):
        raise PinMismatchError("the server's certificate does not match the pinned fingerprint")
