"""Coming back after an outage and staying signed in: the reconnect schedule, token refresh, heartbeat position.

The schedule is pure (a seeded Backoff); the rest runs the app's own sync client against the real
server (tests/server_process.py) on a fresh demo database.
"""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from clinic_desktop.main_window import MainWindow
from clinic_desktop.session import Session
from clinic_desktop.sync import Backoff, ConnectionState
from qt_async import until
from tests.server_process import ServerProcess


def test_backoff_is_equal_jitter_under_a_lan_sized_cap() -> None:
    """Delays are uniform in [ceiling / 2, ceiling], the ceiling grows then stops at a few seconds."""
    backoff = Backoff(rng=random.Random(7))
    ceilings, delays = [], []
    for _ in range(2000):
        ceilings.append(backoff.ceiling())
        delays.append(backoff.next_delay())
    assert all(max(backoff.floor, c / 2) <= d <= c for d, c in zip(delays, ceilings))
    assert ceilings[:4] == sorted(ceilings[:4]) and ceilings[0] < ceilings[3]
    assert max(ceilings) == backoff.maximum <= 3.0
    capped = delays[10:]
    # The random half is used from end to end: desktops that lost one server spread over it.
    assert sum(d < backoff.maximum * 0.6 for d in capped) > len(capped) / 10
    assert sum(d > backoff.maximum * 0.9 for d in capped) > len(capped) / 10
    backoff.reset()
    assert backoff.ceiling() == backoff.initial and backoff.next_delay() <= backoff.initial


@pytest.fixture
def restartable(database_url, tmp_path):
    """A real server that the test may stop and start again on the same port and database."""
    proc = ServerProcess(database_url, tmp_path / "data", tmp_path / "server.log",
                         extra_env={"CLINIC_HEARTBEAT_SECONDS": "0.5", "CLINIC_ACCESS_TOKEN_MINUTES": "0.05"})
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


async def _window(url: str, username: str, qtbot) -> MainWindow:
    """The app's own window and sync client with its default reconnect schedule."""
    session = Session(url)
    await session.sign_in(username=username, password="demo")
    window = MainWindow(session)
    qtbot.addWidget(window)
    window.show()
    return window


@pytest.mark.slow
def test_every_app_is_back_within_the_cap_once_the_server_answers(qt_async, qtbot, restartable) -> None:
    """After a long outage (the backoff at its ceiling) three apps reconnect within a few seconds of the restart."""

    async def scenario() -> None:
        windows = [await _window(restartable.ws_url, name, qtbot) for name in ("frontdesk", "drsmith", "alice")]
        await asyncio.to_thread(restartable.stop)
        for window in windows:
            await until(lambda w=window: w.banner.isVisible(), what="the reconnecting banner")
        # Long enough down that the old schedule (up to 30 s between tries) would be deep in its waits.
        await until(lambda: all(w.session.client.backoff.attempts >= 7 for w in windows), timeout=60,
                    what="several failed reconnects")
        await asyncio.to_thread(restartable.start)
        cap = windows[0].session.client.backoff.maximum + windows[0].session.client.open_timeout
        await until(lambda: all(w.session.state == ConnectionState.CONNECTED for w in windows), timeout=cap,
                    what=f"every app back within {cap:.0f} s of the server answering")
        assert not any(w.banner.isVisible() for w in windows)
        for window in windows:
            window.close()
            await window.session.close()

    qt_async.run(scenario(), timeout=180)


@pytest.mark.slow
def test_access_token_is_refreshed_ahead_of_expiry_without_a_reconnect(qt_async, qtbot, restartable) -> None:
    """With 3-second tokens the link outlives the server's expiry cut-off (expiry + 60 s): no 4002, no banner."""

    async def scenario() -> None:
        window = await _window(restartable.ws_url, "frontdesk", qtbot)
        client = window.session.client
        states: list[str] = []
        window.session.state_changed.connect(states.append)
        first_token = client.access_token
        ws = client._ws
        # The server closes a connection whose token expired more than 60 s ago (heartbeats every 0.5 s);
        # the first token is 3 s long, so by then the old client would have been cut off and reconnected.
        deadline = time.monotonic() + 3 + 60 + 3
        await until(lambda: time.monotonic() > deadline or states, timeout=90, what="the server's cut-off")
        assert states == [] and client.connects == 1 and client._ws is ws and ws.close_code is None
        assert not window.banner.isVisible()
        assert client.access_token != first_token
        # The refreshed session still writes.
        patient = await window.session.call("patients.create", name="Token Refresh Check")
        assert patient["name"] == "Token Refresh Check"
        window.close()
        await window.session.close()

    qt_async.run(scenario(), timeout=180)


@pytest.mark.slow
def test_heartbeat_moves_the_position_past_changes_the_user_cannot_see(qt_async, qtbot, restartable) -> None:
    """A new patient record is invisible to Alice, yet her store's seq follows the feed through the heartbeat."""

    async def scenario() -> None:
        frontdesk = await _window(restartable.ws_url, "frontdesk", qtbot)
        alice = await _window(restartable.ws_url, "alice", qtbot)
        before = alice.session.store.seq
        created = await frontdesk.session.call("patients.create", name="Someone Alice Never Sees")
        await until(lambda: frontdesk.session.store.get("patient", created["id"]) is not None, what="the event")
        target = frontdesk.session.store.seq
        assert target is not None and before is not None and target > before
        await until(lambda: alice.session.store.seq == target, what="alice's position to reach the feed's")
        assert alice.session.store.get("patient", created["id"]) is None
        for window in (frontdesk, alice):
            window.close()
            await window.session.close()

    qt_async.run(scenario(), timeout=120)
