"""The front desk's appointment list: search, filters and a sortable table over the live model."""

from __future__ import annotations

from datetime import date, timedelta

from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtWidgets import QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLineEdit, QTableView, QVBoxLayout, QWidget

from ..messages import STATUS_LABELS
from ..models import AppointmentFilterProxyModel, AppointmentTableModel
from ..session import Session
from ..store import Change

__all__ = ["AppointmentListPanel"]


class AppointmentListPanel(QWidget):
    """Filters: free text, dentist, status, and a range relative to the calendar's day."""

    appointment_selected = Signal(int)

    RANGES = (("Selected day", "day"), ("Selected week", "week"), ("Upcoming", "upcoming"), ("All", "all"))

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._day = session.clock.today()
        self.model = AppointmentTableModel(session.store, session.clock, self)
        self.proxy = AppointmentFilterProxyModel(self)

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search patient, dentist, treatment, notes…")
        self.search.setClearButtonEnabled(True)
        self.dentist_filter = QComboBox()
        self.status_filter = QComboBox()
        self.status_filter.addItem("Any status", None)
        self.status_filter.addItem("Active", "active")
        for status, label in STATUS_LABELS.items():
            if status != "busy":
                self.status_filter.addItem(label, status)
        self.range_filter = QComboBox()
        for label, key in self.RANGES:
            self.range_filter.addItem(label, key)
        filters = QHBoxLayout()
        filters.addWidget(self.search, 3)
        filters.addWidget(self.dentist_filter, 1)
        filters.addWidget(self.status_filter, 1)
        filters.addWidget(self.range_filter, 1)

        # Narrow to the day before the proxy sees its 10,000 rows, and sort them once: the proxy
        # sorts what passes the filter, and the header asks for the order the proxy already has.
        self._apply_range()
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.horizontalHeader().setSortIndicator(AppointmentTableModel.COL_WHEN, Qt.SortOrder.AscendingOrder)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((150, 60, 130, 150, 110, 95)):
            self.table.setColumnWidth(column, width)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)

        self._fill_dentists()
        # Filtering 10,000 rows on every keystroke would stutter: wait for a pause in typing.
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(200)
        self._search_timer.timeout.connect(self._on_search_timer_timeout)
        self.search.textChanged.connect(self._on_search_text_changed)
        self.dentist_filter.currentIndexChanged.connect(self._on_dentist_filter_current_index_changed)
        self.status_filter.currentIndexChanged.connect(self._on_status_filter_current_index_changed)
        self.range_filter.currentIndexChanged.connect(self._on_range_filter_current_index_changed)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)
        session.store.add_listener(self._on_store_changed)

    def detach(self) -> None:
        self._session.store.remove_listener(self._on_store_changed)
        self.model.detach()

    def set_day(self, day: date) -> None:
        self._day = day
        self._apply_range()

    def select(self, appointment_id: int) -> None:
        row = self.model.row_of(appointment_id)
        if row is None:
            return
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if index.isValid():
            self.table.selectionModel().select(
                index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
            self.table.scrollTo(index)

    def _fill_dentists(self) -> None:
        current = self.dentist_filter.currentData()
        self.dentist_filter.blockSignals(True)
        self.dentist_filter.clear()
        self.dentist_filter.addItem("All dentists", None)
        for row in sorted(self._session.store.rows("dentist"), key=lambda r: r["id"]):
            self.dentist_filter.addItem(row["name"], row["id"])
        self.dentist_filter.setCurrentIndex(max(0, self.dentist_filter.findData(current)))
        self.dentist_filter.blockSignals(False)

    def _apply_range(self) -> None:
        key = self.range_filter.currentData()
        clock = self._session.clock
        if key == "day":
            self.proxy.set_window(*clock.day_bounds(self._day))
        elif key == "week":
            monday = self._day - timedelta(days=self._day.weekday())
            self.proxy.set_window(clock.day_bounds(monday)[0], clock.day_bounds(monday + timedelta(days=6))[1])
        elif key == "upcoming":
            self.proxy.set_window(clock.now(), None)
        else:
            self.proxy.set_window(None, None)

    def _on_search_text_changed(self, _text: str) -> None:
        self._search_timer.start()

    def _on_search_timer_timeout(self) -> None:
        self.proxy.set_text(self.search.text())

    def _on_dentist_filter_current_index_changed(self, _index: int) -> None:
        self.proxy.set_dentist(self.dentist_filter.currentData())

    def _on_status_filter_current_index_changed(self, _index: int) -> None:
        value = self.status_filter.currentData()
        if value == "active":
            self.proxy.set_statuses({"scheduled", "confirmed", "checked_in", "in_chair"})
        else:
            self.proxy.set_statuses({value} if value else None)

    def _on_range_filter_current_index_changed(self, _index: int) -> None:
        self._apply_range()

    def _on_table_selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            appointment_id = self.proxy.appointment_id(rows[0].row())
            if appointment_id is not None:
                self.appointment_selected.emit(appointment_id)

    def _on_store_changed(self, change: Change) -> None:
        if change.kind == "dentist":
            self._fill_dentists()
