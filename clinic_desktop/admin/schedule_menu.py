"""The front desk's "Schedule" menu: find next opening, block time, chairs, appointment types, and printing.

The admin view owns where it appears (a menu bar entry or a toolbar button); this module owns what each
entry opens. `day()` and `selected_id()` are asked at the moment an entry is used.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QMenu, QWidget

from ..booking.find_opening_dialog import open_find_opening
from ..operations import Operations
from ..printing import appointment_card_preview, day_sheet_preview
from ..session import Session
from .appointment_types_dialog import AppointmentTypesDialog
from .blockouts_dialog import BlockoutsDialog
from .chairs_dialog import ChairsDialog

__all__ = ["ScheduleMenu"]


class ScheduleMenu(QMenu):
    """Entries that open the schedule dialogs and print previews; the last one opened is kept (tests)."""

    def __init__(self, session: Session, operations: Operations, day: Callable[[], date],
                 selected_id: Callable[[], int | None], parent: QWidget) -> None:
        super().__init__("&Schedule", parent)
        self.session = session
        self.operations = operations
        self.day = day
        self.selected_id = selected_id
        self.last_opened: QWidget | None = None
        self.find_action = self._action("Find next opening…", self.find_opening)
        self.block_action = self._action("Block time…", self.block_time)
        self.chairs_action = self._action("Chairs…", self.edit_chairs)
        self.chairs_action.setVisible(session.role == "admin")
        self.types_action = self._action("Appointment types…", self.edit_appointment_types)
        self.types_action.setVisible(session.role == "admin")
        self.addSeparator()
        self.dentist_sheets = self.addMenu("Print day sheet for")
        self.chair_sheets = self.addMenu("Print chair sheet for")
        self.dentist_sheets.aboutToShow.connect(self._on_dentist_sheets_about_to_show)
        self.chair_sheets.aboutToShow.connect(self._on_chair_sheets_about_to_show)
        self.card_action = self._action("Print appointment card…", self.print_card)
        self.aboutToShow.connect(self._on_self_about_to_show)

    def _action(self, text: str, handler: Callable[[], object], shortcut: str | None = None) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            self.parentWidget().addAction(action)
        action.triggered.connect(lambda _checked=False: handler())
        self.addAction(action)
        return action

    def _keep(self, widget: QWidget) -> QWidget:
        if isinstance(widget, QDialog):
            widget.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.last_opened = widget
        return widget

    # -- what each entry opens ---------------------------------------------------------------

    def find_opening(self) -> QWidget:
        return self._keep(open_find_opening(self.session, self.operations, parent=self.parentWidget()))

    def block_time(self) -> QWidget:
        dialog = BlockoutsDialog(self.session, self.operations, day=self.day(), parent=self.parentWidget())
        dialog.open()
        return self._keep(dialog)

    def edit_chairs(self) -> QWidget:
        dialog = ChairsDialog(self.session, self.operations, parent=self.parentWidget())
        dialog.open()
        return self._keep(dialog)

    def edit_appointment_types(self) -> QWidget:
        dialog = AppointmentTypesDialog(self.session, self.operations, parent=self.parentWidget())
        dialog.open()
        return self._keep(dialog)

    def print_day_sheet(self, *, dentist_id: int | None = None, chair_id: int | None = None) -> QWidget:
        return self._keep(day_sheet_preview(self.session.store, self.session.clock, self.day(), dentist_id=dentist_id,
                                            chair_id=chair_id, parent=self.parentWidget()))

    def print_card(self) -> QWidget | None:
        appointment_id = self.selected_id()
        row = self.session.store.get("appointment", appointment_id)
        if row is None or row.get("busy"):
            self.operations.failed.emit("Select one of the day's appointments first, then print its card.")
            return None
        return self._keep(appointment_card_preview(self.session.store, self.session.clock, appointment_id,
                                                   parent=self.parentWidget()))

    # -- slots -------------------------------------------------------------------------------

    def _on_self_about_to_show(self) -> None:
        self.card_action.setEnabled(self.selected_id() is not None)

    def _on_dentist_sheets_about_to_show(self) -> None:
        self.dentist_sheets.clear()
        for row in sorted(self.session.store.rows("dentist"), key=lambda r: r.get("name", "")):
            if row.get("active", True):
                action = self.dentist_sheets.addAction(row["name"])
                action.triggered.connect(lambda _c=False, did=row["id"]: self.print_day_sheet(dentist_id=did))
        everyone = self.dentist_sheets.addAction("Everyone")
        everyone.triggered.connect(lambda _c=False: self.print_day_sheet())

    def _on_chair_sheets_about_to_show(self) -> None:
        self.chair_sheets.clear()
        for row in sorted(self.session.store.rows("chair"), key=lambda r: r.get("name", "")):
            if row.get("active", True):
                action = self.chair_sheets.addAction(row["name"])
                action.triggered.connect(lambda _c=False, cid=row["id"]: self.print_day_sheet(chair_id=cid))
