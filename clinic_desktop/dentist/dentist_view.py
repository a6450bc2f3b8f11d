"""A dentist's day: own appointments with one-click status buttons (and a same-day undo), the next days, own hours."""

from __future__ import annotations

from datetime import date, timedelta

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtGui import QCursor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..admin.availability_dialog import AvailabilityDialog
from ..admin.day_calendar_view import DayCalendarView
from ..admin.waiting_room_panel import WaitingRoomPanel
from ..booking.booking_dialog import BookingDialog
from ..messages import STATUS_LABELS
from ..models import (
    AppointmentFilterProxyModel,
    AppointmentTableModel,
    StrandedAppointments,
    status_choices,
)
from ..operations import Operations
from ..patients.medical_alert import MedicalAlertBanner
from ..role_view import RoleView
from ..session import Session
from ..store import Change

__all__ = ["DentistView"]

_STATUS_BUTTONS = (("checked_in", "Checked in"), ("in_chair", "In chair"), ("completed", "Completed"),
                   ("no_show", "No-show"))
_ACTIVE = {"scheduled", "confirmed", "checked_in", "in_chair"}
_HINT = "Select an appointment, then set its status with one click."


def _configure_table(table: QTableView) -> None:
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setAlternatingRowColors(True)
    table.verticalHeader().hide()
    table.setWordWrap(False)
    table.horizontalHeader().setStretchLastSection(True)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)


class DentistView(RoleView):
    """The dentist's own appointments for one day (today by default), live; statuses are one click each."""

    def __init__(self, session: Session, operations: Operations, parent: QWidget | None = None) -> None:
        super().__init__(session, operations, parent)
        self.day = session.clock.today()
        self.model = AppointmentTableModel(session.store, session.clock, self)
        # Filters first, then the source: each proxy sorts only what passes (a day, two weeks of one
        # dentist), not the clinic's 10,000 appointments before narrowing them down.
        self.day_proxy = AppointmentFilterProxyModel(self)
        self.day_proxy.set_dentist(session.dentist_id)
        self.day_proxy.set_hide_busy(True)
        self.upcoming_proxy = AppointmentFilterProxyModel(self)
        self.upcoming_proxy.set_dentist(session.dentist_id)
        self.upcoming_proxy.set_hide_busy(True)
        self.upcoming_proxy.set_statuses(_ACTIVE)
        self._apply_windows()
        self.day_proxy.setSourceModel(self.model)
        self.upcoming_proxy.setSourceModel(self.model)

        self.previous_day_button = QPushButton("‹ Day")
        self.today_button = QPushButton("Today")
        self.next_day_button = QPushButton("Day ›")
        self.day_label = QLabel()
        font = self.day_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.day_label.setFont(font)
        self.hours_button = self.add_write_control(QPushButton("My hours and days off…"))
        toolbar = QHBoxLayout()
        for button in (self.previous_day_button, self.today_button, self.next_day_button):
            toolbar.addWidget(button)
        toolbar.addSpacing(12)
        toolbar.addWidget(self.day_label)
        toolbar.addStretch(1)
        toolbar.addWidget(self.hours_button)

        self.day_table = QTableView()
        self.day_table.setObjectName("dentistDayTable")
        self.day_table.setModel(self.day_proxy)
        _configure_table(self.day_table)
        for column, width in enumerate((150, 60, 0, 170, 120, 130)):
            if width:
                self.day_table.setColumnWidth(column, width)
        self.day_table.hideColumn(AppointmentTableModel.COL_DENTIST)
        self.status_buttons: dict[str, QPushButton] = {}
        buttons = QHBoxLayout()
        for status, label in _STATUS_BUTTONS:
            button = QPushButton(label)
            button.setMinimumHeight(40)
            button.clicked.connect(lambda _checked=False, s=status: self._on_status_button_clicked(s))
            self.status_buttons[status] = self.add_write_control(button)
            buttons.addWidget(button)
        # A mistaken click taken back, on the appointment's day (the server audits it like any change).
        self.undo_button = self.add_write_control(QPushButton("Undo status"))
        self.undo_button.setMinimumHeight(40)
        buttons.addWidget(self.undo_button)
        self.selection_label = QLabel(_HINT)
        self.selection_label.setWordWrap(True)
        self._stranded = StrandedAppointments.of(session.store, session.clock)
        self.day_box = day_box = QGroupBox("My appointments")
        day_layout = QVBoxLayout(day_box)
        day_layout.addWidget(self.day_table, 1)
        day_layout.addWidget(self.selection_label)
        self.alert_banner = MedicalAlertBanner(session.store)  # the selected patient's medical alerts
        day_layout.addWidget(self.alert_banner)
        day_layout.addLayout(buttons)

        self.upcoming_table = QTableView()
        self.upcoming_table.setModel(self.upcoming_proxy)
        _configure_table(self.upcoming_table)
        self.upcoming_table.hideColumn(AppointmentTableModel.COL_DENTIST)
        self.upcoming_table.hideColumn(AppointmentTableModel.COL_UNTIL)
        self.upcoming_table.hideColumn(AppointmentTableModel.COL_NOTES)
        self.upcoming_table.setColumnWidth(AppointmentTableModel.COL_WHEN, 140)
        self.upcoming_table.setColumnWidth(AppointmentTableModel.COL_PATIENT, 125)
        self.upcoming_table.setColumnWidth(AppointmentTableModel.COL_TYPE, 110)
        # The day as a timeline: own hours, breaks and days off at a glance, blocks selectable.
        self.timeline = DayCalendarView(session.store, session.clock)
        self.timeline.only_dentist_id = session.dentist_id
        self.timeline.setMinimumSize(260, 480)
        timeline_scroll = QScrollArea()
        timeline_scroll.setWidgetResizable(True)
        timeline_scroll.setWidget(self.timeline)
        # Who of the dentist's patients is waiting, and for how long (live, ticking).
        self.waiting_room = WaitingRoomPanel(session.store, session.clock, dentist_id=session.dentist_id)
        self.last_arrival: str | None = None  # the last arrival announced (tests, diagnostics)
        self.side_tabs = QTabWidget()
        self.side_tabs.addTab(timeline_scroll, "Day timeline")
        self.side_tabs.addTab(self.upcoming_table, "Next 14 days")
        self.side_tabs.addTab(self.waiting_room, "Waiting room")
        self._update_waiting_tab()
        self.waiting_room.entries_changed.connect(self._on_waiting_room_entries_changed)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(day_box)
        splitter.addWidget(self.side_tabs)
        splitter.setSizes([760, 480])
        layout = QVBoxLayout(self)
        layout.addLayout(toolbar)
        layout.addWidget(splitter, 1)

        self.previous_day_button.clicked.connect(self._on_previous_day_button_clicked)
        self.today_button.clicked.connect(self._on_today_button_clicked)
        self.next_day_button.clicked.connect(self._on_next_day_button_clicked)
        self.hours_button.clicked.connect(self._on_hours_button_clicked)
        self.undo_button.clicked.connect(self._on_undo_button_clicked)
        self.day_table.selectionModel().selectionChanged.connect(self._on_day_table_selection_changed)
        self.timeline.appointment_selected.connect(self._on_timeline_appointment_selected)
        session.store.add_listener(self._on_store_changed)
        self.set_day(self.day)

    def detach(self) -> None:
        self.session.store.remove_listener(self._on_store_changed)
        self.timeline.detach()
        self.waiting_room.detach()
        self.alert_banner.detach()
        self.model.detach()

    # -- navigation --------------------------------------------------------------------------

    def set_day(self, day: date) -> None:
        """Show another day; the selection (and what it showed) belongs to the day it was made on."""
        clock = self.session.clock
        changed = day != self.day
        self.day = day
        self._apply_windows()
        self.timeline.set_day(day)
        if changed:
            self.day_table.clearSelection()
            self.timeline.select(0)
        suffix = "  (today)" if day == clock.today() else ""
        self.day_label.setText(clock.format_day(day) + suffix)
        self.day_box.setTitle(f"My appointments on {clock.format_day(day)}")
        self.update_actions()

    def _apply_windows(self) -> None:
        """The chair schedule shows the chosen day; "Next 14 days" starts tomorrow."""
        clock = self.session.clock
        self.day_proxy.set_window(*clock.day_bounds(self.day))
        start = clock.day_bounds(clock.today() + timedelta(days=1))[0]
        self.upcoming_proxy.set_window(start, start + timedelta(days=14))

    def go_days(self, days: int) -> None:
        self.set_day(self.day + timedelta(days=days))

    def go_today(self) -> None:
        self.set_day(self.session.clock.today())

    def new_appointment(self) -> BookingDialog | None:
        """Book into the dentist's own diary (a follow-up for their patient), on the shown day."""
        if not self.writable:
            return None
        clock = self.session.clock
        dialog = BookingDialog(self.session, self.operations, dentist_id=self.session.dentist_id,
                               day=clock.at(max(self.day, clock.today()), "08:00"), parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    # -- statuses ----------------------------------------------------------------------------

    def selected_id(self) -> int | None:
        rows = self.day_table.selectionModel().selectedRows()
        return self.day_proxy.appointment_id(rows[0].row()) if rows else None

    def select_appointment(self, appointment_id: int) -> bool:
        row = self.model.row_of(appointment_id)
        if row is None:
            return False
        index = self.day_proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():
            return False
        self.day_table.selectRow(index.row())
        return True

    def set_status(self, appointment_id: int, status: str) -> None:
        row = self.session.store.get("appointment", appointment_id)
        if row is None:
            return
        self.session.tasks.spawn(self.operations.run(
            "appointments.update", {"id": appointment_id, "version": row["version"], "status": status},
            controls=[*self.status_buttons.values(), self.undo_button],
            done=f"{row.get('patient_name') or 'Appointment'}: {STATUS_LABELS.get(status, status)}"),
            name="appointments.update")

    def update_actions(self) -> None:
        """Only the status changes the state machine allows now are enabled (and the undo, on the day)."""
        appointment_id = self.selected_id()
        row = self.session.store.get("appointment", appointment_id) if appointment_id else None
        status = row.get("status") if row else None
        choices = status_choices(row, self.session.role, self.session.clock)
        for target, button in self.status_buttons.items():
            button.setEnabled(self.writable and target in choices.forward)
        self.undo_button.setEnabled(self.writable and bool(choices.undo))
        self.undo_button.setText(f"Undo {STATUS_LABELS[status].lower()}" if choices.undo and status else "Undo status")
        self.alert_banner.show_patient(row.get("patient_id") if row else None, row)
        if row is None:
            self.selection_label.setText(_HINT)
            return
        text = (f"{row.get('patient_name') or ''}, {self.session.clock.format_time(row['start'])}: "
                f"{STATUS_LABELS.get(status or '', status or '')}")
        if row["id"] in self._stranded:
            text += " · needs rebooking (outside your working hours now; the front desk will move it)"
        self.selection_label.setText(text)

    def _on_undo_button_clicked(self) -> None:
        """Back one step; where two steps back are possible (e.g. scheduled or confirmed), ask which."""
        appointment_id = self.selected_id()
        row = self.session.store.get("appointment", appointment_id) if appointment_id else None
        undo = status_choices(row, self.session.role, self.session.clock).undo
        if appointment_id is None or not undo:
            return
        if len(undo) == 1:
            self.set_status(appointment_id, undo[0])
            return
        menu = QMenu(self)
        for target in undo:
            menu.addAction(f"Back to {STATUS_LABELS[target].lower()}",
                           lambda t=target: self.set_status(appointment_id, t))
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(QCursor.pos())

    def _on_status_button_clicked(self, status: str) -> None:
        appointment_id = self.selected_id()
        if appointment_id is not None:
            self.set_status(appointment_id, status)

    def _on_day_table_selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        appointment_id = self.selected_id()
        if appointment_id is not None:
            self.timeline.select(appointment_id)
        self.update_actions()

    def _on_timeline_appointment_selected(self, appointment_id: int) -> None:
        if appointment_id:
            self.select_appointment(appointment_id)

    def _on_previous_day_button_clicked(self) -> None:
        self.go_days(-1)

    def _on_today_button_clicked(self) -> None:
        self.go_today()

    def _on_next_day_button_clicked(self) -> None:
        self.go_days(1)

    def _on_hours_button_clicked(self) -> None:
        dialog = AvailabilityDialog(self.session, self.operations, dentist_id=self.session.dentist_id,
                                    lock_dentist=True, day=self.day, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def _on_waiting_room_entries_changed(self) -> None:
        self._update_waiting_tab()

    def _update_waiting_tab(self) -> None:
        count = len(self.waiting_room.waiting())
        index = self.side_tabs.indexOf(self.waiting_room)
        self.side_tabs.setTabText(index, f"Waiting room ({count})" if count else "Waiting room")

    def _announce_arrival(self, row: dict) -> None:
        """A patient of this dentist has just been checked in (by someone else): say so, and flash the window."""
        clock = self.session.clock
        types = {t["id"]: t.get("name", "") for t in self.session.store.rows("appointment_type")}
        text = (f"{row.get('patient_name') or 'Your patient'} has arrived for "
                f"{clock.local(row['start']):%H:%M} {types.get(row.get('type_id'), '')}".rstrip() + ".")
        self.last_arrival = text
        window = self.window()
        show_toast = getattr(window, "show_toast", None)
        if callable(show_toast):
            show_toast(text)
        QApplication.alert(window)

    def _on_store_changed(self, change: Change) -> None:
        if change.kind in ("appointment", "working_hours", "schedule_exception"):
            self.update_actions()
        if change.kind == "appointment":
            row, previous = change.row, change.previous
            if (change.committed_at is not None and row is not None and row.get("status") == "checked_in"
                    and row.get("dentist_id") == self.session.dentist_id and not row.get("busy")
                    and (previous is None or previous.get("status") != "checked_in")):
                self._announce_arrival(row)
