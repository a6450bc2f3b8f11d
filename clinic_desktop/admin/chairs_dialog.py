"""The admin's chairs (operatories): add, rename, retire, and each dentist's default chair. Live."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from ..operations import Operations
from ..session import Session
from ..store import Change

__all__ = ["ChairsDialog"]


class ChairsDialog(QDialog):
    """One row per chair (name, active, Save), a field to add one, and a default chair per dentist."""

    def __init__(self, session: Session, operations: Operations, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Chairs")
        self.session = session
        self.operations = operations
        self.rows: dict[int, tuple[QLineEdit, QCheckBox, QPushButton]] = {}
        self.defaults: dict[int, QComboBox] = {}
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.chairs_box = QGroupBox("Chairs")
        self.chairs_grid = QGridLayout(self.chairs_box)
        self.new_name = QLineEdit()
        self.new_name.setPlaceholderText("New chair, e.g. Hygiene room")
        self.add_button = QPushButton("Add chair")
        add_row = QHBoxLayout()
        add_row.addWidget(self.new_name, 1)
        add_row.addWidget(self.add_button)
        self.defaults_box = QGroupBox("Default chair (used when a booking names none)")
        self.defaults_form = QFormLayout(self.defaults_box)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.chairs_box)
        layout.addLayout(add_row)
        layout.addWidget(self.defaults_box)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self.add_button.clicked.connect(self._on_add_button_clicked)
        self.new_name.returnPressed.connect(self._on_add_button_clicked)
        buttons.rejected.connect(self.reject)
        session.store.add_listener(self._on_store_changed)
        self.finished.connect(self._on_self_finished)
        self.rebuild()

    def rebuild(self) -> None:
        """Lay the chairs and defaults out again from the store (a handful of rows)."""
        while self.chairs_grid.count():
            item = self.chairs_grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.rows = {}
        for r, chair in enumerate(sorted(self.session.store.rows("chair"), key=lambda c: c["id"])):
            name = QLineEdit(chair["name"])
            active = QCheckBox("In use")
            active.setChecked(bool(chair.get("active", True)))
            save = QPushButton("Save")
            save.clicked.connect(lambda _c=False, cid=chair["id"]: self._on_save_button_clicked(cid))
            self.chairs_grid.addWidget(name, r, 0)
            self.chairs_grid.addWidget(active, r, 1)
            self.chairs_grid.addWidget(save, r, 2)
            self.rows[chair["id"]] = (name, active, save)
        while self.defaults_form.rowCount():
            self.defaults_form.removeRow(0)
        self.defaults = {}
        chairs = [c for c in sorted(self.session.store.rows("chair"), key=lambda c: c["id"]) if c.get("active", True)]
        for dentist in sorted(self.session.store.rows("dentist"), key=lambda d: d.get("name", "")):
            if not dentist.get("active", True):
                continue
            combo = QComboBox()
            combo.addItem("No default chair", None)
            for chair in chairs:
                combo.addItem(chair["name"], chair["id"])
            combo.setCurrentIndex(max(0, combo.findData(dentist.get("default_chair_id"))))
            combo.activated.connect(lambda _i, did=dentist["id"]: self._on_default_combo_activated(did))
            self.defaults_form.addRow(dentist["name"], combo)
            self.defaults[dentist["id"]] = combo

    # -- writes ------------------------------------------------------------------------------

    async def save_chair(self, chair_id: int) -> dict[str, Any] | None:
        seen = self.session.store.get("chair", chair_id)
        if seen is None:
            return None
        name, active, save = self.rows[chair_id]
        result = await self.operations.run("chairs.update", {
            "id": chair_id, "version": seen["version"], "name": name.text(), "active": active.isChecked()},
            controls=(save,), report=self.message.setText, done=f"Saved {name.text().strip()}.")
        if result is not None:
            self.session.store.upsert("chair", result)
            self.message.setText(f"Saved {result['name']}.")
        return result

    async def add_chair(self) -> dict[str, Any] | None:
        result = await self.operations.run("chairs.create", {"name": self.new_name.text()},
                                           controls=(self.add_button,), report=self.message.setText)
        if result is not None:
            self.new_name.clear()
            self.session.store.upsert("chair", result)
            self.message.setText(f"Added {result['name']}.")
        return result

    async def set_default(self, dentist_id: int) -> dict[str, Any] | None:
        combo = self.defaults[dentist_id]
        result = await self.operations.run("dentists.set_default_chair",
                                           {"dentist_id": dentist_id, "chair_id": combo.currentData()},
                                           controls=(combo,), report=self.message.setText)
        if result is not None:
            self.session.store.upsert("dentist", result)
        return result

    # -- slots -------------------------------------------------------------------------------

    @asyncSlot()
    async def _on_add_button_clicked(self) -> None:
        await self.add_chair()

    @asyncSlot(int)
    async def _on_save_button_clicked(self, chair_id: int) -> None:
        await self.save_chair(chair_id)

    @asyncSlot(int)
    async def _on_default_combo_activated(self, dentist_id: int) -> None:
        await self.set_default(dentist_id)

    def _on_store_changed(self, change: Change) -> None:
        if change.kind == "chair" and change.op == "update" and change.row is not None \
                and change.row["id"] in self.rows and change.previous is not None \
                and change.previous.get("active") == change.row.get("active"):
            name, _active, _save = self.rows[change.row["id"]]
            if not name.isModified():  # someone else renamed it; keep what the admin is typing
                name.setText(change.row["name"])
        elif change.kind in ("chair", "dentist"):
            self.rebuild()

    def _on_self_finished(self, _result: int) -> None:
        self.session.store.remove_listener(self._on_store_changed)

