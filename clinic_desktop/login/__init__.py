"""Sign-in: server address, username, password, remember me."""

from __future__ import annotations
