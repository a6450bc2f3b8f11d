"""The booking assistant's chat panel (the engine lives on the server: `assistant.message`)."""

from __future__ import annotations

from .chat_panel import ChatPanel

__all__ = ["ChatPanel"]
