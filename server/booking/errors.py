"""The one exception the booking rules raise, carrying a wire `Reason` and a sentence for people."""

from __future__ import annotations

from server.protocol import Reason

__all__ = ["BookingError"]


class BookingError(Exception):
    """A booking rule said no: `reason` goes on the wire, `message` is for the person booking."""

    def __init__(self, reason: str, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.reason = Reason(reason)  # fails loudly on a reason the wire contract does not know
        self.message = message
        self.fields: dict[str, str] = dict(fields or {})  # per-field messages (invalid_params)

    def __repr__(self) -> str:
        return f"BookingError({str(self.reason)!r}, {self.message!r}, {self.fields!r})"
