"""A patient's new name reaches every appointment event, live and replayed (the wire shape carries it)."""

from __future__ import annotations

import asyncpg

from tests.helpers import RpcClient
from tests.server_process import ServerProcess


async def test_a_renamed_patient_is_renamed_in_live_and_replayed_appointment_events(server: ServerProcess) -> None:
    async with RpcClient(server.ws_url) as live, RpcClient(server.ws_url) as later:
        await live.login("frontdesk")
        first = await live.subscribe(None)
        mine = [a for a in first["snapshot"]["appointment"] if a["patient_name"] == "Alice Brown"]
        assert mine, "the demo has appointments for Alice Brown"
        await later.login("frontdesk")
        before = (await later.subscribe(None))["seq"]
        await later.close()

        conn = await asyncpg.connect(server.database_url)
        try:
            await conn.execute("UPDATE patients SET name = 'Alice Green' WHERE name = 'Alice Brown'")
        finally:
            await conn.close()

        # Live: every one of her appointments arrives again with the new name.
        wanted = {a["id"] for a in mine}
        assert await names_of(live, wanted) == {"Alice Green"}

    # Replayed: a desktop that was away during the rename resumes and gets the new name too.
    async with RpcClient(server.ws_url) as resumed:
        await resumed.login("frontdesk")
        await resumed.subscribe(before)
        assert await names_of(resumed, wanted) == {"Alice Green"}


async def names_of(client: RpcClient, wanted: set[int]) -> set[str]:
    """The patient names of the next events about each of the `wanted` appointments."""
    names: dict[int, str] = {}
    while not wanted <= set(names):
        event = await client.next_event(timeout=10)
        if event["entity"] == "appointment" and event["id"] in wanted:
            names[event["id"]] = event["data"]["patient_name"]
    return set(names.values())
