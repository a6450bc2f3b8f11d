"""The day sheet: one dentist's (or one chair's) appointments of a day, in time order, as a printable document.

Pure: built from the store's rows, no Qt. `day_sheet_lines` is what the sheet says, `day_sheet_html` how it
looks on paper (a QTextDocument renders it; Qt's "Order Form" example prints the same way).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from html import escape

from ..clinic_clock import ClinicClock
from ..messages import STATUS_LABELS
from ..store import EntityStore

__all__ = ["DaySheetLine", "day_sheet_html", "day_sheet_lines", "day_sheet_title"]

_SHOWN = {"scheduled", "confirmed", "checked_in", "in_chair", "completed", "no_show"}  # cancelled: not on paper


@dataclass(frozen=True, slots=True)
class DaySheetLine:
    """One appointment as the day sheet prints it."""

    appointment_id: int
    time: str  # "09:00–09:30"
    patient: str
    phone: str
    treatment: str
    notes: str
    status: str
    dentist: str
    chair: str


def day_sheet_lines(store: EntityStore, clock: ClinicClock, day: date, *, dentist_id: int | None = None,
                    chair_id: int | None = None) -> list[DaySheetLine]:
    """The day's appointments of one dentist or one chair (or everyone's), by start time; cancelled ones left out."""
    patients = {p["id"]: p for p in store.rows("patient")}
    types = {t["id"]: t.get("name", "") for t in store.rows("appointment_type")}
    dentists = {d["id"]: d.get("name", "") for d in store.rows("dentist")}
    chairs = {c["id"]: c.get("name", "") for c in store.rows("chair")}
    rows = []
    for row in store.rows("appointment"):
        if row.get("busy") or row.get("status") not in _SHOWN:
            continue
        if dentist_id is not None and row.get("dentist_id") != dentist_id:
            continue
        if chair_id is not None and row.get("chair_id") != chair_id:
            continue
        start = clock.local(row["start"])
        if start.date() != day:
            continue
        rows.append((start, row))
    rows.sort(key=lambda item: (item[0], item[1].get("dentist_id") or 0, item[1]["id"]))
    out = []
    for start, row in rows:
        patient = patients.get(row.get("patient_id"), {})
        out.append(DaySheetLine(
            appointment_id=int(row["id"]),
            time=f"{start:%H:%M}–{clock.local(row['end']):%H:%M}",
            patient=row.get("patient_name") or patient.get("name") or "",
            phone=patient.get("phone") or "",
            treatment=types.get(row.get("type_id"), ""),
            notes=(row.get("notes") or "").strip(),
            status=STATUS_LABELS.get(row.get("status") or "", row.get("status") or ""),
            dentist=dentists.get(row.get("dentist_id"), ""),
            chair=chairs.get(row.get("chair_id"), ""),
        ))
    return out


def day_sheet_title(store: EntityStore, clock: ClinicClock, day: date, *, dentist_id: int | None = None,
                    chair_id: int | None = None) -> str:
    if dentist_id is not None:
        who = (store.get("dentist", dentist_id) or {}).get("name", "Dentist")
    elif chair_id is not None:
        who = (store.get("chair", chair_id) or {}).get("name", "Chair")
    else:
        who = "All dentists"
    return f"Day sheet — {who} — {day:%A %d %B %Y}"


def day_sheet_html(store: EntityStore, clock: ClinicClock, day: date, *, dentist_id: int | None = None,
                   chair_id: int | None = None) -> str:
    """The day sheet as simple HTML (what QTextDocument renders well): a title, then a table of the day."""
    lines = day_sheet_lines(store, clock, day, dentist_id=dentist_id, chair_id=chair_id)
    clinic = store.settings().get("clinic_name") or "DentalCare Connect"
    title = day_sheet_title(store, clock, day, dentist_id=dentist_id, chair_id=chair_id)
    # Per chair the dentist matters, per dentist the chair does.
    extra = "Dentist" if chair_id is not None or dentist_id is None else "Chair"
    head = ["Time", "Patient", "Phone", "Treatment", extra, "Notes", "Status"]
    cells = []
    for line in lines:
        values = [line.time, line.patient, line.phone, line.treatment,
                  line.dentist if extra == "Dentist" else line.chair, line.notes, line.status]
        cells.append("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in values) + "</tr>")
    body = "".join(cells) or f'<tr><td colspan="{len(head)}"><i>No appointments.</i></td></tr>'
    count = f"{len(lines)} appointment{'s' if len(lines) != 1 else ''}"
    return (
        "<html><body style=\"font-family: sans-serif; font-size: 10pt;\">"
        f"<p style=\"font-size: 8pt; color: #555555;\">{escape(clinic)}</p>"
        f"<h2>{escape(title)}</h2>"
        f"<p>{count}</p>"
        "<table width=\"100%\" border=\"1\" cellspacing=\"0\" cellpadding=\"4\" style=\"border-collapse: collapse;\">"
        "<thead><tr>" + "".join(f"<th align=\"left\" bgcolor=\"#e8eef4\">{h}</th>" for h in head) + "</tr></thead>"
        f"<tbody>{body}</tbody></table>"
        "</body></html>"
    )
