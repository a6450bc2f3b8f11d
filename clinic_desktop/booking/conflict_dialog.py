"""Someone else changed an appointment while the user was deciding: what changed, theirs against yours."""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from ..messages import STATUS_LABELS
from ..session import Session

__all__ = ["ConflictDialog"]

# The fields a receptionist decides on, in the order they read them.
_FIELDS = (("time", "Time"), ("dentist", "Dentist"), ("chair", "Chair"), ("status", "Status"), ("notes", "Notes"))


class ConflictDialog(QDialog):
    """Three columns (as you opened it, theirs now, yours) for time, dentist, chair, status and notes.

    "Apply mine anyway" re-sends the user's change on the current version; "Keep theirs" (or Esc)
    drops it. Rows that the other person changed are bold, so the difference is seen at a glance.
    """

    def __init__(self, session: Session, seen: dict[str, Any], theirs: dict[str, Any], changes: dict[str, Any],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self.choice = "theirs"  # what the user chose: "mine" or "theirs"
        self.setWindowTitle("Changed by someone else")
        self.setMinimumWidth(680)
        mine = dict(seen, **changes)
        if "start" in changes and "end" not in changes:
            # The server keeps the duration: the proposed end is the proposed start plus the seen length.
            start, end = session.clock.local(seen["start"]), session.clock.local(seen["end"])
            mine["end"] = (session.clock.local(changes["start"]) + (end - start)).isoformat()
        who = theirs.get("patient_name") or seen.get("patient_name") or "This appointment"
        layout = QVBoxLayout(self)
        heading = QLabel(f"{who}'s appointment was changed by someone else while you were deciding.")
        heading.setWordWrap(True)
        bold = QFont(heading.font())
        bold.setBold(True)
        heading.setFont(bold)
        layout.addWidget(heading)

        grid = QGridLayout()
        grid.setHorizontalSpacing(18)
        grid.setVerticalSpacing(6)
        for column, title in enumerate(("", "When you opened it", "Now (their change)", "Yours"), start=0):
            label = QLabel(title)
            label.setFont(bold)
            grid.addWidget(label, 0, column)
        self.cells: dict[str, tuple[str, str, str]] = {}  # field -> (seen, theirs, yours) as shown (tests)
        for row, (field, title) in enumerate(_FIELDS, start=1):
            values = tuple(self._describe(field, version) for version in (seen, theirs, mine))
            self.cells[field] = values  # type: ignore[assignment]
            changed_by_them = values[1] != values[0]
            for column, text in enumerate((title, *values)):
                label = QLabel(text)
                label.setWordWrap(field == "notes" and column > 0)
                if changed_by_them and column in (0, 2):
                    label.setFont(bold)
                grid.addWidget(label, row, column)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(2, 1)
        grid.setColumnStretch(3, 1)
        layout.addLayout(grid)
        hint = QLabel("Apply yours to replace their change, or keep theirs and leave the appointment as it is now.")
        hint.setWordWrap(True)
        layout.addWidget(hint)

        self.buttons = QDialogButtonBox()
        self.apply_mine_button = self.buttons.addButton("Apply mine anyway", QDialogButtonBox.ButtonRole.AcceptRole)
        self.keep_theirs_button = self.buttons.addButton("Keep theirs", QDialogButtonBox.ButtonRole.RejectRole)
        self.keep_theirs_button.setDefault(True)  # the safe choice is the one Enter takes
        layout.addWidget(self.buttons)
        self.apply_mine_button.clicked.connect(self._on_apply_mine_button_clicked)
        self.keep_theirs_button.clicked.connect(self.reject)

    async def ask(self) -> str:
        """Show the dialog (non-modal, the feed keeps running) and return "mine" or "theirs" once answered."""
        answered: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def on_finished(_result: int) -> None:
            if not answered.done():
                answered.set_result(self.choice)

        self.finished.connect(on_finished)
        self.open()
        return await answered

    def _on_apply_mine_button_clicked(self) -> None:
        self.choice = "mine"
        self.accept()

    def _describe(self, field: str, row: dict[str, Any]) -> str:
        store, clock = self._session.store, self._session.clock
        if field == "time":
            return f"{clock.format_when(row['start'])}–{clock.format_time(row['end'])}" if row.get("start") else "—"
        if field == "dentist":
            return (store.get("dentist", row.get("dentist_id")) or {}).get("name", "—")
        if field == "chair":
            return (store.get("chair", row.get("chair_id")) or {}).get("name", "not assigned")
        if field == "status":
            return STATUS_LABELS.get(row.get("status") or "", row.get("status") or "—")
        return str(row.get("notes") or "—")
