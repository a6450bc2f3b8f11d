"""A patient's appointment card: when, with whom, what, and how to reach the clinic. Pure (store in, HTML out)."""

from __future__ import annotations

from html import escape

from ..clinic_clock import ClinicClock
from ..store import EntityStore

__all__ = ["appointment_card_html"]


def appointment_card_html(store: EntityStore, clock: ClinicClock, appointment_id: int) -> str:
    """The card for one appointment; raises KeyError when the store does not hold it in full."""
    row = store.get("appointment", appointment_id)
    if row is None or row.get("busy"):
        raise KeyError(appointment_id)
    start, end = clock.local(row["start"]), clock.local(row["end"])
    clinic = store.settings().get("clinic_name") or "DentalCare Connect"
    dentist = (store.get("dentist", row.get("dentist_id")) or {}).get("name", "")
    treatment = (store.get("appointment_type", row.get("type_id")) or {}).get("name", "")
    chair = (store.get("chair", row.get("chair_id")) or {}).get("name", "")
    hours = settings_notice(store)
    lines = [
        ("Patient", row.get("patient_name") or ""),
        ("Date", f"{start:%A %d %B %Y}"),
        ("Time", f"{start:%H:%M} – {end:%H:%M}"),
        ("With", dentist),
        ("Treatment", treatment),
    ]
    if chair:
        lines.append(("Room", chair))
    table = "".join(f"<tr><td><b>{escape(k)}</b></td><td>{escape(v)}</td></tr>" for k, v in lines)
    return (
        "<html><body style=\"font-family: sans-serif; font-size: 11pt;\">"
        f"<h2>{escape(clinic)}</h2><p>Your next appointment</p>"
        f"<table cellpadding=\"4\">{table}</table>"
        f"<p style=\"font-size: 9pt;\">{escape(hours)}</p>"
        "</body></html>"
    )


def settings_notice(store: EntityStore) -> str:
    hours = store.settings().get("late_cancel_hours")
    if hours:
        return (f"Please arrive five minutes early. If you cannot come, let us know at least {hours} hours "
                "before, so someone else can have the time.")
    return "Please arrive five minutes early."
