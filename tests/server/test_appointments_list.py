"""`appointments.list` with no start date answers the latest appointments, not the clinic's oldest."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import asyncpg

from server.handlers.appointments import LIST_LIMIT
from tests.helpers import RpcClient
from tests.server_process import ServerProcess


async def test_a_list_without_from_holds_the_latest_appointments(server: ServerProcess) -> None:
    conn = await asyncpg.connect(server.database_url)
    try:
        # Years of history: more old appointments than one answer holds, all long before the demo's own.
        await conn.execute("""
            INSERT INTO appointments (patient_id, dentist_id, type_id, start_at, end_at, status, source)
            SELECT (SELECT min(id) FROM patients), (SELECT min(id) FROM dentists), (SELECT min(id) FROM appointment_types),
                   $1::timestamptz + g * interval '1 hour', $1::timestamptz + g * interval '1 hour' + interval '30 minutes',
                   'completed', 'front_desk'
            FROM generate_series(0, $2) AS g""",
            datetime.now(timezone.utc) - timedelta(days=3 * 365), LIST_LIMIT + 50)
        latest = await conn.fetchval("SELECT max(start_at) FROM appointments")
    finally:
        await conn.close()
    async with RpcClient(server.ws_url) as desk:
        await desk.login("frontdesk")
        rows = await desk.call("appointments.list")
    assert len(rows) == LIST_LIMIT
    starts = [datetime.fromisoformat(r["start"]) for r in rows]
    assert starts == sorted(starts)  # still oldest first
    assert starts[-1] == latest  # the demo's upcoming appointments are in, not cut off
