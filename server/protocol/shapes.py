"""Wire shapes of the synced entities and the audience rules that reshape them per viewer.

Every entity travels as a flat JSON object with an integer `id` and an integer `version`
(rows never go backwards: a client keeps the higher version). Instants are ISO 8601 strings
with an offset (UTC on the wire; clients show them in the clinic's zone).

Kinds and fields:

- ``appointment``: id, version, patient_id, patient_name, dentist_id, chair_id, type_id,
  start, end, status, source, notes, cancel_reason, created_at, updated_at
- ``appointment`` as a *busy block* (someone else's appointment): id, version, dentist_id,
  chair_id, start, end, status="busy", busy=true — never who, what or why
- ``dentist``: id, version, name, user_id, colour, active
- ``patient``: id, version, name, phone, email, date_of_birth, user_id (admin, and the patient
  themself, only)
- ``chair``: id, version, name, active
- ``appointment_type``: id, version, name, duration_minutes, colour, patient_bookable
- ``working_hours``: id, version, dentist_id, weekday (0=Mon), start "HH:MM", end "HH:MM"
- ``schedule_exception``: id, version, dentist_id (null = whole clinic), start, end,
  kind ("closed" | "extra"), reason — the reason is staff-only: patients get it as "" (closed time, not why)
- ``settings``: id (always 1), version, clinic_name, timezone, slot_minutes, min_notice_minutes,
  max_advance_days, late_cancel_hours
- ``appointment`` (since 0005) also: duration_minutes (custom length or null), override (booked outside
  the bookable schedule by staff), arrived_at, in_chair_at, completed_at (null until stamped);
  ``dentist`` also default_chair_id
- ``blockout_type``: id, version, name, colour, allow_online
- ``blockout``: id, version, dentist_id (null = every dentist), chair_id (null = any chair), start, end,
  type_id, note — the note is staff-only: patients get it as ""
- ``patient`` (since 0006) also: address, preferred_contact (phone | sms | email | post), medical_alerts,
  notes — the notes are staff-only: a patient gets their own row with notes ""
- ``appointment_type`` (since 0006) also: recall_months (null = no recall)
- ``appointment`` (since 0006) also: patient_alert (the patient's medical alerts, "" if none),
  confirmation (null or {state: confirmed | left_message | no_answer, by, by_name, at}),
  unscheduled (null or {state: open | rebooked | dismissed, by, by_name, at, resolved_by_name,
  resolved_at, rebooked_as})
- ``waitlist_request`` (since 0007): id, version, patient_id, patient_name, type_id, dentist_ids (empty =
  any), weekdays (0=Mon), day_start "HH:MM", day_end "HH:MM" (up to "24:00"), earliest, latest (dates),
  notes, status ("active" | "booked" | "removed"), appointment_id, created_at, updated_at — staff see
  all; a patient only their own; dentists none
- ``waitlist_offer`` (since 0007): id, version, request_id, patient_id, patient_name, slot_id (shared by
  every offer of one freed time), dentist_id, chair_id, type_id, start, end, status ("open" | "accepted"
  | "taken" | "withdrawn" | "declined" | "expired"), expires_at, appointment_id, created_at, updated_at
  — the same audience as waitlist_request
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = [
    "KINDS",
    "OCCUPYING_STATUSES",
    "STATUSES",
    "Role",
    "busy_block",
    "redacted",
    "view_for",
    "view_kind",
]

KINDS = (
    "settings",
    "chair",
    "appointment_type",
    "dentist",
    "patient",
    "working_hours",
    "schedule_exception",
    "blockout_type",
    "blockout",
    "appointment",
    "waitlist_request",
    "waitlist_offer",
)

STATUSES = ("scheduled", "confirmed", "checked_in", "in_chair", "completed", "cancelled", "no_show")
OCCUPYING_STATUSES = frozenset({"scheduled", "confirmed", "checked_in", "in_chair", "completed"})

Role = Literal["admin", "dentist", "patient"]

WAITLIST_KINDS = frozenset({"waitlist_request", "waitlist_offer"})

_BUSY_FIELDS = ("id", "version", "dentist_id", "chair_id", "start", "end")

View = Literal["full", "busy", "redacted", "delete", "hidden"]


def busy_block(appointment: dict[str, Any]) -> dict[str, Any]:
    """Someone else's appointment as a viewer may see it: where and when, never who or why."""
    block = {field: appointment.get(field) for field in _BUSY_FIELDS}
    block["status"] = "busy"
    block["busy"] = True
    return block


def redacted(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    """A row without what a patient may not read: a day off's reason is the staff's business."""
    if kind == "schedule_exception" and row.get("reason"):
        return {**row, "reason": ""}
    if kind == "blockout" and row.get("note"):
        return {**row, "note": ""}
    if kind == "patient" and row.get("notes"):  # 0006: the front desk's notes about a patient
        return {**row, "notes": ""}
    return row


def view_kind(
    kind: str,
    row: dict[str, Any],
    role: str,
    dentist_id: int | None,
    patient_id: int | None,
) -> View:
    """How one viewer sees one entity row, without shaping it (the relay asks this per client).

    "full": the row as is; "busy": someone else's appointment as a busy block; "redacted": the row
    without its staff-only fields (see `redacted`); "delete": the viewer should drop what they had
    (someone else's appointment that no longer occupies time); "hidden": the viewer never sees this
    kind of row.
    """
    if role == "admin":
        return "full"
    if kind == "appointment":
        if (role == "dentist" and row.get("dentist_id") == dentist_id) or (
            role == "patient" and row.get("patient_id") == patient_id
        ):
            return "full"
        return "busy" if row.get("status") in OCCUPYING_STATUSES else "delete"
    if kind == "patient":
        return "redacted" if role == "patient" and row.get("id") == patient_id else "hidden"
    if kind in WAITLIST_KINDS:  # the front desk's list and the patient's own; a dentist's screen has no use for it
        return "full" if role == "patient" and row.get("patient_id") == patient_id else "hidden"
    if kind in ("schedule_exception", "blockout") and role == "patient":
        return "redacted"
    return "full"


def view_for(
    kind: str,
    row: dict[str, Any],
    role: str,
    dentist_id: int | None,
    patient_id: int | None,
) -> tuple[View, dict[str, Any] | None]:
    """How one viewer sees one entity row: ("full", row), ("busy", block), ("redacted", row minus
    staff-only fields), ("delete", None) or ("hidden", None); see `view_kind`."""
    how = view_kind(kind, row, role, dentist_id, patient_id)
    if how == "full":
        return how, row
    if how == "busy":
        return how, busy_block(row)
    if how == "redacted":
        return how, redacted(kind, row)
    return how, None
