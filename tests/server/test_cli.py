"""The `clinic-server` command line: migrate, create-user, seed-demo."""

from __future__ import annotations

import subprocess
import sys

import asyncpg

from tests.server_process import REPO_ROOT


def _cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server", *args], input=stdin, capture_output=True, text=True,
                          cwd=str(REPO_ROOT), timeout=120)


async def test_migrate_seed_and_create_user_on_an_empty_database(empty_database_url: str, tmp_path) -> None:
    """migrate builds the schema, seed-demo loads the demo clinic once, create-user adds a working login."""
    common = ["--database-url", empty_database_url, "--data-dir", str(tmp_path)]
    migrated = _cli("migrate", *common)
    assert migrated.returncode == 0, migrated.stderr
    seeded = _cli("seed-demo", *common)
    assert seeded.returncode == 0, seeded.stderr
    again = _cli("seed-demo", *common)
    assert again.returncode == 1 and "already has users" in again.stderr
    created = _cli("create-user", "drjones", "--role", "dentist", "--name", "Dr Jones", *common, stdin="s3cret-pass\n")
    assert created.returncode == 0, created.stderr
    duplicate = _cli("create-user", "DRJONES", "--role", "admin", "--name", "X", *common, stdin="another-pass\n")
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    conn = await asyncpg.connect(empty_database_url)
    try:
        users = {r["username"]: r["role"] for r in await conn.fetch("SELECT username, role FROM users")}
        dentist = await conn.fetchval("SELECT d.name FROM dentists d JOIN users u ON u.id = d.user_id "
                                      "WHERE u.username = 'drjones'")
        stored_hash = await conn.fetchval("SELECT password_hash FROM users WHERE username = 'drjones'")
    finally:
        await conn.close()
    assert users["drjones"] == "dentist" and users["frontdesk"] == "admin" and len(users) == 6
    assert dentist == "Dr Jones"
    assert stored_hash.startswith("$argon2") and "s3cret-pass" not in stored_hash
