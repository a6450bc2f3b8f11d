"""The front desk: day and week calendars (by dentist or chair), pinboard, list, booking, moving, statuses, hours.

Drags on either calendar, drops from the pinboard and Ctrl+Z all end in one place, `_save_move`: an
`appointments.update` through the operations helper with the row as the user saw it; the grid shows
the target meanwhile and glides back with the server's reason on a refusal.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from ..booking.booking_dialog import BookingDialog
from ..booking.cancel_dialog import CancelDialog
from ..clinic_clock import parse_instant
from ..lists import install_lists
from ..messages import STATUS_LABELS
from ..models import status_choices
from ..operations import Operations
from ..role_view import RoleView
from ..session import Session
from ..store import Change
from ..waitlist import waitlist_panel
from ..widgets.type_legend import TypeLegend
from .appointment_details_panel import AppointmentDetailsPanel
from .appointment_list_panel import AppointmentListPanel
from .availability_dialog import AvailabilityDialog
from .calendar_drop import Proposal, changes_for
from .calendar_grid import CalendarGrid
from .day_calendar_view import DayCalendarView
from .needs_rebooking_panel import NeedsRebookingPanel
from .pinboard import Pinboard
from .schedule_menu import ScheduleMenu
from .waiting_room_panel import WaitingRoomPanel
from .week_calendar_view import WeekCalendarView

__all__ = ["AdminView", "calendar_settings"]

BY_CHAIR_KEY = "calendar/by_chair"  # this workstation shows chairs (True) or dentists (False)
WEEK_KEY = "calendar/week"  # this workstation opens on the week (True) or the day (False)
UNDO_DEPTH = 20  # moves Ctrl+Z can take back, newest first


def calendar_settings() -> QSettings:
    """Where this workstation remembers its calendar choices (tests point it at a temporary file)."""
    return QSettings("DentalCare", "DentalCare Connect")


@dataclass(frozen=True, slots=True)
class _UndoEntry:
    """How an appointment was before a move or resize this desk made: what Ctrl+Z puts back."""

    appointment_id: int
    start: datetime
    minutes: int
    dentist_id: int
    chair_id: int | None


class AdminView(RoleView):
    """Everything the front desk does, on one screen; every part follows the store live."""

    def __init__(self, session: Session, operations: Operations, parent: QWidget | None = None) -> None:
        super().__init__(session, operations, parent)
        self.day = session.clock.today()
        self._undo: list[_UndoEntry] = []  # this desk's moves and resizes, newest last (Ctrl+Z)
        self._pinboard_drag = 0  # the pinboard card being dragged over the calendar

        self.previous_week_button = QPushButton("«")
        self.previous_day_button = QPushButton("‹")
        self.today_button = QPushButton("Today")
        self.next_day_button = QPushButton("›")
        self.next_week_button = QPushButton("»")
        for button in (self.previous_week_button, self.previous_day_button, self.next_day_button, self.next_week_button):
            button.setFixedWidth(34)
        self.day_label = QLabel()
        font = self.day_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.day_label.setFont(font)
        self.new_button = self.add_write_control(QPushButton("New appointment…"))
        self.hours_button = self.add_write_control(QPushButton("Dentists' hours…"))
        self.undo_button = self.add_write_control(QPushButton("Undo"))
        self.undo_button.setToolTip("Put the last appointment this desk dragged back where it was (Ctrl+Z)")
        # Find next opening, block time, chairs, day sheets and appointment cards.
        self.schedule_menu = ScheduleMenu(session, operations, lambda: self.day, lambda: self.details.appointment_id or None, self)
        self.schedule_button = QPushButton("Schedule")
        self.schedule_button.setMenu(self.schedule_menu)
        # Day or week; by dentist or by chair: two pairs of toggles, remembered per workstation.
        self.day_view_button = QPushButton("Day")
        self.week_view_button = QPushButton("Week")
        self.by_dentist_button = QPushButton("By dentist")
        self.by_chair_button = QPushButton("By chair")
        self.view_group, self.columns_group = QButtonGroup(self), QButtonGroup(self)
        for group, buttons, tips in (
            (self.view_group, (self.day_view_button, self.week_view_button), ("One day (Ctrl+1)", "Monday to Saturday (Ctrl+2)")),
            (self.columns_group, (self.by_dentist_button, self.by_chair_button),
             ("One column per dentist (Ctrl+3)", "One column per chair (Ctrl+4)")),
        ):
            group.setExclusive(True)
            for button, tip in zip(buttons, tips):
                button.setCheckable(True)
                button.setToolTip(tip)
                group.addButton(button)
        self.week_filter = QComboBox()  # the week: every dentist (chair), or one, wider
        self.week_filter.setToolTip("Whose week to show")
        self.week_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.week_filter.setMinimumContentsLength(9)
        self.previous_day_button.setToolTip("Previous day (Ctrl+Left)")
        self.next_day_button.setToolTip("Next day (Ctrl+Right)")
        self.today_button.setToolTip("Today (Ctrl+T)")
        self.previous_week_button.setToolTip("A week back")
        self.next_week_button.setToolTip("A week ahead")
        # A QToolBar, not a row of buttons: on a narrow screen (a laptop at 150 %) what does not fit goes
        # into its » menu instead of widening the window past the screen.
        toolbar = QToolBar()
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for button in (self.previous_week_button, self.previous_day_button, self.today_button,
                       self.next_day_button, self.next_week_button):
            toolbar.addWidget(button)
        toolbar.addWidget(_gap(12))
        toolbar.addWidget(self.day_label)
        stretch = QWidget()
        stretch.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(stretch)
        for widget in (self.day_view_button, self.week_view_button):
            toolbar.addWidget(widget)
        toolbar.addWidget(_gap(8))
        for widget in (self.by_dentist_button, self.by_chair_button, self.week_filter):
            toolbar.addWidget(widget)
        toolbar.addWidget(_gap(8))
        for widget in (self.undo_button, self.new_button, self.schedule_button, self.hours_button):
            toolbar.addWidget(widget)

        self.calendar = DayCalendarView(session.store, session.clock)
        self.week = WeekCalendarView(session.store, session.clock)
        self.calendar_scroll = QScrollArea()
        self.calendar_scroll.setWidgetResizable(True)
        self.calendar_scroll.setWidget(self.calendar)
        self.week_scroll = QScrollArea()
        self.week_scroll.setWidgetResizable(True)
        self.week_scroll.setWidget(self.week)
        self.calendar_stack = QStackedWidget()
        self.calendar_stack.addWidget(self.calendar_scroll)
        self.calendar_stack.addWidget(self.week_scroll)
        for grid in self.grids():
            grid.editable = True
        self.list_panel = AppointmentListPanel(session)
        self.rebooking_panel = NeedsRebookingPanel(session)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.calendar_stack, "Calendar")
        self.tabs.addTab(self.list_panel, "Appointments")
        self.rebooking_tab = self.tabs.addTab(self.rebooking_panel, "")
        self.waiting_room = WaitingRoomPanel(session.store, session.clock)
        self.tabs.addTab(self.waiting_room, "Waiting room")
        self.waitlist = waitlist_panel(session, operations)
        self.tabs.addTab(self.waitlist, "Waitlist")
        self.details = AppointmentDetailsPanel(session)
        for widget in self.details.action_widgets():
            self.add_write_control(widget)

        self.pinboard = Pinboard(session.store, session.clock)
        side = QSplitter(Qt.Orientation.Vertical)
        side.addWidget(self.details)
        side.addWidget(self.pinboard)
        side.setStretchFactor(0, 0)
        side.setStretchFactor(1, 1)
        side.setChildrenCollapsible(False)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.tabs)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setChildrenCollapsible(False)
        self.legend = TypeLegend(session.store)
        hint = QLabel("Drag to move, drag the bottom edge to resize; double-click a free spot to book; "
                      "right-click for the status.")
        hint.setEnabled(False)
        hint.setWordWrap(True)  # on a narrow screen it wraps instead of widening the window
        hint.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        footer = QHBoxLayout()
        footer.addWidget(self.legend)
        footer.addWidget(hint, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(toolbar)
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
        self.week.appointment_selected.connect(self._on_calendar_appointment_selected)
        self.week.slot_requested.connect(self._on_calendar_slot_requested)
        self.week.context_menu_requested.connect(self._on_calendar_context_menu_requested)
        for grid in self.grids():
            grid.move_requested.connect(self._on_grid_move_requested)
            grid.drop_refused.connect(self._on_grid_drop_refused)
            grid.released_outside.connect(self._on_grid_released_outside)
            grid.open_requested.connect(self._on_details_move_requested)
            grid.cancel_requested.connect(self._on_details_cancel_requested)
        self.pinboard.drag_moved.connect(self._on_pinboard_drag_moved)
        self.pinboard.drag_released.connect(self._on_pinboard_drag_released)
        self.pinboard.appointment_activated.connect(self._on_list_panel_appointment_selected)
        self.pinboard.changed.connect(self._on_pinboard_changed)
        self.day_view_button.clicked.connect(self._on_day_view_button_clicked)
        self.week_view_button.clicked.connect(self._on_week_view_button_clicked)
        self.by_dentist_button.clicked.connect(self._on_by_dentist_button_clicked)
        self.by_chair_button.clicked.connect(self._on_by_chair_button_clicked)
        self.week_filter.currentIndexChanged.connect(self._on_week_filter_current_index_changed)
        self.undo_button.clicked.connect(self._on_undo_button_clicked)
        self._add_shortcuts()
        self._set_tab_order()
        session.store.add_listener(self._on_store_changed)
        settings = calendar_settings()
        self.set_by_chair(settings.value(BY_CHAIR_KEY, False, type=bool), remember=False)
        self.show_week(settings.value(WEEK_KEY, False, type=bool), remember=False)
        self.set_day(self.day)
        self.lists = install_lists(self)  # Patients, Unscheduled, Confirmations, Recall; the medical-alert banner
        self.update_actions()

    def _add_shortcuts(self) -> None:
        """Ctrl+1/2 day or week, Ctrl+3/4 by dentist or chair, Ctrl+Z undo; Ctrl+T and Ctrl+arrows are the window's."""
        for shortcut, handler in (
            ("Ctrl+1", lambda: self.show_week(False)),
            ("Ctrl+2", lambda: self.show_week(True)),
            ("Ctrl+3", lambda: self.set_by_chair(False)),
            ("Ctrl+4", lambda: self.set_by_chair(True)),
            (QKeySequence.StandardKey.Undo, self.undo_last_move),
        ):
            action = QAction(self)
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.triggered.connect(handler)
            self.addAction(action)

    def _set_tab_order(self) -> None:
        """Toolbar left to right, then the calendar, the pinboard and the details panel."""
        chain: list[QWidget] = [
            self.previous_week_button, self.previous_day_button, self.today_button, self.next_day_button,
            self.next_week_button, self.day_view_button, self.week_view_button, self.by_dentist_button,
            self.by_chair_button, self.week_filter, self.undo_button, self.new_button, self.hours_button, self.tabs,
            self.calendar, self.week, self.pinboard, *self.details.action_widgets(),
        ]
        for first, second in itertools.pairwise(chain):
            QWidget.setTabOrder(first, second)

    def detach(self) -> None:
        self.session.store.remove_listener(self._on_store_changed)
        self.calendar.detach()
        self.week.detach()
        self.pinboard.detach()
        self.legend.detach()
        self.list_panel.detach()
        self.rebooking_panel.detach()
        self.waiting_room.detach()
        self.waitlist.detach()
        self.lists.detach()
        self.details.detach()

    # -- navigation --------------------------------------------------------------------------

    def grids(self) -> tuple[CalendarGrid, CalendarGrid]:
        return self.calendar, self.week

    def current_grid(self) -> CalendarGrid:
        """The calendar in front: the day or the week."""
        return self.week if self.calendar_stack.currentWidget() is self.week_scroll else self.calendar

    def set_day(self, day: date) -> None:
        self.day = day
        self.calendar.set_day(day)
        self.week.set_day(day)
        self.list_panel.set_day(day)
        self._update_day_label()

    def _update_day_label(self) -> None:
        clock = self.session.clock
        if self.current_grid() is self.week:
            days = self.week.shown_days()
            text = f"{days[0].strftime('%d %b')} – {clock.format_day(days[-1])}"
            if clock.today() in days:
                text += "  (this week)"
        else:
            text = clock.format_day(self.day) + ("  (today)" if self.day == clock.today() else "")
        self.day_label.setText(text)

    def show_week(self, week: bool, *, remember: bool = True) -> None:
        """The week view (Monday to Saturday) or the day view, keeping the selection."""
        self.calendar_stack.setCurrentWidget(self.week_scroll if week else self.calendar_scroll)
        (self.week_view_button if week else self.day_view_button).setChecked(True)
        self.week_filter.setVisible(week)
        self.current_grid().select(self.calendar.selected_id or self.week.selected_id)
        self._update_day_label()
        if remember:
            calendar_settings().setValue(WEEK_KEY, week)

    def set_by_chair(self, by_chair: bool, *, remember: bool = True) -> None:
        """One column per chair or per dentist, in both calendars; remembered on this workstation."""
        for grid in self.grids():
            grid.set_by_chair(by_chair)
        (self.by_chair_button if by_chair else self.by_dentist_button).setChecked(True)
        self._fill_week_filter()
        if remember:
            calendar_settings().setValue(BY_CHAIR_KEY, by_chair)

    def _fill_week_filter(self) -> None:
        by_chair = self.calendar.by_chair
        current = self.week_filter.currentData()
        self.week_filter.blockSignals(True)
        self.week_filter.clear()
        self.week_filter.addItem("All chairs" if by_chair else "All dentists", None)
        for row in (self.calendar.chairs() if by_chair else self.calendar.dentists()):
            self.week_filter.addItem(row["name"], row["id"])
        index = self.week_filter.findData(current)
        self.week_filter.setCurrentIndex(max(0, index) if current is not None else 0)
        self.week_filter.blockSignals(False)
        self.week.set_only_resource(self.week_filter.currentData())

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
        for grid in self.grids():
            grid.select(appointment_id)
        self.details.show_appointment(appointment_id)
        self.update_actions()

    def update_actions(self) -> None:
        self.details.update_actions(self.writable)
        self.undo_button.setEnabled(self.writable and bool(self._undo))

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

    def _on_day_view_button_clicked(self) -> None:
        self.show_week(False)

    def _on_week_view_button_clicked(self) -> None:
        self.show_week(True)

    def _on_by_dentist_button_clicked(self) -> None:
        self.set_by_chair(False)

    def _on_by_chair_button_clicked(self) -> None:
        self.set_by_chair(True)

    def _on_week_filter_current_index_changed(self, _index: int) -> None:
        self.week.set_only_resource(self.week_filter.currentData())

    def _on_calendar_appointment_selected(self, appointment_id: int) -> None:
        for grid in self.grids():
            if grid.selected_id != appointment_id:
                grid.select(appointment_id)
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
                self.week.set_day(day)
                self.day = day
                self._update_day_label()
        self.select_appointment(appointment_id)

    def _on_rebooking_panel_appointment_selected(self, appointment_id: int) -> None:
        self._on_list_panel_appointment_selected(appointment_id)

    def _on_rebooking_panel_count_changed(self, count: int) -> None:
        self.tabs.setTabText(self.rebooking_tab, f"Needs rebooking ({count})" if count else "Needs rebooking")

    def _on_calendar_slot_requested(self, dentist_id: int, moment: object) -> None:
        self.open_booking(dentist_id or None, moment if isinstance(moment, datetime) else None)

    # -- direct manipulation -----------------------------------------------------------------

    def _on_grid_move_requested(self, seen: object, changes: object, words: str) -> None:
        grid = self.sender()
        assert isinstance(seen, dict) and isinstance(changes, dict) and isinstance(grid, CalendarGrid)
        from_pinboard = self._pinboard_drag == seen["id"]
        self._pinboard_drag = 0
        self.session.tasks.spawn(self._save_move(grid, seen, changes, words, from_pinboard=from_pinboard),
                                 name="appointments.update")

    async def _save_move(self, grid: CalendarGrid | None, seen: dict[str, Any], changes: dict[str, Any], words: str, *,
                         from_pinboard: bool = False, undoable: bool = True) -> dict[str, Any] | None:
        """The one write behind a drop, a pinboard placement and an undo: the version the user saw, the server decides."""
        errors: list[str] = []
        result = await self.operations.update_appointment(seen, changes, report=errors.append, done=words, parent=self)
        if result is None:
            if grid is not None:
                grid.finish_drop(False, errors[0] if errors else "")
            if errors:
                self.operations.failed.emit(errors[0])
            return None
        if grid is not None:
            grid.finish_drop(True)
        if undoable:
            start, end = parse_instant(seen["start"]), parse_instant(seen["end"])
            self._undo.append(_UndoEntry(seen["id"], start, int((end - start).total_seconds() // 60),
                                         seen["dentist_id"], seen.get("chair_id")))
            del self._undo[:-UNDO_DEPTH]
        if from_pinboard:
            self.pinboard.unpark(seen["id"])
        self.update_actions()
        return result

    def undo_last_move(self) -> None:
        """Ctrl+Z: put the last appointment this desk moved or resized back, checked and saved like a drop."""
        if not self._undo or not self.writable:
            return
        entry = self._undo.pop()
        row = self.session.store.get("appointment", entry.appointment_id)
        if row is None:
            self.operations.failed.emit("Nothing to undo: that appointment is gone.")
            self.update_actions()
            return
        proposal = Proposal(entry.appointment_id, entry.start, entry.start + timedelta(minutes=entry.minutes),
                            entry.dentist_id, entry.chair_id if entry.chair_id is not None else row.get("chair_id"))
        verdict = self.current_grid().check(row, proposal)
        if not verdict.free:
            self.operations.failed.emit(f"Cannot undo the move: {verdict.reason}")
            self.update_actions()
            return
        changes = changes_for(row, proposal)
        if changes:
            words = f"Undone: {row.get('patient_name') or 'appointment'} back at {self.session.clock.format_when(entry.start)}"
            self.session.tasks.spawn(self._save_move(None, row, changes, words, undoable=False), name="undo move")
        self.update_actions()

    def _on_undo_button_clicked(self) -> None:
        self.undo_last_move()

    def _on_grid_drop_refused(self, reason: str) -> None:
        self.operations.failed.emit(reason)

    def _on_grid_released_outside(self, appointment_id: int, position: QPoint) -> None:
        if self.pinboard.contains_global(position):
            if self.pinboard.park(appointment_id):
                self.operations.succeeded.emit("Parked on the pinboard: go to another day and drag it into place.")
            else:
                self.operations.failed.emit("Only a scheduled or confirmed appointment can be parked.")

    def _on_pinboard_drag_moved(self, appointment_id: int, position: QPoint) -> None:
        grid = self.current_grid()
        point = grid.mapFromGlobal(position)
        if grid.drag is None or grid.drag.appointment_id != appointment_id:
            if not grid.rect().contains(point) or not grid.begin_drag(appointment_id, external=True):
                return
            self._pinboard_drag = appointment_id
        grid.drag_to(point.toPointF())

    def _on_pinboard_drag_released(self, appointment_id: int, position: QPoint) -> None:
        grid = self.current_grid()
        if grid.drag is None or grid.drag.appointment_id != appointment_id or not grid.drag.external:
            return
        grid.drag_to(grid.mapFromGlobal(position).toPointF())
        if grid.drag.proposal is None:  # let go off the grid: it stays on the pinboard
            grid.cancel_drag()
            self._pinboard_drag = 0
            return
        grid.drop()

    def _on_pinboard_changed(self) -> None:
        for grid in self.grids():
            grid.pinned_ids = set(self.pinboard.parked_ids())
            grid.update()

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


def _gap(width: int) -> QWidget:
    """Fixed space between groups of toolbar controls."""
    gap = QWidget()
    gap.setFixedWidth(width)
    return gap
