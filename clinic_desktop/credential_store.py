"""The "remember me" refresh token, kept in the OS keychain through `keyring`, never in a file."""

from __future__ import annotations

import logging

import keyring
from keyring.errors import KeyringError

__all__ = ["CredentialStore"]

log = logging.getLogger(__name__)

_SERVICE = "DentalCare Connect"


class CredentialStore:
    """Where no keychain exists (a headless box) nothing is remembered; `available` says so up front,
    so the login window can tell the user instead of ticking a box that does nothing."""

    def __init__(self, service: str = _SERVICE) -> None:
        self.service = service

    @property
    def available(self) -> bool:
        """Whether a real keychain backs this store (keyring falls back to its "fail" backend otherwise)."""
        from keyring.backends import fail

        try:
            backend = keyring.get_keyring()
        except (KeyringError, RuntimeError, OSError):
            return False
        chained = getattr(backend, "backends", None)  # keyring's chainer: usable if any member is
        members = list(chained) if chained is not None else [backend]
        return any(not isinstance(member, fail.Keyring) for member in members)

    @staticmethod
    def _account(server: str, username: str) -> str:
        return f"{username}@{server}"

    def load(self, server: str, username: str) -> str | None:
        try:
            return keyring.get_password(self.service, self._account(server, username))
        except (KeyringError, RuntimeError, OSError) as exc:
            log.info("no keychain to read the remembered sign-in from: %s", exc)
            return None

    def save(self, server: str, username: str, refresh_token: str) -> bool:
        try:
            keyring.set_password(self.service, self._account(server, username), refresh_token)
            return True
        except (KeyringError, RuntimeError, OSError) as exc:
            log.info("no keychain; this sign-in will not be remembered: %s", exc)
            return False

    def forget(self, server: str, username: str) -> None:
        try:
            keyring.delete_password(self.service, self._account(server, username))
        except (KeyringError, RuntimeError, OSError):
            pass
