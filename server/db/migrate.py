"""Apply (or undo) the Alembic migrations programmatically."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig

from .embedded import DatabaseLocation

__all__ = ["upgrade", "downgrade", "upgrade_async"]

_INI = Path(__file__).with_name("alembic.ini")


def _config(location: DatabaseLocation) -> AlembicConfig:
    cfg = AlembicConfig(str(_INI))
    cfg.set_main_option("script_location", str(_INI.parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", location.sqlalchemy_url.replace("%", "%%"))
    return cfg


def upgrade(location: DatabaseLocation, revision: str = "head") -> None:
    command.upgrade(_config(location), revision)


def downgrade(location: DatabaseLocation, revision: str = "base") -> None:
    command.downgrade(_config(location), revision)


async def upgrade_async(location: DatabaseLocation, revision: str = "head") -> None:
    """Run from inside an event loop (Alembic's env runs its own loop, so give it a thread)."""
    await asyncio.to_thread(upgrade, location, revision)
