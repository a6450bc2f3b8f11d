"""Qt models over the entity store; they change in place as events arrive."""

from __future__ import annotations

from .appointment_filter_proxy_model import AppointmentFilterProxyModel
from .appointment_roles import AppointmentRole
from .appointment_table_model import AppointmentTableModel
from .status_choices import StatusChoices, status_choices
from .stranded_appointments import StrandedAppointments

__all__ = ["AppointmentFilterProxyModel", "AppointmentRole", "AppointmentTableModel", "StatusChoices", "StrandedAppointments",
           "status_choices"]
