"""Validating one booking or change: the checks behind appointments.create, .update and .cancel."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from server.protocol import Reason

from ._common import clock, require_aware, require_role, span, when
from .calendar import is_on_grid, local_date, working_intervals
from .errors import BookingError
from .model import ApptType, Blockout, BusyInterval, ScheduleException, WorkingPeriod
from .settings import ClinicSettings

__all__ = [
    "MAX_DURATION_MINUTES",
    "OVERRIDABLE",
    "check_booking",
    "check_duration",
    "check_patient_change",
    "may_act_on",
]

# What staff may book through with an explicit override: outside working hours, over a break or a day off,
# over a blockout. A clash with a dentist's, patient's or chair's appointment is never overridable.
OVERRIDABLE = frozenset({Reason.OUTSIDE_WORKING_HOURS})

MAX_DURATION_MINUTES = 480  # the database's CHECK on appointments.duration_minutes agrees


def check_duration(settings: ClinicSettings, minutes: int) -> None:
    """Refuse a custom length that is not a whole number of slot steps between one step and 8 hours."""
    step = settings.slot_minutes
    if minutes < max(step, 5) or minutes > MAX_DURATION_MINUTES or minutes % step:
        message = (f"A length must be a whole number of {span(step)} steps, "
                   f"from {span(max(step, 5))} to {span(MAX_DURATION_MINUTES)}.")
        raise BookingError(Reason.INVALID_PARAMS, message, {"duration_minutes": message})


def _blocked_message(block: Blockout, online: bool, zone) -> str:
    times = f"{clock(block.start, zone)} to {clock(block.end, zone)}"
    if online:
        return (f"The clinic keeps {times} free ({block.type_name}); "
                "please choose another time or call the clinic.")
    return f"{times} is blocked ({block.type_name}); book it with an override to use that time."


def check_booking(
    *,
    settings: ClinicSettings,
    role: str,
    appt_type: ApptType,
    dentist_id: int,
    patient_id: int,
    chair_id: int | None,
    start: datetime,
    hours: Iterable[WorkingPeriod],
    exceptions: Iterable[ScheduleException],
    busy: Iterable[BusyInterval],
    now: datetime,
    exclude_appointment_id: int | None = None,
    duration_minutes: int | None = None,
    blockouts: Iterable[Blockout] = (),
    online: bool = False,
    override: bool = False,
) -> datetime:
    """Check that an appointment may start at `start` and return its end (UTC), or raise BookingError.

    The checks run in a fixed order (shape, permission, notice, advance, hours, blockouts, clashes) so
    the person booking hears about the most fundamental problem first. `exclude_appointment_id` is the
    appointment being moved, which must not clash with itself.

    `duration_minutes` is a custom length (staff only, whole slot steps) instead of the type's.
    `online` marks an online or assistant booking (a patient's always is): blockouts whose type does
    not allow online bookings are closed to it. `override` (staff only) lets a booking lie outside
    working hours, over a break or day off, or over a blockout; clashes with appointments stay refused.
    """
    require_role(role)
    require_aware("now", now)
    online = online or role == "patient"
    if override and online:
        raise BookingError(Reason.FORBIDDEN, "Only the clinic's staff can book outside the schedule.")
    if duration_minutes is not None:
        if role == "patient" or online:
            raise BookingError(Reason.FORBIDDEN, "Only the clinic can change an appointment's length.")
        check_duration(settings, duration_minutes)
    zone = settings.zone
    if start.tzinfo is None or start.utcoffset() is None:
        message = "The start time must include its time zone offset."
        raise BookingError(Reason.INVALID_PARAMS, message, {"start": message})
    if not is_on_grid(start, zone, settings.slot_minutes):
        message = (
            f"Appointments start every {span(settings.slot_minutes)} from midnight; "
            f"{clock(start, zone)} is not one of those times."
        )
        raise BookingError(Reason.INVALID_PARAMS, message, {"start": message})
    if role == "patient" and not appt_type.patient_bookable:
        raise BookingError(
            Reason.FORBIDDEN,
            f"{appt_type.name} appointments can only be booked by the clinic; please call us.",
        )

    start = start.astimezone(UTC)
    now = now.astimezone(UTC)
    minutes = duration_minutes if duration_minutes is not None else appt_type.duration_minutes
    end = start + timedelta(minutes=minutes)
    if start < now:
        raise BookingError(Reason.TOO_SOON, f"{when(start, zone)} has already passed.")
    if role == "patient":
        if start < now + timedelta(minutes=settings.min_notice_minutes):
            raise BookingError(
                Reason.TOO_SOON,
                f"Online bookings need at least {span(settings.min_notice_minutes)}' notice; "
                "please choose a later time or call the clinic.",
            )
        if start > now + timedelta(days=settings.max_advance_days):
            raise BookingError(
                Reason.TOO_FAR,
                f"Online bookings can be made at most {settings.max_advance_days} days ahead.",
            )

    if not override:
        working = working_intervals(settings, dentist_id, local_date(start, zone), hours, exceptions)
        if not any(lo <= start and end <= hi for lo, hi in working):
            raise BookingError(
                Reason.OUTSIDE_WORKING_HOURS,
                f"The dentist is not working for the whole of a {minutes}-minute "
                f"{appt_type.name} at {when(start, zone)}.",
            )
        for block in blockouts:
            if block.closed and block.applies_to(dentist_id, chair_id) and block.start < end and start < block.end:
                raise BookingError(Reason.OUTSIDE_WORKING_HOURS, _blocked_message(block, online, zone))

    for block in busy:
        if exclude_appointment_id is not None and block.appointment_id == exclude_appointment_id:
            continue
        if not (block.start < end and start < block.end):
            continue
        times = f"from {clock(block.start, zone)} to {clock(block.end, zone)}"
        if block.dentist_id == dentist_id:
            message = f"The dentist already has an appointment {times}."
        elif block.patient_id == patient_id:
            message = f"The patient already has an appointment {times}."
        elif chair_id is not None and block.chair_id == chair_id:
            message = f"That chair is already in use {times}."
        else:
            continue
        raise BookingError(Reason.SLOT_UNAVAILABLE, message)
    return end


def check_patient_change(*, settings: ClinicSettings, start: datetime, now: datetime) -> None:
    """Refuse a patient's online cancel or move inside the late-cancel window, so no chair sits empty."""
    require_aware("start", start)
    require_aware("now", now)
    if start - now < timedelta(hours=settings.late_cancel_hours):
        raise BookingError(
            Reason.TOO_SOON,
            f"Appointments starting within {span(settings.late_cancel_hours * 60)} can't be "
            "changed online; please call the clinic.",
        )


def may_act_on(
    *,
    role: str,
    user_dentist_id: int | None,
    user_patient_id: int | None,
    appointment_dentist_id: int,
    appointment_patient_id: int,
) -> bool:
    """Whether a user may see and change an appointment in full: admins any, others only their own."""
    if role == "admin":
        return True
    if role == "dentist":
        return user_dentist_id is not None and user_dentist_id == appointment_dentist_id
    if role == "patient":
        return user_patient_id is not None and user_patient_id == appointment_patient_id
    return False
