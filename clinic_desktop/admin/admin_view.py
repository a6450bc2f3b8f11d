"""The front desk: day calendar and appointment list, booking, moving, cancelling, statuses, hours."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMenu, QPushButton, QScrollArea, QSplitter, QTabWidget, QVBoxLayout, QWidget

from ..booking.booking_dialog import BookingDialog
from ..booking.cancel_dialog import CancelDialog
from ..messages import STATUS_LABELS
from ..models import status_choices
from ..operations import Operations
from ..role_view import RoleView
from ..session import Session
from ..store import Change
from .appointment_details_panel import AppointmentDetailsPanel
from .appointment_list_panel import AppointmentListPanel
from .availability_dialog import AvailabilityDialog
from .needs_rebooking_panel import NeedsRebookingPanel
from ..widgets.type_legend import TypeLegend
from .day_calendar_view import DayCalendarView

__all__ = ["AdminView"]


class AdminView(RoleView):
    """Everything the front desk does, on one screen; every part follows the store live."""

    def __init__(self, session: Session, operations: Operations, parent: QWidget | None = None) -> None:
        super().__init__(session, operations, parent)
        self.day = session.clock.today()

        self.previous_week_button = QPushButton("« Week")
        self.previous_day_button = QPushButton("‹ Day")
        self.today_button = QPushButton("Today")
        self.next_day_button = QPushButton("Day ›")
        self.next_week_button = QPushButton("Week »")
        self.day_label = QLabel()
        font = self.day_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.day_label.setFont(font)
        self.new_button = self.add_write_control(QPushButton("New appointment…"))
        self.hours_button = self.add_write_control(QPushButton("Dentists' hours…"))
        toolbar = QHBoxLayout()
        for button in (self.previous_week_button, self.previous_day_button, self.today_button,
                       self.next_day_button, self.next_week_button):
            toolbar.addWidget(button)
        toolbar.addSpacing(12)
        toolbar.addWidget(self.day_label)
        toolbar.addStretch(1)
        toolbar.addWidget(self.new_button)
        toolbar.addWidget(self.hours_button)

        self.calendar = DayCalendarView(session.store, session.clock)
        self.calendar_scroll = QScrollArea()
        self.calendar_scroll.setWidgetResizable(True)
        self.calendar_scroll.setWidget(self.calendar)
        self.list_panel = AppointmentListPanel(session)
        self.rebooking_panel = NeedsRebookingPanel(session)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.calendar_scroll, "Day calendar")
        self.tabs.addTab(self.list_panel, "Appointments")
        self.rebooking_tab = self.tabs.addTab(self.rebooking_panel, "")
        self.details = AppointmentDetailsPanel(session)
        for widget in self.details.action_widgets():
            self.add_write_control(widget)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.tabs)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setChildrenCollapsible(False)
        self.legend = TypeLegend(session.store)
        hint = QLabel("Double-click a free spot to book there; right-click an appointment for its status.")
        hint.setEnabled(False)
        footer = QHBoxLayout()
        footer.addWidget(self.legend)
        footer.addStretch(1)
        footer.addWidget(hint)
        layout = QVBoxLayout(self)
        layout.addLayout(toolbar)
        layout.addWidget(splitter, 1)
        layout.addLayout(footer)

        self.previous_week_button.clicked.connect(self._on_previous_week_button_clicked)
        self.previous_day_button.clicked.connect(self._on_previous_day_button_clicked)
        self.today_button.clicked.connect(self._on_today_button_clicked)
        self.next_day_button.clicked.connect(self._on_next_day_button_clicked)
        self.next_week_button.clicked.connect(self._on_next_week_button_clicked)
        self.new_button.clicked.connect(self._on_new_button_clicked)
        self.hours_button.clicked.connect(self._on_hours_button_clicked)
        self.calendar.appointment_selected.connect(self._on_calendar_appointment_selected)
        self.calendar.slot_requested.connect(self._on_calendar_slot_requested)
        self.calendar.context_menu_requested.connect(self._on_calendar_context_menu_requested)
        self.list_panel.appointment_selected.connect(self._on_list_panel_appointment_selected)
        self.rebooking_panel.appointment_selected.connect(self._on_rebooking_panel_appointment_selected)
        self.rebooking_panel.count_changed.connect(self._on_rebooking_panel_count_changed)
        self._on_rebooking_panel_count_changed(len(self.rebooking_panel.appointment_ids()))
        self.details.move_requested.connect(self._on_details_move_requested)
        self.details.cancel_requested.connect(self._on_details_cancel_requested)
        self.details.status_requested.connect(self._on_details_status_requested)
        session.store.add_listener(self._on_store_changed)
        self.set_day(self.day)
        self.update_actions()

    def detach(self) -> None:
        self.session.store.remove_listener(self._on_store_changed)
        self.calendar.detach()
        self.legend.detach()
        self.list_panel.detach()
        self.rebooking_panel.detach()
        self.details.detach()

    # -- navigation --------------------------------------------------------------------------

    def set_day(self, day: date) -> None:
        self.day = day
        self.calendar.set_day(day)
        self.list_panel.set_day(day)
        suffix = "  (today)" if day == self.session.clock.today() else ""
        self.day_label.setText(self.session.clock.format_day(day) + suffix)

    def go_days(self, days: int) -> None:
        self.set_day(self.day + timedelta(days=days))

    def go_today(self) -> None:
        self.set_day(self.session.clock.today())

    def new_appointment(self) -> None:
        self.open_booking()

    # -- actions -----------------------------------------------------------------------------

    def open_booking(self, dentist_id: int | None = None, start: datetime | None = None) -> BookingDialog | None:
        """The booking dialog on the shown day, or with `start` (a double-clicked free spot) preselected."""
        if not self.writable:
            return None
        day = None if start is not None else self.session.clock.at(max(self.day, self.session.clock.today()), "08:00")
        dialog = BookingDialog(self.session, self.operations, dentist_id=dentist_id, day=day, start=start, parent=self)
        dialog.booked.connect(self._on_dialog_booked)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def select_appointment(self, appointment_id: int) -> None:
        self.calendar.select(appointment_id)
        self.details.show_appointment(appointment_id)
        self.update_actions()

    def update_actions(self) -> None:
        self.details.update_actions(self.writable)

    def change_status(self, appointment_id: int, status: str) -> None:
        row = self.session.store.get("appointment", appointment_id)
        if row is None or row.get("status") == status:
            return
        self.session.tasks.spawn(self.operations.run(
            "appointments.update", {"id": appointment_id, "version": row["version"], "status": status},
            controls=[self.details.status_button, self.details.status_combo],
            done=f"{row.get('patient_name') or 'Appointment'}: {STATUS_LABELS.get(status, status)}"),
            name="appointments.update")

    def _on_previous_week_button_clicked(self) -> None:
        self.go_days(-7)

    def _on_previous_day_button_clicked(self) -> None:
        self.go_days(-1)

    def _on_today_button_clicked(self) -> None:
        self.go_today()

    def _on_next_day_button_clicked(self) -> None:
        self.go_days(1)

    def _on_next_week_button_clicked(self) -> None:
        self.go_days(7)

    def _on_new_button_clicked(self) -> None:
        self.open_booking()

    def _on_hours_button_clicked(self) -> None:
        dialog = AvailabilityDialog(self.session, self.operations, day=self.day, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def _on_calendar_appointment_selected(self, appointment_id: int) -> None:
        self.details.show_appointment(appointment_id)
        if appointment_id:
            self.list_panel.select(appointment_id)
        self.update_actions()

    def _on_list_panel_appointment_selected(self, appointment_id: int) -> None:
        row = self.session.store.get("appointment", appointment_id)
        if row is not None:
            day = self.session.clock.local_date(row["start"])
            if day != self.day:
                self.calendar.set_day(day)
                self.day = day
                self.day_label.setText(self.session.clock.format_day(day))
        self.select_appointment(appointment_id)

    def _on_rebooking_panel_appointment_selected(self, appointment_id: int) -> None:
        self._on_list_panel_appointment_selected(appointment_id)

    def _on_rebooking_panel_count_changed(self, count: int) -> None:
        self.tabs.setTabText(self.rebooking_tab, f"Needs rebooking ({count})" if count else "Needs rebooking")

    def _on_calendar_slot_requested(self, dentist_id: int, moment: object) -> None:
        self.open_booking(dentist_id, moment if isinstance(moment, datetime) else None)

    def _on_calendar_context_menu_requested(self, appointment_id: int, position: QPoint) -> None:
        row = self.session.store.get("appointment", appointment_id)
        if row is None or row.get("busy") or not self.writable:
            return
        self.status_menu(row).popup(position)

    def status_menu(self, row: dict) -> QMenu:
        """The appointment's menu: only the status changes the state machine allows now, then Move and Cancel."""
        appointment_id = row["id"]
        menu = QMenu(self)
        choices = status_choices(row, self.session.role, self.session.clock)
        for status in choices.forward:
            action = QAction(f"Mark {STATUS_LABELS[status].lower()}", menu)
            action.triggered.connect(lambda _checked=False, s=status: self.change_status(appointment_id, s))
            menu.addAction(action)
        if choices.undo:
            menu.addSeparator()
        for status in choices.undo:
            action = QAction(f"Undo: back to {STATUS_LABELS[status].lower()}", menu)
            action.triggered.connect(lambda _checked=False, s=status: self.change_status(appointment_id, s))
            menu.addAction(action)
        menu.addSeparator()
        active = row.get("status") in ("scheduled", "confirmed")
        move = menu.addAction("Move…", lambda: self._on_details_move_requested(appointment_id))
        move.setEnabled(active)
        cancel = menu.addAction("Cancel…", lambda: self._on_details_cancel_requested(appointment_id))
        cancel.setEnabled(row.get("status") in ("scheduled", "confirmed", "checked_in"))
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        return menu

    def _on_details_move_requested(self, appointment_id: int) -> None:
        row = self.session.store.get("appointment", appointment_id)
        if row is None:
            return
        dialog = BookingDialog(self.session, self.operations, appointment=row, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.booked.connect(self._on_dialog_booked)
        dialog.open()

    def _on_details_cancel_requested(self, appointment_id: int) -> None:
        row = self.session.store.get("appointment", appointment_id)
        if row is None:
            return
        dialog = CancelDialog(self.session, self.operations, row, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def _on_details_status_requested(self, appointment_id: int, status: str) -> None:
        self.change_status(appointment_id, status)

    def _on_dialog_booked(self, appointment: dict) -> None:
        self.set_day(self.session.clock.local_date(appointment["start"]))
        self.select_appointment(appointment["id"])

    def _on_store_changed(self, change: Change) -> None:
        self.update_actions()
