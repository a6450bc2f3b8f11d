"""Rows shaped like the wire (server/protocol/shapes.py) for tests of the pure parts and the models."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

BASE = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def directory() -> dict[str, list[dict[str, Any]]]:
    return {
        "settings": [
            {
                "id": 1,
                "version": 1,
                "clinic_name": "DentalCare Connect Demo",
                "timezone": "Europe/London",
                "slot_minutes": 15,
                "min_notice_minutes": 60,
                "max_advance_days": 90,
                "late_cancel_hours": 24,
            }
        ],
        "dentist": [
            {"id": 1, "version": 1, "name": "Dr Sarah Smith", "user_id": 2, "colour": "#3b82f6", "active": True},
            {"id": 2, "version": 1, "name": "Dr Raj Patel", "user_id": 3, "colour": "#10b981", "active": True},
        ],
        "appointment_type": [
            {"id": 1, "version": 1, "name": "Check-up", "duration_minutes": 30, "colour": "#60a5fa", "patient_bookable": True},
            {"id": 2, "version": 1, "name": "Cleaning", "duration_minutes": 45, "colour": "#34d399", "patient_bookable": True},
            {"id": 3, "version": 1, "name": "Filling", "duration_minutes": 60, "colour": "#fbbf24", "patient_bookable": True},
            {"id": 4, "version": 1, "name": "Root canal", "duration_minutes": 90, "colour": "#f87171", "patient_bookable": False},
        ],
        "patient": [
            {"id": 1, "version": 1, "name": "Alice Archer", "phone": None, "email": None, "date_of_birth": None, "user_id": 4},
            {"id": 2, "version": 1, "name": "Bob Brown", "phone": None, "email": None, "date_of_birth": None, "user_id": 5},
        ],
        "chair": [{"id": 1, "version": 1, "name": "Chair 1", "active": True}],
        "working_hours": [
            {"id": 10 * dentist + weekday * 2 + half, "version": 1, "dentist_id": dentist, "weekday": weekday,
             "start": ("09:00", "13:00")[half], "end": ("12:00", "17:00")[half]}
            for dentist in (1, 2) for weekday in range(5) for half in (0, 1)
        ],
        "schedule_exception": [],
    }


def appointment(appointment_id: int, *, version: int = 1, dentist_id: int = 1, patient_id: int = 1,
                start: datetime | None = None, minutes: int = 30, status: str = "scheduled",
                type_id: int = 1, notes: str = "") -> dict[str, Any]:
    begin = start or BASE + timedelta(minutes=30 * appointment_id)
    return {
        "id": appointment_id,
        "version": version,
        "patient_id": patient_id,
        "patient_name": {1: "Alice Archer", 2: "Bob Brown"}.get(patient_id, f"Patient {patient_id}"),
        "dentist_id": dentist_id,
        "chair_id": None,
        "type_id": type_id,
        "start": begin.isoformat(),
        "end": (begin + timedelta(minutes=minutes)).isoformat(),
        "status": status,
        "source": "front_desk",
        "notes": notes,
        "cancel_reason": None,
        "created_at": BASE.isoformat(),
        "updated_at": BASE.isoformat(),
    }


def make_snapshot(appointments: int) -> dict[str, list[dict[str, Any]]]:
    snapshot = directory()
    snapshot["appointment"] = [
        appointment(i, dentist_id=1 + i % 2, patient_id=1 + (i // 2) % 2) for i in range(1, appointments + 1)
    ]
    return snapshot


def event(seq: int, entity: str, data: dict[str, Any] | None, *, op: str = "upsert",
          entity_id: int | None = None) -> dict[str, Any]:
    return {
        "seq": seq,
        "entity": entity,
        "op": op,
        "id": entity_id if entity_id is not None else (data or {})["id"],
        "data": data,
        "committed_at": datetime.now(timezone.utc).isoformat(),
    }
