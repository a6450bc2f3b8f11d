"""Putting a document on paper or into a PDF through Qt's print support, with a preview first."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMarginsF
from PySide6.QtGui import QPageLayout, QPageSize, QTextDocument
from PySide6.QtPrintSupport import QPrinter, QPrintPreviewDialog
from PySide6.QtWidgets import QWidget

__all__ = ["PrintPreview", "document_for", "print_html_to_pdf"]


def document_for(html: str, title: str = "") -> QTextDocument:
    document = QTextDocument()
    document.setHtml(html)
    if title:
        document.setMetaInformation(QTextDocument.MetaInformation.DocumentTitle, title)
    return document


def _setup(printer: QPrinter, landscape: bool) -> None:
    printer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    orientation = QPageLayout.Orientation.Landscape if landscape else QPageLayout.Orientation.Portrait
    printer.setPageOrientation(orientation)
    printer.setPageMargins(QMarginsF(12, 12, 12, 12), QPageLayout.Unit.Millimeter)


def print_html_to_pdf(html: str, path: Path | str, *, landscape: bool = True, title: str = "") -> Path:
    """Write the document to a PDF file (QPrinter's PDF format) and return its path."""
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(path))
    _setup(printer, landscape)
    document_for(html, title).print_(printer)
    return Path(path)


class PrintPreview(QPrintPreviewDialog):
    """The preview the desk sees before printing (or saving as PDF from the print dialog)."""

    def __init__(self, html: str, *, title: str = "", landscape: bool = True, parent: QWidget | None = None) -> None:
        self.printer_ = QPrinter(QPrinter.PrinterMode.HighResolution)
        _setup(self.printer_, landscape)
        super().__init__(self.printer_, parent)
        self.document = document_for(html, title)
        self.setWindowTitle(f"Print preview — {title}" if title else "Print preview")
        self.paintRequested.connect(self._on_self_paint_requested)
        self.resize(900, 700)

    def _on_self_paint_requested(self, printer: QPrinter) -> None:
        self.document.print_(printer)


def day_sheet_preview(store, clock, day, *, dentist_id: int | None = None, chair_id: int | None = None,
                      parent: QWidget | None = None) -> PrintPreview:
    """A preview of the day sheet (per dentist, per chair, or everyone's), opened and returned."""
    from .day_sheet import day_sheet_html, day_sheet_title

    title = day_sheet_title(store, clock, day, dentist_id=dentist_id, chair_id=chair_id)
    preview = PrintPreview(day_sheet_html(store, clock, day, dentist_id=dentist_id, chair_id=chair_id),
                           title=title, landscape=True, parent=parent)
    preview.open()
    return preview


def appointment_card_preview(store, clock, appointment_id: int, *, parent: QWidget | None = None) -> PrintPreview:
    """A preview of the patient's appointment card, opened and returned."""
    from .appointment_card import appointment_card_html

    preview = PrintPreview(appointment_card_html(store, clock, appointment_id), title="Appointment card",
                           landscape=False, parent=parent)
    preview.open()
    return preview
