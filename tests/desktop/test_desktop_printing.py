"""Printing the day sheet (per dentist, per chair) and an appointment card: the PDF's text holds the day's
patients in time order with their phone, treatment, notes and status; the print preview opens."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import unicodedata
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from qt_async import until
from scripted_windows import open_window

from clinic_desktop.main_window import MainWindow
from clinic_desktop.printing import (
    appointment_card_html,
    day_sheet_lines,
    day_sheet_preview,
    print_html_to_pdf,
)
from clinic_desktop.printing.day_sheet import day_sheet_html, day_sheet_title
from clinic_desktop.sync import Backoff

pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _pdf_text(path: Path) -> str:
    """The PDF's text with ligatures undone ("ﬁ" -> "fi", NFKC) and runs of blanks (pypdf gives tabs between
    words) as single spaces."""
    text = unicodedata.normalize("NFKC", "\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages))
    return re.sub(r"[ \t]+", " ", text)


def _quiet_weekday(window: MainWindow) -> date:
    day = window.session.clock.today() + timedelta(days=8)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


async def _book(desk: MainWindow, day: date, at: str, patient_id: int, dentist_id: int, type_id: int,
                notes: str = "", chair_id: int | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"dentist_id": dentist_id, "type_id": type_id, "patient_id": patient_id,
                              "start": desk.session.clock.at(day, at).isoformat(), "notes": notes}
    if chair_id is not None:
        params["chair_id"] = chair_id
    booked = await desk.operations.run("appointments.create", params)
    assert booked is not None, desk.operations.last_error
    return booked


def test_day_sheet_pdf_lists_the_days_patients_in_order(qt_async, qtbot, server, tmp_path) -> None:
    """Dr Smith's sheet for a day: Bob 09:00, Carol 10:30, Alice 14:00 in that order, with phone, treatment,
    notes and status; cancelled appointments and other dentists' patients are left out. The chair sheet
    shows Chair 3's one appointment with its dentist."""

    async def scenario() -> None:
        desk = await open_window(server.ws_url, "frontdesk", qtbot, backoff=Backoff(initial=0.2, maximum=1.0))
        store, clock = desk.session.store, desk.session.clock
        day = _quiet_weekday(desk)
        dentists = {d["name"]: d["id"] for d in store.rows("dentist")}
        types = {t["name"]: t["id"] for t in store.rows("appointment_type")}
        chairs = {c["name"]: c["id"] for c in store.rows("chair")}
        patients = {p["name"]: p["id"] for p in store.rows("patient")}
        carol = await desk.operations.run("patients.create", {"name": "Carol White", "phone": "07700 900777"})
        assert carol is not None, desk.operations.last_error
        smith, patel = dentists["Dr Smith"], dentists["Dr Patel"]
        alice = await _book(desk, day, "14:00", patients["Alice Brown"], smith, types["Filling"], "Upper left molar")
        bob = await _book(desk, day, "09:00", patients["Bob Green"], smith, types["Check-up"], "Nervous patient")
        carol_appt = await _book(desk, day, "10:30", carol["id"], smith, types["Cleaning"])
        other = await _book(desk, day, "09:00", patients["Alice Brown"], patel,
                            types["Check-up"], chair_id=chairs["Chair 3"])
        gone = await _book(desk, day, "16:00", patients["Bob Green"], smith, types["Check-up"])
        assert await desk.operations.run("appointments.cancel", {"id": gone["id"]}) is not None
        confirmed = await desk.operations.update_appointment(bob, {"status": "confirmed"})
        assert confirmed is not None
        await until(lambda: store.get("patient", carol["id"]) is not None
                    and (store.get("appointment", bob["id"]) or {}).get("status") == "confirmed"
                    and (store.get("appointment", gone["id"]) or {}).get("status") == "cancelled",
                    what="the day in the desk's store")

        lines = day_sheet_lines(store, clock, day, dentist_id=smith)
        assert [line.appointment_id for line in lines] == [bob["id"], carol_appt["id"], alice["id"]]
        pdf = print_html_to_pdf(day_sheet_html(store, clock, day, dentist_id=smith), tmp_path / "day-sheet.pdf",
                                title=day_sheet_title(store, clock, day, dentist_id=smith))
        text = _pdf_text(pdf)
        assert "Dr Smith" in text and f"{day:%A %d %B %Y}" in text and "3 appointments" in text
        positions = [text.index(name) for name in ("Bob Green", "Carol White", "Alice Brown")]
        assert positions == sorted(positions), text
        for expected in ("09:00", "10:30", "14:00", "07700 900777", "Check-up", "Cleaning", "Filling",
                         "Nervous patient", "Upper left molar", "Confirmed", "Scheduled"):
            assert expected in text, (expected, text)
        assert "16:00" not in text  # the cancelled one is not on the sheet
        assert text.count("Alice Brown") == 1  # her Dr Patel appointment is on his sheet, not this one

        chair_pdf = print_html_to_pdf(day_sheet_html(store, clock, day, chair_id=chairs["Chair 3"]),
                                      tmp_path / "chair-sheet.pdf")
        chair_text = _pdf_text(chair_pdf)
        assert "Chair 3" in chair_text and "Alice Brown" in chair_text and "Dr Patel" in chair_text
        assert "Bob Green" not in chair_text and "1 appointment" in chair_text

        card = print_html_to_pdf(appointment_card_html(store, clock, other["id"]), tmp_path / "card.pdf",
                                 landscape=False)
        card_text = _pdf_text(card)
        for expected in ("Alice Brown", f"{day:%A %d %B %Y}", "09:00", "Dr Patel", "Check-up", "Chair 3"):
            assert expected in card_text, expected

        preview = day_sheet_preview(store, clock, day, dentist_id=smith, parent=desk)
        await until(lambda: preview.isVisible(), what="the print preview")
        assert "Dr Smith" in preview.windowTitle()
        preview.close()

        if os.environ.get("CLINIC_UPDATE_SCREENSHOTS") == "1":
            pdftoppm = shutil.which("pdftoppm")
            assert pdftoppm, "pdftoppm (poppler-utils) renders the PDF page to PNG"
            await asyncio.to_thread(subprocess.run, [pdftoppm, "-png", "-r", "70", "-singlefile", str(pdf),
                                                     str(DOCS / "day-sheet")], check=True)
        desk.close()
        await desk.session.close()

    qt_async.run(scenario())
