"""The patient directory: find a patient, see their alert and whole history, edit, merge, book."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelection, QSortFilterProxyModel, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..operations import Operations
from ..session import Session
from ..store import Change
from .medical_alert import MedicalAlertBanner
from .merge_dialog import MergePatientsDialog
from .patient_editor import PatientEditor
from .patient_history_panel import PatientHistoryPanel
from .patient_table_model import PatientTableModel

__all__ = ["PatientDirectoryPanel"]


class PatientDirectoryPanel(QWidget):
    """Left: every patient (live from the feed), filtered as you type. Right: the chosen one."""

    def __init__(self, session: Session, operations: Operations, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._operations = operations
        self.merge_dialog: MergePatientsDialog | None = None
        self.model = PatientTableModel(session.store, self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search patients by name, phone, email…")
        self.search.setClearButtonEnabled(True)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(PatientTableModel.COL_NAME, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)  # a name on one line; the alert's full text is in its tooltip
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # Sized for names, not for whichever few rows a search showed first.
        header.setSectionResizeMode(PatientTableModel.COL_NAME, QHeaderView.ResizeMode.Interactive)
        self.table.setColumnWidth(PatientTableModel.COL_NAME, 150)
        self.table.hideColumn(PatientTableModel.COL_CONTACT)  # in the form; the alert needs the room more
        header.setSectionResizeMode(PatientTableModel.COL_ALERT, QHeaderView.ResizeMode.Stretch)
        self.new_button = QPushButton("New patient")
        self.merge_button = QPushButton("Merge with…")
        self.book_button = QPushButton("Book…")
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.search)
        left_layout.addWidget(self.table, 1)
        actions = QHBoxLayout()
        actions.addWidget(self.new_button)
        actions.addStretch(1)
        actions.addWidget(self.merge_button)
        actions.addWidget(self.book_button)
        left_layout.addLayout(actions)

        self.alert = MedicalAlertBanner(session.store)
        self.editor = PatientEditor(session, operations)
        self.history = PatientHistoryPanel(session, operations)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.alert)
        right_layout.addWidget(self.editor)
        right_layout.addWidget(self.history, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self.search.textChanged.connect(self._on_search_text_changed)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)
        self.new_button.clicked.connect(self._on_new_button_clicked)
        self.merge_button.clicked.connect(self._on_merge_button_clicked)
        self.book_button.clicked.connect(self._on_book_button_clicked)
        self.editor.saved.connect(self._on_editor_saved)
        self.editor.chose_existing.connect(self._on_editor_saved)
        session.store.add_listener(self._on_store_changed)
        self.destroyed.connect(lambda *_: session.store.remove_listener(self._on_store_changed))
        self.show_patient(None)

    def detach(self) -> None:
        self._session.store.remove_listener(self._on_store_changed)
        self.model.detach()
        self.alert.detach()
        self.history.detach()

    def write_controls(self) -> list[QWidget]:
        return [self.new_button, self.merge_button, self.book_button, self.editor.save_button]

    def update_actions(self) -> None:
        """Writes need the connection; merging and booking need a chosen patient."""
        online = self._session.online
        chosen = self._session.store.get("patient", self.patient_id) is not None
        self.new_button.setEnabled(online)
        self.editor.save_button.setEnabled(online)
        self.merge_button.setEnabled(online and chosen)
        self.book_button.setEnabled(online and chosen)

    # -- own API -----------------------------------------------------------------------------

    @property
    def patient_id(self) -> int | None:
        return self.editor.patient_id

    def visible_patient_ids(self) -> list[int]:
        return [self.proxy.index(r, 0).data(Qt.ItemDataRole.UserRole) for r in range(self.proxy.rowCount())]

    def select_patient(self, patient_id: int) -> bool:
        """Select the patient in the table (clearing a search that hides them) and show them."""
        if self.model.row_of(patient_id) < 0:
            return False
        source = self.model.index(self.model.row_of(patient_id), 0)
        if not self.proxy.mapFromSource(source).isValid():
            self.search.clear()
        index = self.proxy.mapFromSource(source)
        self.table.selectRow(index.row())
        self.table.scrollTo(index)
        return True

    def show_patient(self, patient_id: int | None) -> None:
        patient = self._session.store.get("patient", patient_id)
        self.editor.load(patient)
        self.alert.show_patient(patient_id if patient else None)
        self.history.show_patient(patient_id if patient else None)
        self.update_actions()

    # -- reactions ---------------------------------------------------------------------------

    def _on_search_text_changed(self, text: str) -> None:
        self.proxy.setFilterFixedString(text.strip())

    def _on_table_selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = self.table.selectionModel().selectedRows()
        self.show_patient(rows[0].data(Qt.ItemDataRole.UserRole) if rows else None)

    def _on_new_button_clicked(self) -> None:
        self.table.clearSelection()
        self.show_patient(None)
        self.editor.fields["name"].setFocus()

    def _on_merge_button_clicked(self) -> None:
        patient = self._session.store.get("patient", self.patient_id)
        if patient is None:
            return
        dialog = MergePatientsDialog(self._session, self._operations, patient, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.merged.connect(self._on_editor_saved)
        self.merge_dialog = dialog
        dialog.open()

    def _on_book_button_clicked(self) -> None:
        from ..lists.booking_for import open_booking_for

        if self.patient_id is not None:
            open_booking_for(self._session, self._operations, patient_id=self.patient_id, type_id=None, parent=self)

    def _on_editor_saved(self, patient: dict[str, Any]) -> None:
        self.select_patient(patient["id"])
        self.show_patient(patient["id"])

    def _on_store_changed(self, change: Change) -> None:
        if change.kind != "patient" or self.patient_id is None:
            return
        row = change.row or {}
        if change.op == "remove" and row.get("id") == self.patient_id:
            self.show_patient(None)  # merged away at another desk
        elif change.op == "update" and row.get("id") == self.patient_id and not self.editor.changes():
            self.editor.load(row)  # nothing typed here yet: show the other desk's edit
