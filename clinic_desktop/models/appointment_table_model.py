"""The appointments the user may see, as a table that changes in place as events arrive."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from ..clinic_clock import ClinicClock, parse_instant
from ..messages import STATUS_LABELS
from ..store import Change, EntityStore
from .appointment_roles import AppointmentRole
from .stranded_appointments import StrandedAppointments

__all__ = ["AppointmentTableModel"]

_Index = QModelIndex | QPersistentModelIndex

# Roles that change when a row changes: named in dataChanged so views repaint only what they must.
_ROW_ROLES = [
    Qt.ItemDataRole.DisplayRole,
    Qt.ItemDataRole.ToolTipRole,
    Qt.ItemDataRole.DecorationRole,
    AppointmentRole.ROW,
    AppointmentRole.START,
    AppointmentRole.DENTIST_ID,
    AppointmentRole.PATIENT_ID,
    AppointmentRole.STATUS,
    AppointmentRole.SORT,
    AppointmentRole.STRANDED,
    Qt.ItemDataRole.ForegroundRole,
]
NEEDS_REBOOKING = "Needs rebooking"
_STRANDED_COLOUR = QColor(180, 40, 20)
# Kinds whose rows only feed the display text (names), never the set of appointment rows.
_LOOKUP_KINDS = {"dentist", "patient", "appointment_type", "chair", "settings"}
_TIME_COLUMNS = (0, 1)  # When, Until: sorted by the start instant
_SORT_ROLE = int(AppointmentRole.SORT)  # a plain int: compared on every call of data() while sorting


class _Derived:
    """What sorting and filtering ask of one row again and again, computed once per row version."""

    __slots__ = ("row", "start", "sort_keys", "haystack")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row  # the store replaces a row's dict on every change: identity says "still current"
        self.start = parse_instant(row["start"]).timestamp()
        self.sort_keys: dict[int, str] = {}
        self.haystack: str | None = None


class AppointmentTableModel(QAbstractTableModel):
    """One row per appointment in store order; an id -> row index keeps every change O(1) to locate."""

    COLUMNS = ("When", "Until", "Dentist", "Patient", "Type", "Status", "Notes")
    (COL_WHEN, COL_UNTIL, COL_DENTIST, COL_PATIENT, COL_TYPE, COL_STATUS, COL_NOTES) = range(7)

    def __init__(self, store: EntityStore, clock: ClinicClock, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._clock = clock
        self._ids: list[int] = []  # row -> appointment id
        self._index: dict[int, int] = {}  # appointment id -> row
        # appointment id -> sort keys, start and search text of the row version they came from;
        # cleared when a name they contain may have changed (a lookup kind changed).
        self._derived: dict[int, _Derived] = {}
        # Appointments a day off or shorter hours left outside working time: flagged until moved or cancelled.
        self._stranded = StrandedAppointments.of(store, clock)
        self._reload()
        store.add_listener(self._on_store_changed)
        self._stranded.add_listener(self._on_stranded_changed)

    def detach(self) -> None:
        """Stop following the store (the owning view is going away)."""
        self._store.remove_listener(self._on_store_changed)
        self._stranded.remove_listener(self._on_stranded_changed)

    # -- Qt overrides ------------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            if 0 <= section < len(self.COLUMNS):
                return self.COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == _SORT_ROLE:  # asked O(n log n) times while sorting: first, and cached
            return self.sort_key(index.row(), index.column())  # None for an invalid index (row -1)
        if not index.isValid() or index.row() >= len(self._ids):
            return None
        row = self._store.get("appointment", self._ids[index.row()])
        if row is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, index.column())
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row)
        if role == Qt.ItemDataRole.DecorationRole and index.column() == self.COL_TYPE:
            colour = self._type_colour(row)
            return QColor(colour) if colour else None
        if role == Qt.ItemDataRole.ForegroundRole:
            if row["id"] in self._stranded:
                return QBrush(_STRANDED_COLOUR)
            if row.get("status") in ("cancelled", "no_show"):
                return QBrush(QColor(128, 128, 128))
            return None
        if role == AppointmentRole.STRANDED:
            return row["id"] in self._stranded
        if role == AppointmentRole.ID:
            return row["id"]
        if role == AppointmentRole.ROW:
            return row
        if role == AppointmentRole.START:
            return self._derive(row).start
        if role == AppointmentRole.DENTIST_ID:
            return row.get("dentist_id")
        if role == AppointmentRole.PATIENT_ID:
            return row.get("patient_id")
        if role == AppointmentRole.STATUS:
            return row.get("status")
        return None

    # -- own API -----------------------------------------------------------------------------

    def row_of(self, appointment_id: int) -> int | None:
        return self._index.get(appointment_id)

    def appointment_at(self, row: int) -> dict[str, Any] | None:
        if 0 <= row < len(self._ids):
            return self._store.get("appointment", self._ids[row])
        return None

    def start_at(self, row: int) -> float | None:
        """The start instant (POSIX seconds) of a row, without a trip through Qt; for filters."""
        appointment = self.appointment_at(row)
        return self._derive(appointment).start if appointment is not None else None

    def sort_key(self, row: int, column: int) -> float | str | None:
        """What `AppointmentRole.SORT` returns: the same order the table always had.

        When and Until sort by the start instant; the other columns by their text, case-folded,
        with ties in start order (a zero-padded start after a NUL, which sorts below any text).
        """
        appointment = self.appointment_at(row)
        if appointment is None:
            return None
        derived = self._derive(appointment)
        if column in _TIME_COLUMNS:
            return derived.start
        key = derived.sort_keys.get(column)
        if key is None:
            key = f"{self._display(appointment, column).casefold()}\x00{derived.start:020.3f}"
            derived.sort_keys[column] = key
        return key

    def search_text_at(self, row: int) -> str:
        """Every column's text of a row, case-folded and joined: what the search box matches."""
        appointment = self.appointment_at(row)
        if appointment is None:
            return ""
        derived = self._derive(appointment)
        if derived.haystack is None:
            derived.haystack = " ".join(
                self._display(appointment, column) for column in range(len(self.COLUMNS))).casefold()
        return derived.haystack

    def _derive(self, row: dict[str, Any]) -> _Derived:
        derived = self._derived.get(row["id"])
        if derived is None or derived.row is not row:
            derived = self._derived[row["id"]] = _Derived(row)
        return derived

    # -- store changes -----------------------------------------------------------------------

    def _on_store_changed(self, change: Change) -> None:
        if change.kind == "appointment":
            if change.op == "reset":
                self.beginResetModel()
                self._reload()
                self.endResetModel()
            elif change.op == "insert":
                assert change.row is not None
                row = len(self._ids)
                self.beginInsertRows(QModelIndex(), row, row)
                self._ids.append(change.row["id"])
                self._index[change.row["id"]] = row
                self.endInsertRows()
            elif change.op == "update":
                assert change.row is not None
                changed = self._index.get(change.row["id"])
                if changed is not None:
                    self.dataChanged.emit(
                        self.index(changed, 0), self.index(changed, len(self.COLUMNS) - 1), _ROW_ROLES)
            elif change.op == "remove":
                assert change.row is not None
                self._derived.pop(change.row["id"], None)
                self._remove(change.row["id"])
        elif change.kind in _LOOKUP_KINDS and self._ids:
            self._derived.clear()
            # A name or the zone changed: every row's text may change, the set of rows does not.
            self.dataChanged.emit(
                self.index(0, 0),
                self.index(len(self._ids) - 1, len(self.COLUMNS) - 1),
                [Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.DecorationRole],
            )

    def _on_stranded_changed(self, changed: set[int], cause: Change) -> None:
        if cause.kind == "appointment":
            return  # the row itself changed: _on_store_changed, called next, emits for it
        for appointment_id in changed:
            row = self._index.get(appointment_id)
            if row is not None:
                self._derived.pop(appointment_id, None)  # its status text (sorted, searched) changed
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.COLUMNS) - 1), _ROW_ROLES)

    def _reload(self) -> None:
        self._ids = [row["id"] for row in self._store.rows("appointment")]
        self._derived = {}
        self._index = {appointment_id: row for row, appointment_id in enumerate(self._ids)}

    def _remove(self, appointment_id: int) -> None:
        row = self._index.get(appointment_id)
        if row is None:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._ids[row]
        del self._index[appointment_id]
        for later in range(row, len(self._ids)):
            self._index[self._ids[later]] = later
        self.endRemoveRows()

    # -- display -----------------------------------------------------------------------------

    def _display(self, row: dict[str, Any], column: int) -> str:
        busy = bool(row.get("busy"))
        if column == self.COL_WHEN:
            return self._clock.format_when(row["start"])
        if column == self.COL_UNTIL:
            return self._clock.format_time(row["end"])
        if column == self.COL_DENTIST:
            dentist = self._store.get("dentist", row.get("dentist_id"))
            return dentist["name"] if dentist else ""
        if column == self.COL_PATIENT:
            return "(busy)" if busy else str(row.get("patient_name") or self._patient_name(row))
        if column == self.COL_TYPE:
            appointment_type = self._store.get("appointment_type", row.get("type_id"))
            return appointment_type["name"] if appointment_type else ""
        if column == self.COL_STATUS:
            # A stranded appointment's status matters less than that it needs a new time (the tooltip has both).
            if row["id"] in self._stranded:
                return NEEDS_REBOOKING
            return STATUS_LABELS.get(row.get("status") or "", str(row.get("status") or ""))
        if column == self.COL_NOTES:
            return str(row.get("notes") or row.get("cancel_reason") or "")
        return ""

    def _patient_name(self, row: dict[str, Any]) -> str:
        patient = self._store.get("patient", row.get("patient_id"))
        return patient["name"] if patient else ""

    def _type_colour(self, row: dict[str, Any]) -> str | None:
        appointment_type = self._store.get("appointment_type", row.get("type_id"))
        return appointment_type.get("colour") if appointment_type else None

    def _tooltip(self, row: dict[str, Any]) -> str:
        when = f"{self._clock.format_when(row['start'])}–{self._clock.format_time(row['end'])}"
        if row.get("busy"):
            return f"{when}: busy"
        parts = [when, self._display(row, self.COL_PATIENT), self._display(row, self.COL_TYPE)]
        parts.append(STATUS_LABELS.get(row.get("status") or "", str(row.get("status") or "")))
        if row.get("cancel_reason"):
            parts.append(f"Reason: {row['cancel_reason']}")
        if row["id"] in self._stranded:
            parts.append("The dentist is no longer working at this time: it needs a new time")
        return " · ".join(part for part in parts if part)
