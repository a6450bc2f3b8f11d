"""The lists a front desk works from (unscheduled, confirmations, recall) and the directory, as tabs of the admin view.

`install_lists(admin_view)` adds them to the admin view's tab widget once, plus a medical-alert banner on the
selected-appointment panel; every panel follows the store live, so each list is live on every workstation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..patients import MedicalAlertBanner, PatientDirectoryPanel
from .booking_for import open_booking_for
from .confirmations_panel import CONFIRMATION_LABELS, ConfirmationsPanel, confirmation_rows
from .recall_panel import RecallPanel
from .unscheduled_panel import UnscheduledPanel, unscheduled_rows, what_happened

__all__ = ["CONFIRMATION_LABELS", "ConfirmationsPanel", "FrontDeskLists", "RecallPanel", "UnscheduledPanel",
           "confirmation_rows", "install_lists", "open_booking_for", "unscheduled_rows", "what_happened"]


@dataclass
class FrontDeskLists:
    """What `install_lists` added to one admin view."""

    directory: PatientDirectoryPanel
    unscheduled: UnscheduledPanel
    confirmations: ConfirmationsPanel
    recall: RecallPanel
    alert: MedicalAlertBanner
    tab_index: dict[str, int]
    disconnect: Any = None  # undoes the connections to the session's and operations' signals

    def detach(self) -> None:
        if self.disconnect is not None:
            self.disconnect()  # the panels go with their window; the session and operations live on
            self.disconnect = None
        for panel in (self.directory, self.unscheduled, self.confirmations, self.recall, self.alert):
            panel.detach()


def _titled(base: str):
    return lambda count: f"{base} ({count})" if count else base


def install_lists(admin_view: Any) -> FrontDeskLists:
    """Add the Patients, Unscheduled, Confirmations and Recall tabs to `admin_view.tabs` (once; a second call
    returns the first install), register their write controls, and put a medical-alert banner on top of
    `admin_view.details` that follows the selected appointment."""
    existing = getattr(admin_view, "front_desk_lists", None)
    if existing is not None:
        return existing
    session, operations, tabs = admin_view.session, admin_view.operations, admin_view.tabs
    directory = PatientDirectoryPanel(session, operations)
    unscheduled = UnscheduledPanel(session, operations)
    confirmations = ConfirmationsPanel(session, operations)
    recall = RecallPanel(session, operations)
    index = {"patients": tabs.addTab(directory, "Patients"), "unscheduled": tabs.addTab(unscheduled, "Unscheduled"),
             "confirmations": tabs.addTab(confirmations, "Confirmations"), "recall": tabs.addTab(recall, "Recall")}
    for key, panel, base in (("unscheduled", unscheduled, "Unscheduled"), ("confirmations", confirmations, "Confirmations"),
                             ("recall", recall, "Recall")):
        title = _titled(base)
        panel.count_changed.connect(lambda count, i=index[key], t=title: tabs.setTabText(i, t(count)))
    tabs.setTabText(index["unscheduled"], _titled("Unscheduled")(len(unscheduled.appointment_ids())))
    tabs.setTabText(index["confirmations"], _titled("Confirmations")(len(confirmations.appointment_ids())))
    panels = (directory, unscheduled, confirmations, recall)

    def update_actions(*_args: Any) -> None:
        # Each panel enables its buttons from its selection and the connection (nothing is queued offline);
        # after a call Operations restores the states from before it, which may be stale by then.
        for panel in panels:
            panel.update_actions()

    session.state_changed.connect(update_actions)
    operations.settled.connect(update_actions)

    alert = MedicalAlertBanner(session.store)
    details = admin_view.details
    details.layout().insertWidget(0, alert)

    def follow(*_args: Any) -> None:
        row = session.store.get("appointment", details.appointment_id)
        alert.show_patient(row.get("patient_id") if row else None, row)

    for signal in (admin_view.calendar.appointment_selected, admin_view.list_panel.appointment_selected,
                   unscheduled.table.itemSelectionChanged, confirmations.table.itemSelectionChanged):
        signal.connect(follow)
    operations.settled.connect(follow)

    def disconnect() -> None:
        session.state_changed.disconnect(update_actions)
        operations.settled.disconnect(update_actions)
        operations.settled.disconnect(follow)

    lists = FrontDeskLists(directory, unscheduled, confirmations, recall, alert, index, disconnect)
    admin_view.front_desk_lists = lists
    return lists
