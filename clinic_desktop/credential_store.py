"""The "remember me" refresh token, kept in the OS keychain through `keyring`, never in a file."""

from __future__ import annotations

import logging

import keyring
from keyring.errors import KeyringError

__all__ = ["CredentialStore"]

log = logging.getLogger(__name__)

_SERVICE = "DentalCare Connect"


class CredentialStore:
    """Where no keychain exists (a headless box), every call quietly does nothing: nothing is remembered."""

    def __init__(self, service: str = _SERVICE) -> None:
        self.service = service

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
