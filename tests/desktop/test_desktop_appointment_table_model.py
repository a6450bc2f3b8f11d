"""The appointment models change in place, stay fast at 10,000 rows and keep the selection."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QTableView

from clinic_desktop.clinic_clock import ClinicClock
from clinic_desktop.models import AppointmentFilterProxyModel, AppointmentRole, AppointmentTableModel
from clinic_desktop.store import EntityStore
from desktop_factories import BASE, appointment, event, make_snapshot


class SignalLog:
    """Counts a model's structural signals and remembers the roles named by dataChanged."""

    def __init__(self, model) -> None:
        self.resets = 0
        self.inserted = 0
        self.removed = 0
        self.changed = 0
        self.roles: set[int] = set()
        model.modelReset.connect(self._on_reset)
        model.rowsInserted.connect(self._on_inserted)
        model.rowsRemoved.connect(self._on_removed)
        model.dataChanged.connect(self._on_changed)

    def _on_reset(self) -> None:
        self.resets += 1

    def _on_inserted(self, parent, first: int, last: int) -> None:
        self.inserted += last - first + 1

    def _on_removed(self, parent, first: int, last: int) -> None:
        self.removed += last - first + 1

    def _on_changed(self, top_left, bottom_right, roles) -> None:
        self.changed += 1
        self.roles.update(int(role) for role in roles)


@pytest.mark.parametrize("checked", ["table", "proxy"])
def test_model_passes_qt_model_tester_through_changes(qtmodeltester, checked: str) -> None:
    """QAbstractItemModelTester finds no contract violation across inserts, updates, removals and a reset."""
    store = EntityStore()
    store.load_snapshot(make_snapshot(50), seq=1)
    model = AppointmentTableModel(store, ClinicClock())
    proxy = AppointmentFilterProxyModel()
    proxy.setSourceModel(model)
    proxy.set_text("alice")
    qtmodeltester.check(model if checked == "table" else proxy, force_py=True)
    store.apply_event(event(2, "appointment", appointment(500)))
    store.apply_event(event(3, "appointment", appointment(7, version=2, status="confirmed")))
    store.apply_event(event(4, "appointment", {"id": 3, "version": 2}, op="delete"))
    store.apply_event(event(5, "dentist", {"id": 1, "version": 2, "name": "Dr S. Smith", "user_id": 2,
                                           "colour": "#3b82f6", "active": True}))
    store.load_snapshot(make_snapshot(10), seq=6)
    assert model.rowCount() == 10


def test_ten_thousand_rows_absorb_a_thousand_events_in_place(qtbot) -> None:
    """1,000 events on 10,000 appointments insert, update and remove rows without any model reset, quickly."""
    store = EntityStore()
    store.load_snapshot(make_snapshot(10_000), seq=1)
    model = AppointmentTableModel(store, ClinicClock())
    proxy = AppointmentFilterProxyModel()
    proxy.setSourceModel(model)
    view = QTableView()
    view.setModel(proxy)
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    assert model.rowCount() == 10_000

    selected_id = 5_000
    selected = proxy.mapFromSource(model.index(model.row_of(selected_id), 0))
    view.selectionModel().select(
        selected, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
    )
    source_log = SignalLog(model)
    proxy_log = SignalLog(proxy)

    started = time.perf_counter()
    seq = 1
    for n in range(1_000):
        seq += 1
        if n % 3 == 0:
            store.apply_event(event(seq, "appointment", appointment(20_000 + n, start=BASE + timedelta(days=2, minutes=n))))
        elif n % 3 == 1:
            target = 1 + (n * 7) % 9_000
            store.apply_event(event(seq, "appointment", appointment(target, version=2, status="confirmed")))
        else:
            target = 9_001 + n // 3
            store.apply_event(event(seq, "appointment", {"id": target, "version": 9}, op="delete"))
    elapsed = time.perf_counter() - started

    assert source_log.resets == 0 and proxy_log.resets == 0
    assert source_log.inserted == 334 and source_log.removed == 333
    assert source_log.changed == 333
    assert {Qt.ItemDataRole.DisplayRole, AppointmentRole.STATUS} <= source_log.roles
    assert proxy_log.inserted == 334
    assert model.rowCount() == 10_000 + 334 - 333
    rows = view.selectionModel().selectedRows()
    assert [proxy.data(index, AppointmentRole.ID) for index in rows] == [selected_id]
    # Every id still maps to its row after removals shifted the tail.
    for row in range(0, model.rowCount(), 97):
        assert model.row_of(model.index(row, 0).data(AppointmentRole.ID)) == row
    assert elapsed < 10.0, f"1,000 events took {elapsed:.2f}s"


def test_proxy_filters_by_text_dentist_status_and_window() -> None:
    """Search text, dentist, status and a time window narrow the list; rows stay in start order."""
    store = EntityStore()
    store.load_snapshot(make_snapshot(20), seq=1)
    model = AppointmentTableModel(store, ClinicClock())
    proxy = AppointmentFilterProxyModel()
    proxy.setSourceModel(model)
    starts = [proxy.index(r, 0).data(AppointmentRole.START) for r in range(proxy.rowCount())]
    assert starts == sorted(starts)
    proxy.set_text("bob")
    assert proxy.rowCount() == 10
    proxy.set_dentist(1)
    assert all(proxy.index(r, 0).data(AppointmentRole.DENTIST_ID) == 1 for r in range(proxy.rowCount()))
    proxy.set_text("")
    proxy.set_dentist(None)
    proxy.set_window(BASE + timedelta(minutes=30), BASE + timedelta(minutes=30 * 4))
    assert [proxy.appointment_id(r) for r in range(proxy.rowCount())] == [1, 2, 3]
    proxy.set_window(None, None)
    store.apply_event(event(2, "appointment", appointment(4, version=2, status="cancelled")))
    proxy.set_statuses({"cancelled"})
    assert [proxy.appointment_id(r) for r in range(proxy.rowCount())] == [4]


def test_busy_blocks_show_no_patient() -> None:
    """Someone else's appointment (a busy block) shows as busy, never with a name."""
    store = EntityStore()
    store.load_snapshot(make_snapshot(0), seq=1)
    block = {"id": 9, "version": 1, "dentist_id": 1, "chair_id": None, "start": BASE.isoformat(),
             "end": (BASE + timedelta(minutes=30)).isoformat(), "status": "busy", "busy": True}
    store.apply_event(event(2, "appointment", block))
    model = AppointmentTableModel(store, ClinicClock())
    assert model.index(0, model.COL_PATIENT).data() == "(busy)"
    assert model.index(0, model.COL_STATUS).data() == "Busy"
