"""The client's entity store: every synced row the user may see, kept current by snapshots and events.

Pure: no Qt, no sockets. The sync client feeds it, Qt models and views listen to it. Every change
is applied idempotently: an event whose seq was already applied is ignored, and a row never goes
back to an older version (the snapshot-to-live handoff may deliver a row the snapshot already had).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Change", "EntityStore", "StoreListener"]

ChangeOp = Literal["reset", "insert", "update", "remove"]


@dataclass(frozen=True, slots=True)
class Change:
    """One change to the store, as listeners see it.

    `row` is the new row (insert/update) or the removed row (remove); `previous` is the row it
    replaced on update. For "reset" (a new snapshot) both are None and the listener rereads `kind`.
    `committed_at` is the server's commit instant of the event (None for a snapshot).
    """

    kind: str
    op: ChangeOp
    row: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None
    committed_at: str | None = None


StoreListener = Callable[[Change], None]


class EntityStore:
    """Rows by kind and id, with the last applied change-feed position (`seq`)."""

    def __init__(self) -> None:
        # kind -> id -> row; dicts keep insertion order, so iteration is stable between calls.
        self._rows: dict[str, dict[int, dict[str, Any]]] = {}
        # kind -> id -> version of a removed row, so a late, older upsert cannot resurrect it.
        self._tombstones: dict[str, dict[int, int]] = {}
        # The highest seq applied; events at or below it are duplicates (a replay overlap).
        self.seq: int | None = None
        # The feed epoch `seq` belongs to: after a restore or a cut history the server has another
        # one, and a seq from this store means nothing there (it answers with a snapshot).
        self.epoch: str | None = None
        self._listeners: list[StoreListener] = []

    # -- listeners ---------------------------------------------------------------------------

    def add_listener(self, listener: StoreListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: StoreListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _notify(self, change: Change) -> None:
        for listener in list(self._listeners):
            listener(change)

    # -- reading -----------------------------------------------------------------------------

    def get(self, kind: str, entity_id: int | None) -> dict[str, Any] | None:
        if entity_id is None:
            return None
        return self._rows.get(kind, {}).get(entity_id)

    def rows(self, kind: str) -> list[dict[str, Any]]:
        return list(self._rows.get(kind, {}).values())

    def count(self, kind: str) -> int:
        return len(self._rows.get(kind, {}))

    def settings(self) -> dict[str, Any]:
        """The clinic settings row (there is exactly one; empty before the first snapshot)."""
        rows = self._rows.get("settings", {})
        return next(iter(rows.values()), {})

    # -- writing -----------------------------------------------------------------------------

    def load_snapshot(
        self, snapshot: Mapping[str, Iterable[dict[str, Any]]], seq: int | None, epoch: str | None = None
    ) -> None:
        """Replace everything with a fresh snapshot taken at `seq` of feed `epoch`; listeners get one reset per kind."""
        kinds = set(self._rows) | set(snapshot)
        self._rows = {kind: {} for kind in kinds}
        self._tombstones = {}
        for kind, rows in snapshot.items():
            table = self._rows[kind]
            for row in rows:
                table[int(row["id"])] = dict(row)
        self.seq = seq
        self.epoch = epoch
        for kind in sorted(kinds):
            self._notify(Change(kind, "reset"))

    def note_watermark(self, seq: int | None) -> None:
        """Record a position the server vouches for with no event to apply (a resumed subscription)."""
        if seq is not None and (self.seq is None or seq > self.seq):
            self.seq = seq

    def apply_event(self, event: Mapping[str, Any]) -> Change | None:
        """Apply one `sync.event`; returns the change made, or None for a duplicate or stale event."""
        seq = event.get("seq")
        if seq is not None:
            if self.seq is not None and seq <= self.seq:
                return None
            self.seq = seq
        kind = event["entity"]
        committed_at = event.get("committed_at")
        if event["op"] == "delete":
            return self._remove(kind, int(event["id"]), event.get("data"), committed_at)
        return self._upsert(kind, dict(event["data"]), committed_at)

    def upsert(self, kind: str, row: dict[str, Any]) -> Change | None:
        """Apply a row known from an RPC result (e.g. the appointment just booked); version-guarded."""
        return self._upsert(kind, dict(row), None)

    def _upsert(self, kind: str, row: dict[str, Any], committed_at: str | None) -> Change | None:
        entity_id = int(row["id"])
        version = int(row.get("version") or 0)
        table = self._rows.setdefault(kind, {})
        current = table.get(entity_id)
        if current is not None:
            if int(current.get("version") or 0) >= version:
                return None
            table[entity_id] = row
            change = Change(kind, "update", row, current, committed_at)
        else:
            tombstone = self._tombstones.get(kind, {}).get(entity_id)
            if tombstone is not None and tombstone >= version:
                return None
            table[entity_id] = row
            change = Change(kind, "insert", row, None, committed_at)
        self._notify(change)
        return change

    def _remove(
        self, kind: str, entity_id: int, data: Mapping[str, Any] | None, committed_at: str | None
    ) -> Change | None:
        table = self._rows.setdefault(kind, {})
        current = table.get(entity_id)
        version = int((data or {}).get("version") or 0)
        if current is not None and version and int(current.get("version") or 0) > version:
            return None  # the row was re-created after this delete; keep the newer one
        tomb_version = max(version, int((current or {}).get("version") or 0))
        self._tombstones.setdefault(kind, {})[entity_id] = tomb_version
        if current is None:
            return None
        del table[entity_id]
        change = Change(kind, "remove", current, None, committed_at)
        self._notify(change)
        return change
