"""Merge two records of one person: pick the other record and which one to keep; the server moves everything."""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from ..messages import patient_details
from ..operations import Operations
from ..session import Session
from ..widgets.error_label import ErrorLabel

__all__ = ["MergePatientsDialog"]

_ID = Qt.ItemDataRole.UserRole + 1


class MergePatientsDialog(QDialog):
    """Both rows are taken as the user saw them when choosing; their versions go with the merge."""

    merged = Signal(dict)  # the kept patient

    def __init__(self, session: Session, operations: Operations, patient: dict[str, Any],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._operations = operations
        self._patient = dict(patient)
        self._other: dict[str, Any] | None = None
        self.setWindowTitle("Merge patient records")
        self.setMinimumSize(560, 460)
        intro = QLabel(f"Merge <b>{_escape(patient['name'])}</b> ({_escape(patient_details(patient))}) with another "
                       "record of the same person. The appointments and history of both end up on the record kept; "
                       "the other record is removed. This cannot be undone.")
        intro.setWordWrap(True)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Find the other record by name, phone or email…")
        self.search.setClearButtonEnabled(True)
        self.candidates = QListWidget()
        self.keep_this = QRadioButton()
        self.keep_other = QRadioButton("Keep the other record")
        self.keep_this.setChecked(True)
        self.error_label = ErrorLabel()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.merge_button = self.buttons.addButton("Merge", QDialogButtonBox.ButtonRole.AcceptRole)
        self.merge_button.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.search)
        layout.addWidget(self.candidates, 1)
        layout.addWidget(self.keep_this)
        layout.addWidget(self.keep_other)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.search.textChanged.connect(self._on_search_text_changed)
        self.candidates.currentItemChanged.connect(self._on_candidates_current_item_changed)
        self.buttons.rejected.connect(self.reject)
        self.merge_button.clicked.connect(self._on_merge_button_clicked)
        self.keep_this.setText(f"Keep {patient['name']} (this record)")
        self.search.setText(patient["name"].split()[0] if patient["name"].split() else "")

    def choose(self, patient_id: int) -> bool:
        for i in range(self.candidates.count()):
            if self.candidates.item(i).data(_ID) == patient_id:
                self.candidates.setCurrentRow(i)
                return True
        return False

    def _on_search_text_changed(self, text: str) -> None:
        needle = text.strip().lower()
        self.candidates.clear()
        for row in sorted(self._session.store.rows("patient"), key=lambda r: r.get("name", "").lower()):
            if row["id"] == self._patient["id"]:
                continue
            hay = " ".join(str(row.get(k) or "") for k in ("name", "phone", "email")).lower()
            if needle and needle not in hay:
                continue
            item = QListWidgetItem(f"{row['name']}   {patient_details(row)}")
            item.setData(_ID, row["id"])
            self.candidates.addItem(item)

    def _on_candidates_current_item_changed(self, current: QListWidgetItem | None, _previous: object) -> None:
        other = self._session.store.get("patient", current.data(_ID)) if current is not None else None
        self._other = dict(other) if other else None
        self.merge_button.setEnabled(self._other is not None)
        if self._other:
            self.keep_other.setText(f"Keep {self._other['name']} ({patient_details(self._other)})")

    def _on_merge_button_clicked(self) -> None:
        self._session.tasks.spawn(self.merge(), name="patients.merge")

    async def merge(self) -> dict[str, Any] | None:
        if self._other is None:
            return None
        keep, gone = (self._patient, self._other) if self.keep_this.isChecked() else (self._other, self._patient)
        result = await self._operations.run("patients.merge", {
            "keep_id": keep["id"], "keep_version": keep["version"], "merge_id": gone["id"],
            "merge_version": gone["version"]}, controls=[self.merge_button], report=self.error_label.setText,
            done=f"{gone['name']} merged into {keep['name']}")
        if result is not None:
            self._session.store.upsert("patient", result)
            self.merged.emit(result)
            self.accept()
        return result

    async def ask(self) -> dict[str, Any] | None:
        """Show (non-modal) and return the kept patient, or None."""
        done: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self.merged.connect(lambda row: done.done() or done.set_result(row))
        self.finished.connect(lambda _r: done.done() or done.set_result(None))
        self.open()
        return await done


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
