"""The front desk under a stream of events: coalesced repaints, one sort of what is shown, folded toasts."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from clinic_desktop.admin.appointment_list_panel import AppointmentListPanel
from clinic_desktop.admin.day_calendar_view import DayCalendarView
from clinic_desktop.clinic_clock import ClinicClock
from clinic_desktop.main_window import MainWindow
from clinic_desktop.models import AppointmentFilterProxyModel, AppointmentRole, AppointmentTableModel
from clinic_desktop.session import Session
from clinic_desktop.store import EntityStore
from clinic_desktop.sync import ConnectionState
from desktop_factories import appointment, directory, event
from qt_async import until
from scripted_server import ScriptedServer
from scripted_windows import open_scripted_window

LONDON = ZoneInfo("Europe/London")


def _on(day, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON)


def _offline_front_desk(appointments: list[dict]) -> Session:
    """A signed-in front desk's session with `appointments` loaded, never connected (frames are applied by hand)."""
    session = Session("ws://127.0.0.1:9/ws")
    session.client.user = {"id": 1, "username": "frontdesk", "name": "Front Desk", "role": "admin",
                           "dentist_id": None, "patient_id": None}
    session.client.state = ConnectionState.CONNECTED
    snapshot = directory()
    snapshot["appointment"] = appointments
    session.store.load_snapshot(snapshot, seq=1)
    return session


def _clinic(days: int, today) -> list[dict]:
    """Four appointments an hour for each dentist on `days` days around `today`, in a shuffled store order."""
    rows = []
    for offset in range(-(days // 2), days - days // 2):
        for dentist in (1, 2):
            for slot in range(16):
                start = _on(today + timedelta(days=offset), 9) + timedelta(minutes=30 * slot)
                rows.append(appointment(len(rows) + 1, dentist_id=dentist, patient_id=1 + slot % 2, start=start,
                                        status=("scheduled", "confirmed")[slot % 2]))
    random.Random(7).shuffle(rows)
    return rows


def test_calendar_shows_the_final_state_after_a_burst_with_few_paints(qtbot, store, clock) -> None:
    """200 changes to the shown day, spread over event-loop turns, end in the right blocks after a handful of paints."""
    day = datetime.now(LONDON).date() + timedelta(days=2)
    for n in range(1, 9):
        store.upsert("appointment", appointment(n, start=_on(day, 9) + timedelta(minutes=30 * n), dentist_id=1 + n % 2))
    calendar = DayCalendarView(store, clock)
    qtbot.addWidget(calendar)
    calendar.resize(900, 700)
    calendar.set_day(day)
    calendar.show()
    qtbot.waitUntil(lambda: len(calendar.painted_blocks()) == 8)
    versions = {n: 1 for n in range(1, 9)}
    statuses = ("confirmed", "checked_in", "in_chair", "completed")  # each row ends completed
    paints = calendar.paints
    for n in range(200):
        target = 1 + n % 8
        versions[target] += 1
        status = statuses[min(n // 50, 3)]
        start = _on(day, 9) + timedelta(minutes=30 * target)
        if target == 8 and n >= 192:  # the last change to #8 moves it to the next day: gone from this one
            start += timedelta(days=1)
        store.upsert("appointment", appointment(target, version=versions[target], start=start, status=status,
                                                dentist_id=1 + target % 2, notes=f"change {n}"))
        QApplication.processEvents()  # events arrive over many loop turns, as from the socket
    assert calendar.paints - paints <= 100, "a repaint per change: the burst was not coalesced"
    qtbot.waitUntil(lambda: not calendar.repaint_pending() and set(calendar.painted_blocks()) == set(range(1, 8)))
    final = calendar.painted_blocks()
    assert all("Completed" in final[n] for n in range(1, 8)), final
    assert calendar.visible_appointment_ids() == set(range(1, 8))


def test_calendar_repaints_for_a_single_change_without_further_events(qtbot, store, clock) -> None:
    """One status change on the shown day reaches the screen on its own (the coalescing timer fires)."""
    day = datetime.now(LONDON).date() + timedelta(days=2)
    store.upsert("appointment", appointment(1, start=_on(day, 10)))
    calendar = DayCalendarView(store, clock)
    qtbot.addWidget(calendar)
    calendar.resize(900, 700)
    calendar.set_day(day)
    calendar.show()
    qtbot.waitUntil(lambda: "Scheduled" in calendar.painted_blocks().get(1, ""))
    store.upsert("appointment", appointment(1, version=2, start=_on(day, 10), status="checked_in"))
    qtbot.waitUntil(lambda: "Checked in" in calendar.painted_blocks().get(1, ""))


def _old_order(rows: list[dict], column: int, model: AppointmentTableModel) -> list[int]:
    """The order the list had with its Python lessThan: time columns by start, others by text then start."""
    positions = {row["id"]: model.row_of(row["id"]) for row in rows}

    def key(row: dict):
        start = datetime.fromisoformat(row["start"]).timestamp()
        if column in (AppointmentTableModel.COL_WHEN, AppointmentTableModel.COL_UNTIL):
            return (start,)
        text = str(model.index(positions[row["id"]], column).data() or "").casefold()
        return (text, start)

    ordered = sorted(rows, key=lambda row: (key(row), positions[row["id"]]))  # stable: ties in source order
    return [row["id"] for row in ordered]


@pytest.mark.parametrize("column", range(len(AppointmentTableModel.COLUMNS)))
def test_every_column_sorts_as_before_with_the_sort_role(column: int) -> None:
    """Sorting by any column gives the order the Python lessThan gave, ties included, and follows a move."""
    clock = ClinicClock()
    store = EntityStore()
    snapshot = directory()
    base = _on(datetime(2026, 12, 7).date(), 9)
    rows = [appointment(n, start=base + timedelta(minutes=15 * (n * 7 % 13)), dentist_id=1 + n % 2,
                        patient_id=1 + n % 3 % 2, type_id=1 + n % 4, notes=("", "Bring X-rays", "anxious")[n % 3],
                        status=("scheduled", "confirmed", "cancelled")[n % 3]) for n in range(1, 40)]
    snapshot["appointment"] = rows
    store.load_snapshot(snapshot, seq=1)
    model = AppointmentTableModel(store, clock)
    proxy = AppointmentFilterProxyModel()
    proxy.setSourceModel(model)
    proxy.sort(column, Qt.SortOrder.AscendingOrder)
    shown = [proxy.appointment_id(r) for r in range(proxy.rowCount())]
    assert shown == _old_order(store.rows("appointment"), column, model)
    store.upsert("appointment", appointment(5, version=2, start=base - timedelta(hours=1), dentist_id=2,
                                            patient_id=2, type_id=3, notes="zz moved"))
    shown = [proxy.appointment_id(r) for r in range(proxy.rowCount())]
    assert shown == _old_order(store.rows("appointment"), column, model)


def test_list_opens_on_ten_thousand_appointments_filtered_to_the_day_and_sorted(qtbot, monkeypatch) -> None:
    """With 10,000 appointments the list opens on the day in start order without sorting the other days."""
    today = datetime.now(LONDON).date()
    rows = _clinic(days=313, today=today)  # 313 days x 32 = 10,016 appointments
    session = _offline_front_desk(rows)
    lookups = 0
    original = AppointmentTableModel.sort_key

    def counting(self, row: int, column: int):
        nonlocal lookups
        lookups += 1
        return original(self, row, column)

    monkeypatch.setattr(AppointmentTableModel, "sort_key", counting)
    panel = AppointmentListPanel(session)
    qtbot.addWidget(panel)
    panel.resize(900, 600)
    panel.show()
    expected = sorted((row for row in rows if session.clock.local_date(row["start"]) == today),
                      key=lambda row: (row["start"], row["dentist_id"]))
    shown = [panel.proxy.appointment_id(r) for r in range(panel.proxy.rowCount())]
    assert len(shown) == 32
    assert [session.store.get("appointment", i)["start"] for i in shown] == [row["start"] for row in expected]
    assert panel.table.horizontalHeader().sortIndicatorSection() == AppointmentTableModel.COL_WHEN
    assert panel.table.horizontalHeader().sortIndicatorOrder() == Qt.SortOrder.AscendingOrder
    # Sorting the whole book would take some 270,000 key lookups; the day's 32 rows take a few hundred.
    assert lookups < 2_000, f"{lookups} sort-key lookups: the list sorted more than the day"

    panel.range_filter.setCurrentIndex(panel.range_filter.findData("all"))
    starts = [panel.proxy.index(r, 0).data(AppointmentRole.START) for r in range(panel.proxy.rowCount())]
    assert len(starts) == len(rows) and starts == sorted(starts)
    panel.range_filter.setCurrentIndex(panel.range_filter.findData("day"))
    assert panel.proxy.rowCount() == 32
    panel.detach()


def test_a_burst_of_status_changes_is_folded_into_one_toast(qtbot, monkeypatch) -> None:
    """300 status changes by others show the first at once, then one message saying how many more came."""
    today = datetime.now(LONDON).date()
    rows = [appointment(n, start=_on(today, 9) + timedelta(minutes=5 * n), patient_id=1 + n % 2) for n in range(1, 301)]
    session = _offline_front_desk(rows)
    window = MainWindow(session)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    shown: list[str] = []
    original = window.toast.show_message

    def recording(text: str, **kwargs) -> None:
        shown.append(text)
        original(text, **kwargs)

    monkeypatch.setattr(window.toast, "show_message", recording)
    for n, row in enumerate(rows, start=2):
        session.store.apply_event(event(n, "appointment", dict(row, version=2, status="confirmed")))
    assert shown == [f"{rows[0]['patient_name']}: Confirmed"]
    qtbot.waitUntil(lambda: len(shown) == 2)
    assert shown[1] == f"{rows[-1]['patient_name']}: Confirmed\n… and 298 more changes"
    assert window.last_toast == shown[1] and window.toast.pending_news() == 0
    window.close()


def test_an_error_toast_is_not_covered_by_news(qtbot) -> None:
    """A failure of the user's own action stays up while others' changes arrive; they show afterwards."""
    today = datetime.now(LONDON).date()
    rows = [appointment(n, start=_on(today, 9) + timedelta(minutes=5 * n)) for n in range(1, 4)]
    session = _offline_front_desk(rows)
    window = MainWindow(session)
    qtbot.addWidget(window)
    window.show()
    window.show_toast("Could not save.", error=True)
    session.store.apply_event(event(2, "appointment", dict(rows[0], version=2, status="confirmed")))
    assert window.last_toast == "Could not save." and window.toast.pending_news() == 1
    window.close()


def test_last_sync_shows_the_newest_latency_after_a_burst(qtbot) -> None:
    """Many latency reports in a row end with the newest one on screen."""
    session = _offline_front_desk([])
    window = MainWindow(session)
    qtbot.addWidget(window)
    for milliseconds in range(1, 501):
        session.latency_changed.emit(float(milliseconds))
    qtbot.waitUntil(lambda: window.indicator.latency_label.text() == "last sync 500 ms")
    window.close()


def test_status_button_reflects_an_event_that_arrived_during_the_write(qt_async, qtbot) -> None:
    """Someone completes the appointment while our status change is in flight: Set status ends disabled."""
    server = ScriptedServer()
    server.held.add("appointments.update")

    async def scenario() -> None:
        await server.start()
        window = await open_scripted_window(server, "frontdesk", qtbot)
        view = window.view
        await until(lambda: window.session.store.get("appointment", 2) is not None, what="the snapshot")
        view.select_appointment(2)
        assert view.details.status_button.isEnabled()
        server.hold.clear()
        view.change_status(2, "checked_in")
        await until(lambda: "appointments.update" in server.methods(), what="the request")
        assert not view.details.status_button.isEnabled()
        await server.push("appointment", appointment(2, version=5, status="completed"))
        await until(lambda: window.session.store.get("appointment", 2)["status"] == "completed", what="the event")
        server.hold.set()
        await until(lambda: window.last_toast.endswith("Checked in"), what="the call to finish")
        assert not view.details.status_button.isEnabled()
        assert not view.details.move_button.isEnabled()
        await window.session.close()
        await server.stop()

    qt_async.run(scenario())
