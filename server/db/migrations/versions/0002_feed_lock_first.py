"""Take the change-feed lock before a synced table is written, not after.

With the lock taken only in the AFTER ROW trigger, a transaction could hold it while another one,
already past its exclusion-constraint check, waited for it, and the first could then wait on the
second's uncommitted row: a deadlock that turned a lost race into an internal error. Taking the same
lock in a BEFORE STATEMENT trigger orders every writer by the lock first, so a loser of a booking race
always sees the winner committed and gets a plain exclusion violation (slot_unavailable).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""


from server.db.migrations.sqlscript import run_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("appointments", "dentists", "patients", "chairs", "appointment_types", "working_hours",
          "schedule_exceptions", "clinic_settings")


def upgrade() -> None:
    script = ["""
CREATE FUNCTION clinic_lock_feed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(724242);
    RETURN NULL;
END $$;
"""]
    for table in TABLES:
        script.append(
            f"CREATE TRIGGER {table}_feed_lock BEFORE INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION clinic_lock_feed();"
        )
    run_script("\n".join(script))


def downgrade() -> None:
    script = [f"DROP TRIGGER IF EXISTS {table}_feed_lock ON {table};" for table in TABLES]
    script.append("DROP FUNCTION IF EXISTS clinic_lock_feed();")
    run_script("\n".join(script))
