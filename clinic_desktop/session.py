"""The signed-in session as Qt sees it: the store, the clinic clock and the sync client, with signals."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from .background_tasks import BackgroundTasks
from .clinic_clock import ClinicClock
from .store import Change, EntityStore
from .sync import ConnectionState, SyncClient

__all__ = ["Session"]


class Session(QObject):
    """Bridges the pure sync client to Qt signals; views read `store` and call through Operations."""

    state_changed = Signal(str)  # a ConnectionState value
    latency_changed = Signal(float)  # commit-to-screen milliseconds of the last event
    session_ended = Signal(str)  # the server refused the session for good; sign in again
    refresh_token_changed = Signal(str)

    def __init__(self, url: str, parent: QObject | None = None, *, heartbeat_timeout: float = 15.0) -> None:
        super().__init__(parent)
        self.url = url
        self.store = EntityStore()
        self.clock = ClinicClock()
        self.tasks = BackgroundTasks()  # every coroutine a view starts; awaited on quit
        # First listener: the zone must follow the settings row before any model formats a time.
        self.store.add_listener(self._on_store_changed)
        self.client = SyncClient(url, self.store, heartbeat_timeout=heartbeat_timeout)
        self.client.on_state(self._on_client_state)
        self.client.on_latency(self.latency_changed.emit)
        self.client.on_session_ended(self.session_ended.emit)
        self.client.on_refresh_token(lambda token: self.refresh_token_changed.emit(token or ""))

    # -- who ---------------------------------------------------------------------------------

    @property
    def user(self) -> dict[str, Any]:
        return self.client.user or {}

    @property
    def role(self) -> str:
        return str(self.user.get("role") or "")

    @property
    def dentist_id(self) -> int | None:
        return self.user.get("dentist_id")

    @property
    def patient_id(self) -> int | None:
        return self.user.get("patient_id")

    @property
    def state(self) -> ConnectionState:
        return self.client.state

    @property
    def online(self) -> bool:
        return self.client.connected

    # -- lifecycle ---------------------------------------------------------------------------

    async def sign_in(
        self, *, username: str | None = None, password: str | None = None, refresh_token: str | None = None
    ) -> dict[str, Any]:
        return await self.client.sign_in(username=username, password=password, refresh_token=refresh_token)

    async def call(self, method: str, **params: Any) -> Any:
        return await self.client.call(method, **params)

    async def close(self) -> None:
        """Finish the views' tasks, then close the connection (the order a clean quit needs)."""
        await self.tasks.close()
        await self.client.close()

    async def sign_out(self) -> None:
        await self.client.sign_out()

    # -- reactions ---------------------------------------------------------------------------

    def _on_client_state(self, state: ConnectionState) -> None:
        self.state_changed.emit(str(state))

    def _on_store_changed(self, change: Change) -> None:
        if change.kind == "settings":
            self.clock.set_zone(self.store.settings().get("timezone"))
