"""Printing: the day sheet (per dentist or per chair) and a patient's appointment card, with a preview."""

from .appointment_card import appointment_card_html
from .day_sheet import DaySheetLine, day_sheet_html, day_sheet_lines
from .print_preview import (
           PrintPreview,
           appointment_card_preview,
           day_sheet_preview,
           print_html_to_pdf,
)

__all__ = ["DaySheetLine", "PrintPreview", "appointment_card_html", "appointment_card_preview", "day_sheet_html",
           "day_sheet_lines", "day_sheet_preview",
           "print_html_to_pdf"]
