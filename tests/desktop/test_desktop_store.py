"""The entity store applies snapshots and events idempotently and tells listeners what changed."""

from __future__ import annotations

from clinic_desktop.store import Change, EntityStore
from desktop_factories import appointment, event, make_snapshot


def _recording_store(appointments: int = 3) -> tuple[EntityStore, list[Change]]:
    store = EntityStore()
    store.load_snapshot(make_snapshot(appointments), seq=10)
    changes: list[Change] = []
    store.add_listener(changes.append)
    return store, changes


def test_snapshot_loads_rows_and_watermark_and_resets_each_kind() -> None:
    """A snapshot replaces every kind, records its seq and notifies one reset per kind."""
    store = EntityStore()
    changes: list[Change] = []
    store.add_listener(changes.append)
    store.load_snapshot(make_snapshot(5), seq=42)
    assert store.seq == 42
    assert store.count("appointment") == 5
    assert store.get("dentist", 2)["name"] == "Dr Raj Patel"
    assert store.settings()["timezone"] == "Europe/London"
    assert {c.kind for c in changes if c.op == "reset"} >= {"appointment", "dentist", "settings"}


def test_event_inserts_then_updates_with_previous_row() -> None:
    """An upsert of an unknown id inserts; a newer version updates and carries the old row."""
    store, changes = _recording_store()
    store.apply_event(event(11, "appointment", appointment(100)))
    store.apply_event(event(12, "appointment", appointment(100, version=2, status="confirmed")))
    assert [c.op for c in changes] == ["insert", "update"]
    assert changes[1].previous["status"] == "scheduled"
    assert store.get("appointment", 100)["status"] == "confirmed"
    assert store.seq == 12


def test_duplicate_seq_is_ignored() -> None:
    """Replaying an event already applied changes nothing and notifies nobody."""
    store, changes = _recording_store()
    first = event(11, "appointment", appointment(100))
    store.apply_event(first)
    assert store.apply_event(first) is None
    assert store.apply_event(event(9, "appointment", appointment(101))) is None
    assert len(changes) == 1
    assert store.get("appointment", 101) is None


def test_older_version_never_overwrites_newer() -> None:
    """A late event carrying an older version of a row (the snapshot handoff) is dropped."""
    store, changes = _recording_store()
    store.apply_event(event(11, "appointment", appointment(1, version=5, status="in_chair")))
    assert store.apply_event(event(12, "appointment", appointment(1, version=4, status="confirmed"))) is None
    assert store.apply_event(event(13, "appointment", appointment(1, version=5, status="confirmed"))) is None
    assert store.get("appointment", 1)["status"] == "in_chair"
    assert store.seq == 13


def test_delete_removes_and_late_upsert_cannot_resurrect() -> None:
    """A delete removes the row; an older upsert arriving later does not bring it back."""
    store, changes = _recording_store()
    store.apply_event(event(11, "appointment", appointment(2, version=3)))
    store.apply_event(event(12, "appointment", {"id": 2, "version": 4}, op="delete"))
    assert store.get("appointment", 2) is None
    assert changes[-1].op == "remove" and changes[-1].row["id"] == 2
    assert store.upsert("appointment", appointment(2, version=3)) is None
    assert store.get("appointment", 2) is None
    assert store.apply_event(event(13, "appointment", None, op="delete", entity_id=999)) is None


def test_rpc_result_upsert_is_version_guarded() -> None:
    """A row taken from an RPC result applies only if newer than what the feed already gave."""
    store, changes = _recording_store()
    store.apply_event(event(11, "appointment", appointment(1, version=7)))
    assert store.upsert("appointment", appointment(1, version=6)) is None
    assert store.upsert("appointment", appointment(1, version=8, notes="x")).op == "update"


def test_resumed_watermark_only_moves_forward() -> None:
    """note_watermark keeps the highest seq seen, so a later `since` never goes back."""
    store, _ = _recording_store()
    store.note_watermark(5)
    assert store.seq == 10
    store.note_watermark(20)
    assert store.seq == 20


def test_listener_can_be_removed() -> None:
    """A removed listener hears nothing more."""
    store, changes = _recording_store()
    store.remove_listener(changes.append)
    store.apply_event(event(11, "appointment", appointment(100)))
    assert changes == []
