"""A patient's appointments, booking with live free times, cancelling, and the booking assistant."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from PySide6.QtCore import QItemSelection, Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..booking.booking_dialog import BookingDialog
from ..booking.cancel_dialog import CancelDialog
from ..booking.slot_picker import SlotPicker
from ..chat import ChatPanel
from ..clinic_clock import parse_instant, qdate_to_date
from ..models import AppointmentFilterProxyModel, AppointmentTableModel
from ..operations import Operations
from ..role_view import RoleView
from ..session import Session
from ..store import Change
from ..waitlist import JoinWaitlistDialog, OfferBanner
from ..widgets.error_label import ERROR_BACKGROUND, ERROR_BORDER, ERROR_TEXT

__all__ = ["PatientView"]

_ACTIVE = {"scheduled", "confirmed", "checked_in", "in_chair"}


def _table(proxy: AppointmentFilterProxyModel) -> QTableView:
    table = QTableView()
    table.setModel(proxy)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setAlternatingRowColors(True)
    table.verticalHeader().hide()
    table.setWordWrap(False)
    table.horizontalHeader().setStretchLastSection(True)
    for column in (AppointmentTableModel.COL_UNTIL, AppointmentTableModel.COL_PATIENT, AppointmentTableModel.COL_NOTES):
        table.hideColumn(column)
    table.setColumnWidth(AppointmentTableModel.COL_WHEN, 128)
    table.setColumnWidth(AppointmentTableModel.COL_DENTIST, 105)
    table.setColumnWidth(AppointmentTableModel.COL_TYPE, 100)
    return table


class PatientView(RoleView):
    """Left: my appointments; middle: book (type → dentist or any → live free times → confirm); right: chat."""

    def __init__(self, session: Session, operations: Operations, parent: QWidget | None = None) -> None:
        super().__init__(session, operations, parent)
        self.model = AppointmentTableModel(session.store, session.clock, self)
        # Filters and order first, then the source: each proxy sorts only this patient's rows once.
        self.upcoming_proxy = AppointmentFilterProxyModel(self)
        self.upcoming_proxy.set_patient(session.patient_id)
        self.upcoming_proxy.set_hide_busy(True)
        self.upcoming_proxy.set_statuses(_ACTIVE)
        self.past_proxy = AppointmentFilterProxyModel(self)
        self.past_proxy.set_patient(session.patient_id)
        self.past_proxy.set_hide_busy(True)
        self.past_proxy.sort(0, Qt.SortOrder.DescendingOrder)
        self._apply_windows()
        self.upcoming_proxy.setSourceModel(self.model)
        self.past_proxy.setSourceModel(self.model)
        self._window_timer = QTimer(self)  # "upcoming" and "past" move with the clock
        self._window_timer.setInterval(60_000)
        self._window_timer.timeout.connect(self._apply_windows)
        self._window_timer.start()

        self.upcoming_table = _table(self.upcoming_proxy)
        self.upcoming_table.setObjectName("upcomingTable")
        self.past_table = _table(self.past_proxy)
        self.move_button = self.add_write_control(QPushButton("Move…"))
        self.cancel_button = self.add_write_control(QPushButton("Cancel appointment…"))
        upcoming_box = QGroupBox("My upcoming appointments")
        upcoming_layout = QVBoxLayout(upcoming_box)
        upcoming_layout.addWidget(self.upcoming_table, 1)
        actions = QHBoxLayout()
        actions.addStretch(1)
        actions.addWidget(self.move_button)
        actions.addWidget(self.cancel_button)
        upcoming_layout.addLayout(actions)
        past_box = QGroupBox("Past and cancelled")
        past_layout = QVBoxLayout(past_box)
        past_layout.addWidget(self.past_table)
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(upcoming_box)
        left.addWidget(past_box)
        left.setSizes([420, 260])

        self.picker = SlotPicker(session, operations, patient_mode=True, days=7)
        self.book_button = self.add_write_control(QPushButton("Book this time"))
        self.book_button.setMinimumHeight(36)
        self.book_message = QLabel("")
        self.book_message.setWordWrap(True)
        book_box = QGroupBox("Book an appointment")
        book_layout = QVBoxLayout(book_box)
        book_layout.addWidget(self.picker, 1)
        book_layout.addWidget(self.book_message)
        book_layout.addWidget(self.book_button)
        # Nothing suits yet? The waitlist offers a freed time the moment one comes up (the banner above).
        self.waitlist_button = self.add_write_control(QPushButton("Join the waitlist for an earlier time…"))
        book_layout.addWidget(self.waitlist_button)
        self.offer_banner = OfferBanner(session, operations)

        self.chat = ChatPanel(session, operations)
        for widget in self.chat.write_controls():
            self.add_write_control(widget)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(book_box)
        splitter.addWidget(self.chat)
        splitter.setSizes([470, 380, 390])
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        name = session.user.get("name") or "there"
        greeting = QLabel(f"Hello, {name}")
        font = greeting.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        greeting.setFont(font)
        layout.addWidget(greeting)
        layout.addWidget(self.offer_banner)
        layout.addWidget(splitter, 1)

        self.book_button.clicked.connect(self._on_book_button_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.move_button.clicked.connect(self._on_move_button_clicked)
        self.waitlist_button.clicked.connect(self._on_waitlist_button_clicked)
        self.picker.slot_changed.connect(self._on_picker_slot_changed)
        self.upcoming_table.selectionModel().selectionChanged.connect(self._on_upcoming_table_selection_changed)
        session.store.add_listener(self._on_store_changed)
        self.picker.refresh()
        self.update_actions()

    def detach(self) -> None:
        self.session.store.remove_listener(self._on_store_changed)
        self.picker.detach()
        self.model.detach()
        self.offer_banner.detach()

    # -- navigation (the shortcuts move the booking window) ----------------------------------

    def go_days(self, days: int) -> None:
        day = qdate_to_date(self.picker.date_edit.date()) + timedelta(days=days)
        self.picker.set_date(max(day, self.session.clock.today()))

    def go_today(self) -> None:
        self.picker.set_date(self.session.clock.today())

    def new_appointment(self) -> None:
        self.picker.type_combo.setFocus()

    # -- booking -----------------------------------------------------------------------------

    async def book(self, slot: dict[str, Any] | None = None) -> dict[str, Any] | None:
        slot = slot or self.picker.current_slot()
        if slot is None:
            return None
        self.book_message.clear()
        params = {"dentist_id": slot["dentist_id"], "type_id": slot.get("type_id") or self.picker.type_id(),
                  "start": slot["start"]}
        result = await self.operations.run("appointments.create", params, controls=[self.book_button],
                                           report=self._say_error)
        if result is not None:
            # The booked time leaves the list: no news, so the picker must not call it "just taken".
            self.picker.clear_selection()
            self._say(f"Booked: {self.session.clock.format_when(result['start'])}. See you then!")
            self.picker.refresh(lost_message=None)
        return result

    def _say(self, text: str) -> None:
        self.book_message.setStyleSheet("")
        self.book_message.setText(text)

    def _say_error(self, text: str) -> None:
        """The refusal, once, looking like an error; the picker forgets the refused time without a word."""
        self.book_message.setStyleSheet(f"color: {ERROR_TEXT}; background: {ERROR_BACKGROUND}; "
                                        f"border: 1px solid {ERROR_BORDER}; border-radius: 4px; padding: 6px 8px;")
        self.book_message.setText(text)
        self.picker.clear_selection()
        self.picker.refresh(lost_message=None)

    def selected_upcoming(self) -> dict[str, Any] | None:
        rows = self.upcoming_table.selectionModel().selectedRows()
        if not rows:
            return None
        appointment_id = self.upcoming_proxy.appointment_id(rows[0].row())
        return self.session.store.get("appointment", appointment_id) if appointment_id else None

    def update_actions(self) -> None:
        self.book_button.setEnabled(self.writable and self.picker.current_slot() is not None)
        selected = self.selected_upcoming() is not None
        self.cancel_button.setEnabled(self.writable and selected)
        self.move_button.setEnabled(self.writable and selected)

    def _apply_windows(self) -> None:
        """Upcoming: active and not yet over. Past: over, or cancelled / completed / no-show."""
        now = self.session.clock.now()
        self.upcoming_proxy.set_predicate(lambda row: parse_instant(row["end"]) > now)
        self.past_proxy.set_predicate(
            lambda row: row.get("status") not in _ACTIVE or parse_instant(row["end"]) <= now)

    # -- slots -------------------------------------------------------------------------------

    def _on_book_button_clicked(self) -> None:
        self.session.tasks.spawn(self.book(), name="appointments.create")

    def _on_cancel_button_clicked(self) -> None:
        row = self.selected_upcoming()
        if row is not None:
            dialog = CancelDialog(self.session, self.operations, row, parent=self)
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.open()

    def _on_move_button_clicked(self) -> None:
        row = self.selected_upcoming()
        if row is not None:
            dialog = BookingDialog(self.session, self.operations, appointment=row, parent=self)
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.open()

    def _on_waitlist_button_clicked(self) -> None:
        dialog = JoinWaitlistDialog(self.session, self.operations, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def _on_picker_slot_changed(self, _slot: object) -> None:
        self.update_actions()

    def _on_upcoming_table_selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self.update_actions()

    def _on_store_changed(self, change: Change) -> None:
        if change.kind == "appointment":
            self.update_actions()
