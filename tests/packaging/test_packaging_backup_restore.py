"""`clinic-server backup` / `restore`: a restore drill into a fresh data directory keeps everything."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from tests.helpers import RpcClient
from tests.packaging.processes import EmbeddedServerProcess, clinic_server
from tests.server_process import ServerProcess

LONDON = ZoneInfo("Europe/London")


def _weekday_ahead(days: int):
    d = datetime.now(LONDON).date() + timedelta(days=days)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


async def _book_three(desk: RpcClient) -> list[dict]:
    """Three bookings, one moved and one cancelled: appointments, history and change_log all grow."""
    booked = []
    for i, days in enumerate((5, 6, 7)):
        day = _weekday_ahead(days).isoformat()
        slots = await desk.call("slots.find", type_id=1, dentist_id=1 + i % 2, **{"from": day, "to": day})
        booked.append(await desk.call("appointments.create", dentist_id=slots[0]["dentist_id"], type_id=1,
                                      patient_id=1 + i % 2, start=slots[0]["start"], notes=f"drill {i}"))
    booked[0] = await desk.call("appointments.update", id=booked[0]["id"], version=booked[0]["version"],
                                notes="drill 0, moved notes")
    booked[2] = await desk.call("appointments.cancel", id=booked[2]["id"], reason="patient called")
    return booked


async def _rows(url: str) -> dict[str, list]:
    conn = await asyncpg.connect(url)
    try:
        return {
            "appointments": [tuple(r) for r in await conn.fetch(
                "SELECT id, patient_id, dentist_id, start_at, end_at, status, notes, version FROM appointments ORDER BY id")],
            "users": [tuple(r) for r in await conn.fetch(
                "SELECT id, username, password_hash, role, active FROM users ORDER BY id")],
            "change_log": [tuple(r) for r in await conn.fetch(
                "SELECT seq, entity, op, entity_id, data::text FROM change_log ORDER BY seq")],
        }
    finally:
        await conn.close()


async def test_restore_into_fresh_data_dir_keeps_appointments_logins_and_change_log(
        server: ServerProcess, work_dir: Path) -> None:
    """Backup a live clinic, restore it into a new data directory, and a server there has every row, login and seq."""
    async with RpcClient(server.ws_url) as desk:
        await desk.login("frontdesk")
        booked = await _book_three(desk)
        before = await desk.call("appointments.list")
        watermark = (await desk.subscribe(None))["seq"]
    source_rows = await _rows(server.database_url)
    assert len(source_rows["change_log"]) > 0 and watermark == source_rows["change_log"][-1][0]

    dump = work_dir / "clinic.dump"
    made = clinic_server("backup", "--database-url", server.database_url, "--out", dump)
    assert made.returncode == 0, made.stderr
    assert f"up to seq {watermark}" in made.stdout and dump.stat().st_size > 0

    restored_dir = work_dir / "restored"
    done = clinic_server("restore", dump, "--data-dir", restored_dir)
    assert done.returncode == 0, done.stderr
    assert f"up to seq {watermark}" in done.stdout

    restored = EmbeddedServerProcess(restored_dir, work_dir / "restored.log")
    restored.start()
    try:
        assert await _rows(restored.database_url_of_cluster()) == source_rows
        async with RpcClient(restored.ws_url) as desk, RpcClient(restored.ws_url) as alice:
            await desk.login("frontdesk")  # password hashes came across: the demo password still works
            await alice.login("alice")
            assert await desk.call("appointments.list") == before
            assert {a["id"]: a["status"] for a in before if a["id"] in {b["id"] for b in booked}} == \
                {booked[0]["id"]: "scheduled", booked[1]["id"]: "scheduled", booked[2]["id"]: "cancelled"}
            # A client that had seen everything up to the backup resumes with nothing to replay ...
            assert (await alice.subscribe(watermark))["replayed"] == 0
            # ... and one that was three changes behind gets exactly those three, with their original seqs.
            replay = await desk.subscribe(watermark - 3)
            assert replay["replayed"] == 3
            seqs = [(await desk.next_event())["seq"] for _ in range(3)]
            assert seqs == [watermark - 2, watermark - 1, watermark]
            # The restored clinic takes new bookings, numbered after the old ones.
            day = _weekday_ahead(9).isoformat()
            slot = (await desk.call("slots.find", type_id=1, **{"from": day, "to": day}))[0]
            await desk.call("appointments.create", dentist_id=slot["dentist_id"], type_id=1, patient_id=1,
                            start=slot["start"])
            assert (await desk.next_event())["seq"] > watermark
    finally:
        restored.stop()


async def test_backup_of_embedded_data_dir_running_or_not(server: ServerProcess, work_dir: Path) -> None:
    """Backup of a data directory starts its stopped cluster only for the backup, and leaves a running server running."""
    dump = work_dir / "clinic.dump"
    assert clinic_server("backup", "--database-url", server.database_url, "--out", dump).returncode == 0
    data_dir = work_dir / "clinic-pc"
    assert clinic_server("restore", dump, "--data-dir", data_dir).returncode == 0
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    assert not pid_file.exists()  # restore stops the cluster it created

    cold = clinic_server("backup", "--data-dir", data_dir, "--out", work_dir / "cold.dump")
    assert cold.returncode == 0, cold.stderr
    assert "4 appointments, 5 users" in cold.stdout
    assert not pid_file.exists()  # started for the backup, stopped again

    running = EmbeddedServerProcess(data_dir, work_dir / "running.log")
    running.start()
    try:
        hot = clinic_server("backup", "--data-dir", data_dir, "--out", work_dir / "hot.dump")
        assert hot.returncode == 0, hot.stderr
        assert running.healthy()  # the backup did not stop the database under the server
        async with RpcClient(running.ws_url) as desk:
            await desk.login("frontdesk")
            assert len(await desk.call("appointments.list")) == 4
    finally:
        running.stop()
    again = work_dir / "again"
    assert clinic_server("restore", work_dir / "hot.dump", "--data-dir", again).returncode == 0


@pytest.mark.parametrize("case", ["missing", "truncated", "not-a-dump", "not-empty", "no-target"])
def test_restore_refuses_bad_input_with_a_clear_message(case: str, server: ServerProcess, work_dir: Path) -> None:
    """A missing, corrupt or foreign file, or a target that already holds a clinic, is refused in one line, no traceback."""
    good = work_dir / "good.dump"
    assert clinic_server("backup", "--database-url", server.database_url, "--out", good).returncode == 0
    target = work_dir / "new-data"
    args: list = ["restore", good, "--data-dir", target]
    expected = ""
    if case == "missing":
        args[1], expected = work_dir / "nope.dump", "does not exist"
    elif case == "truncated":
        (work_dir / "cut.dump").write_bytes(good.read_bytes()[:2000])
        args[1], expected = work_dir / "cut.dump", "not a usable backup"
    elif case == "not-a-dump":
        (work_dir / "notes.txt").write_text("shopping list\n")
        args[1], expected = work_dir / "notes.txt", "not a usable backup"
    elif case == "not-empty":
        args = ["restore", good, "--database-url", server.database_url]
        expected = "is not empty"
    elif case == "no-target":
        args, expected = ["restore", good], "--data-dir"
    result = clinic_server(*args)
    assert result.returncode != 0
    assert expected in result.stderr and result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in result.stderr + result.stdout
    if case in ("missing", "truncated", "not-a-dump"):
        assert not target.exists()  # a bad file is refused before any cluster is created


def test_backup_refuses_wrong_paths(work_dir: Path) -> None:
    """A data directory with no database, or an output folder that does not exist, gets a one-line error."""
    no_db = clinic_server("backup", "--data-dir", work_dir / "typo", "--out", work_dir / "x.dump")
    assert no_db.returncode != 0 and "no database in" in no_db.stderr and "Traceback" not in no_db.stderr
    assert not (work_dir / "typo").exists()  # no empty cluster conjured up by a typo
    no_folder = clinic_server("backup", "--data-dir", work_dir, "--out", work_dir / "missing" / "x.dump")
    assert no_folder.returncode != 0 and "does not exist" in no_folder.stderr
