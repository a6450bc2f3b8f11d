"""Helpers for view tests: a signed-in window (on the scripted peer or a real server), a slot shaped like the server's."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from clinic_desktop.main_window import MainWindow
from clinic_desktop.session import Session
from clinic_desktop.sync import Backoff
from scripted_server import ScriptedServer

LONDON = ZoneInfo("Europe/London")


def slot_at(days: int, hour: int, dentist_id: int = 1) -> dict:
    """A 30-minute slot `days` from today at `hour` (clinic time), shaped like slots.find's."""
    day = datetime.now(LONDON).date() + timedelta(days=days)
    start = datetime.combine(day, time(hour, 0), tzinfo=LONDON).astimezone(timezone.utc)
    return {"dentist_id": dentist_id, "start": start.isoformat(), "end": (start + timedelta(minutes=30)).isoformat(),
            "type_id": 1}


async def open_window(url: str, username: str, qtbot, *, heartbeat_timeout: float = 15.0,
                      backoff: Backoff | None = None) -> MainWindow:
    """Sign in as `username` (password "demo") and show that user's main window at 1280x800."""
    session = Session(url, heartbeat_timeout=heartbeat_timeout)
    if backoff is not None:
        session.client.backoff = backoff
    await session.sign_in(username=username, password="demo")
    window = MainWindow(session)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    return window


async def open_scripted_window(server: ScriptedServer, username: str, qtbot) -> MainWindow:
    """A window on the scripted peer, with a short heartbeat timeout and quick reconnects."""
    return await open_window(server.url, username, qtbot, heartbeat_timeout=2.0,
                             backoff=Backoff(initial=0.05, maximum=0.3))
