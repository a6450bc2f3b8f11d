"""`clinic-desktop --self-test`: prove an installation works end to end, then exit.

Starts the bundled sync server on a temporary embedded PostgreSQL with the demo clinic, signs in
as the front desk and as a dentist, books an appointment, and waits until the booking comes back
to both as a change-feed event (not as the call's reply) and shows up in the Qt appointment model.
Prints each step; the exit code is 0 only if the event arrived. Everything temporary is removed.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from .build_info import frozen, package_version, server_command
from .demo_server import DemoServer, DemoServerError
from .store import Change, EntityStore

__all__ = ["run_self_test"]

EVENT_TIMEOUT = 30.0  # seconds for the booking's event to come back; a healthy server takes milliseconds


class SelfTestFailed(Exception):
    """A step failed; the message says which and why."""


def run_self_test(print_line: Callable[[str], None] | None = None) -> int:
    """Run the self-test; 0 if the booking's event arrived, 1 otherwise (the reason is printed)."""
    say = print_line or (lambda line: print(line, flush=True))
    say(f"DentalCare Connect {package_version()} self-test ({'bundle' if frozen() else 'source'}, "
        f"Python {sys.version.split()[0]})")
    started = time.monotonic()
    data_dir = Path(tempfile.mkdtemp(prefix="clinic-self-test-"))
    try:
        app = _qt_application()
        say(f"Qt {_qt_version()} started on the '{app.platformName()}' platform")
        icon = _check_icon()
        say(f"application icon loaded from {icon}" if icon else "application icon: not part of this installation "
            "(a wheel has no top-level resources/; source checkouts and bundles do)")
        asyncio.run(_exercise(data_dir, say))
    except (SelfTestFailed, DemoServerError) as exc:
        say(f"self-test FAILED: {exc}")
        return 1
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    say(f"self-test passed in {time.monotonic() - started:.1f} s")
    return 0


def _qt_application() -> Any:
    from PySide6.QtWidgets import QApplication

    existing = QApplication.instance()
    return existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])


def _check_icon() -> Path | None:
    """The window icon renders (the resources and Qt's SVG plugin are in place); required in a bundle."""
    from PySide6.QtGui import QIcon

    from .app import ICON

    if not ICON.exists():
        if frozen():
            raise SelfTestFailed(f"the application icon is missing from the bundle: {ICON}")
        return None
    if QIcon(str(ICON)).pixmap(64, 64).isNull():
        raise SelfTestFailed(f"Qt cannot render the application icon {ICON} (SVG support missing?)")
    return ICON


def _qt_version() -> str:
    from PySide6.QtCore import qVersion

    return str(qVersion())


async def _exercise(data_dir: Path, say: Callable[[str], None]) -> None:
    from .sync.client import SyncClient

    server = DemoServer(command=server_command("serve", "--demo", "--port", "{port}", "--workers", "1", "--host", "127.0.0.1",
                                               "--data-dir", str(data_dir), "--log-level", "WARNING"))
    t0 = time.monotonic()
    url = await server.start()
    say(f"started the bundled server at {url} on a new embedded PostgreSQL in {data_dir} "
        f"({time.monotonic() - t0:.1f} s)")
    desk = SyncClient(url, EntityStore())
    dentist = SyncClient(url, EntityStore())
    try:
        desk_user = await desk.sign_in(username="frontdesk", password="demo")
        say(f"signed in as frontdesk ({desk_user['role']}); snapshot of {desk.store.count('appointment')} "
            f"appointments at seq {desk.store.seq}")
        smith_user = await dentist.sign_in(username="drsmith", password="demo")
        dentist_id = smith_user["dentist_id"]
        say(f"signed in as drsmith ({smith_user['role']}, dentist {dentist_id})")
        model = _appointment_model(desk.store)
        rows_before = model.rowCount()

        desk_event = _event_waiter(desk.store)
        dentist_event = _event_waiter(dentist.store)
        booked = await _book(desk, dentist_id)
        say(f"booked appointment {booked['id']}: {booked.get('patient_name', 'patient ' + str(booked['patient_id']))} "
            f"with dentist {booked['dentist_id']} at {booked['start']}")
        try:
            seen = await asyncio.wait_for(
                asyncio.gather(desk_event(booked["id"]), dentist_event(booked["id"])), EVENT_TIMEOUT)
        except asyncio.TimeoutError:
            raise SelfTestFailed(f"the booking's event did not arrive within {EVENT_TIMEOUT:.0f} s") from None
        for who, change in zip(("frontdesk", "drsmith"), seen):
            say(f"{who} received the event for appointment {booked['id']} (committed {change.committed_at}, "
                f"store seq {desk.store.seq if who == 'frontdesk' else dentist.store.seq})")
        if model.rowCount() != rows_before + 1:
            raise SelfTestFailed(f"the appointment table shows {model.rowCount()} rows, expected {rows_before + 1}")
        say(f"the appointment table model went from {rows_before} to {model.rowCount()} rows")
    finally:
        await desk.close()
        await dentist.close()
        await server.stop()
        say("stopped the server and its embedded PostgreSQL")


def _appointment_model(store: EntityStore) -> Any:
    from .clinic_clock import ClinicClock
    from .models.appointment_table_model import AppointmentTableModel

    return AppointmentTableModel(store, ClinicClock(store.settings().get("timezone") or "Europe/London"))


def _event_waiter(store: EntityStore) -> Callable[[int], Any]:
    """Start listening now (before the booking) for an event that inserts appointment `id`."""
    changes: list[Change] = []
    arrived = asyncio.Event()

    def on_change(change: Change) -> None:
        if change.kind == "appointment" and change.committed_at is not None:
            changes.append(change)
            arrived.set()

    store.add_listener(on_change)

    async def wait_for(appointment_id: int) -> Change:
        try:
            while True:
                for change in changes:
                    if change.row is not None and change.row.get("id") == appointment_id:
                        return change
                arrived.clear()
                await arrived.wait()
        finally:
            store.remove_listener(on_change)

    return wait_for


async def _book(client: Any, dentist_id: int) -> dict[str, Any]:
    """Book the first free Check-up with the dentist in the next two weeks for the first patient."""
    types = [t for t in client.store.rows("appointment_type") if t.get("name") == "Check-up"]
    patients = client.store.rows("patient")
    if not types or not patients:
        raise SelfTestFailed("the demo clinic has no Check-up type or no patient")
    first, last = date.today() + timedelta(days=1), date.today() + timedelta(days=14)
    slots = await client.call("slots.find", type_id=types[0]["id"], dentist_id=dentist_id,
                              **{"from": first.isoformat(), "to": last.isoformat()})
    if not slots:
        raise SelfTestFailed("no free slot in the next two weeks")
    return dict(await client.call("appointments.create", dentist_id=dentist_id, type_id=types[0]["id"],
                                  patient_id=patients[0]["id"], start=slots[0]["start"],
                                  notes="self-test booking"))
