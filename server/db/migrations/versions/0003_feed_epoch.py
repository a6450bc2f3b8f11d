"""The feed epoch: a random id that says which history a seq belongs to; TRUNCATE cuts the history.

`change_log_state.epoch` is created here with a fresh random value, replaced by `clinic-server restore`
and by any TRUNCATE of a synced table (or of change_log itself). A TRUNCATE fires no row triggers, so
without this it would remove rows that no client ever hears about; with it, every client's (epoch, seq)
stops matching and the next subscribe is answered with a snapshot. The BEFORE TRUNCATE trigger also
raises `pruned_through` to the feed's end, so no seq from before the cut can be replayed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""


from server.db.migrations.sqlscript import run_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("appointments", "dentists", "patients", "chairs", "appointment_types", "working_hours",
          "schedule_exceptions", "clinic_settings", "change_log")


def upgrade() -> None:
    script = ["""
ALTER TABLE change_log_state ADD COLUMN epoch uuid NOT NULL DEFAULT gen_random_uuid();

-- A TRUNCATE bypasses the row triggers: cut the feed's history instead (new epoch), under the feed lock.
CREATE FUNCTION clinic_cut_feed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(724242);
    UPDATE change_log_state
       SET epoch = gen_random_uuid(),
           pruned_through = greatest(pruned_through, (SELECT coalesce(max(seq), 0) FROM change_log));
    PERFORM pg_notify('clinic_changes', '');
    RETURN NULL;
END $$;
"""]
    for table in TABLES:
        script.append(f"CREATE TRIGGER {table}_truncate BEFORE TRUNCATE ON {table} "
                      f"FOR EACH STATEMENT EXECUTE FUNCTION clinic_cut_feed();")
    run_script("\n".join(script))


def downgrade() -> None:
    script = [f"DROP TRIGGER IF EXISTS {table}_truncate ON {table};" for table in TABLES]
    script.append("DROP FUNCTION IF EXISTS clinic_cut_feed();")
    script.append("ALTER TABLE change_log_state DROP COLUMN IF EXISTS epoch;")
    run_script("\n".join(script))
