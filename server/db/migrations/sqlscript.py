"""Run a multi-statement SQL script inside a migration.

asyncpg prepares every statement, and a prepared statement may hold only one command; the
driver's plain `execute` uses PostgreSQL's simple query protocol, which runs a whole script.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy.util.concurrency import await_


def run_script(sql: str) -> None:
    raw = op.get_bind().connection.dbapi_connection.driver_connection
    await_(raw.execute(sql))
