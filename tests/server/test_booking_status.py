"""The appointment status machine: allowed moves, final states, no-show timing and who may do what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.booking import OCCUPYING, BookingError, check_transition
from server.protocol import Reason

START = datetime(2026, 4, 20, 9, 0, tzinfo=UTC)
AFTER = START + timedelta(minutes=10)
BEFORE = START - timedelta(minutes=10)
STATUSES = ["scheduled", "confirmed", "checked_in", "in_chair", "completed", "cancelled", "no_show"]

ALLOWED = [
    ("scheduled", "confirmed"),
    ("scheduled", "checked_in"),
    ("scheduled", "cancelled"),
    ("scheduled", "no_show"),
    ("confirmed", "checked_in"),
    ("confirmed", "cancelled"),
    ("confirmed", "no_show"),
    ("checked_in", "in_chair"),
    ("checked_in", "no_show"),
    ("checked_in", "cancelled"),
    ("in_chair", "completed"),
]


def refusal(old: str, new: str, *, role: str = "admin", now: datetime = AFTER) -> BookingError:
    """The BookingError a transition raises (the test fails if it is allowed)."""
    with pytest.raises(BookingError) as caught:
        check_transition(old, new, role=role, start=START, now=now)
    return caught.value


@pytest.mark.parametrize("role", ["admin", "dentist"])
@pytest.mark.parametrize(("old", "new"), ALLOWED)
def test_staff_may_make_every_allowed_transition(old: str, new: str, role: str) -> None:
    """The front desk and dentists may make each move of the status machine (after the start)."""
    check_transition(old, new, role=role, start=START, now=AFTER)


def test_every_other_transition_is_invalid() -> None:
    """Every pair of different statuses not in the machine is refused as invalid_transition."""
    refused = 0
    for old in STATUSES:
        for new in STATUSES:
            if old == new or (old, new) in ALLOWED:
                continue
            assert refusal(old, new).reason == Reason.INVALID_TRANSITION, (old, new)
            refused += 1
    assert refused == 7 * 6 - len(ALLOWED)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("completed", "cancelled"),
        ("cancelled", "scheduled"),
        ("no_show", "checked_in"),
        ("scheduled", "completed"),
        ("scheduled", "in_chair"),
        ("confirmed", "scheduled"),
        ("in_chair", "cancelled"),
        ("in_chair", "no_show"),
        ("checked_in", "confirmed"),
    ],
)
def test_selected_forbidden_transitions_say_why(old: str, new: str) -> None:
    """Skipping steps, going backwards or leaving a final state is refused with a readable message."""
    error = refusal(old, new)
    assert error.reason == Reason.INVALID_TRANSITION
    assert error.message.endswith(".") and "_" not in error.message


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("role", ["admin", "dentist", "patient"])
def test_same_status_is_a_no_op(status: str, role: str) -> None:
    """Setting the status an appointment already has is allowed and changes nothing."""
    check_transition(status, status, role=role, start=START, now=BEFORE)


@pytest.mark.parametrize("old", ["scheduled", "confirmed", "checked_in"])
def test_no_show_only_after_the_start(old: str) -> None:
    """A no-show cannot be recorded before the appointment starts; from the start time it can."""
    assert refusal(old, "no_show", now=BEFORE).reason == Reason.INVALID_TRANSITION
    check_transition(old, "no_show", role="admin", start=START, now=START)


@pytest.mark.parametrize(
    ("old", "new"),
    [("scheduled", "confirmed"), ("scheduled", "cancelled"), ("confirmed", "cancelled")],
)
def test_patients_may_confirm_and_cancel(old: str, new: str) -> None:
    """A patient may confirm a scheduled appointment and cancel one, well before it starts."""
    check_transition(old, new, role="patient", start=START, now=BEFORE - timedelta(days=2))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("scheduled", "checked_in"),
        ("confirmed", "checked_in"),
        ("checked_in", "in_chair"),
        ("in_chair", "completed"),
        ("scheduled", "no_show"),
    ],
)
def test_patients_may_not_run_the_clinic_workflow(old: str, new: str) -> None:
    """Checking in, seating, completing and no-shows are staff actions: forbidden for patients."""
    error = refusal(old, new, role="patient")
    assert error.reason == Reason.FORBIDDEN


def test_patients_still_get_invalid_transition_for_impossible_moves() -> None:
    """A patient trying to revive a cancelled appointment hears it is final, not merely forbidden."""
    assert refusal("cancelled", "confirmed", role="patient").reason == Reason.INVALID_TRANSITION


def test_unknown_status_or_role_is_refused() -> None:
    """A made-up status is invalid_params on "status"; a made-up role is forbidden."""
    error = refusal("scheduled", "teeth_whitened")
    assert error.reason == Reason.INVALID_PARAMS and "status" in error.fields
    assert refusal("scheduled", "confirmed", role="receptionist").reason == Reason.FORBIDDEN


def test_occupying_statuses() -> None:
    """Every status but cancelled and no_show holds the chair, dentist and patient."""
    assert OCCUPYING == frozenset(STATUSES) - {"cancelled", "no_show"}
