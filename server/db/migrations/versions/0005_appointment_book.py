"""The appointment book a front desk runs its day on: custom lengths, chairs, blockouts, overrides, waiting room.

- `appointments.duration_minutes`: a custom length (staff only, in slot steps) stored on the appointment;
  null = the type's length. A move keeps it.
- `appointments.arrived_at`, `in_chair_at`, `completed_at`: stamped when the status becomes checked_in,
  in_chair, completed (the waiting room reads them).
- `appointments.schedule_override`: the appointment sits outside the bookable schedule (outside working
  hours, over a break, a day off or a blockout) because staff booked it with an explicit override.
  `appointment_history.override` records which write used the override: the handler sets the
  transaction-local setting `clinic.override` to 'on' for that write only.
- `dentists.default_chair_id`: the chair a booking or move without a chair gets.
- `blockout_types` (synced kind `blockout_type`): meeting, emergency reserve, new patients only, lunch…;
  `allow_online` says whether patient (online) and assistant bookings may use the blocked time.
- `blockouts` (synced kind `blockout`): a typed block on the schedule of one dentist, one chair, or
  (both null) the whole clinic.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from alembic import op

from server.db.migrations.sqlscript import run_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SYNCED = {"blockout_types": "blockout_type", "blockouts": "blockout"}


def upgrade() -> None:
    run_script("""
ALTER TABLE appointments
    ADD COLUMN duration_minutes integer CHECK (duration_minutes BETWEEN 5 AND 480),
    ADD COLUMN arrived_at timestamptz,
    ADD COLUMN in_chair_at timestamptz,
    ADD COLUMN completed_at timestamptz,
    ADD COLUMN schedule_override boolean NOT NULL DEFAULT false;

ALTER TABLE appointment_history ADD COLUMN override boolean NOT NULL DEFAULT false;

ALTER TABLE dentists ADD COLUMN default_chair_id integer REFERENCES chairs(id) ON DELETE SET NULL;

CREATE TABLE blockout_types (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    colour text NOT NULL DEFAULT '#b0b0b0' CHECK (colour ~ '^#[0-9a-fA-F]{6}$'),
    allow_online boolean NOT NULL DEFAULT false,
    version integer NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE blockouts (
    id serial PRIMARY KEY,
    dentist_id integer REFERENCES dentists(id) ON DELETE CASCADE,
    chair_id integer REFERENCES chairs(id) ON DELETE CASCADE,
    type_id integer NOT NULL REFERENCES blockout_types(id),
    start_at timestamptz NOT NULL,
    end_at timestamptz NOT NULL,
    note text NOT NULL DEFAULT '' CHECK (length(note) <= 1000),
    created_by integer REFERENCES users(id) ON DELETE SET NULL,
    version integer NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (start_at < end_at),
    CHECK (isfinite(start_at) AND isfinite(end_at))
);
CREATE INDEX blockouts_range_idx ON blockouts USING gist (tstzrange(start_at, end_at));

CREATE FUNCTION clinic_wire_blockout_type(t blockout_types) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', t.id, 'version', t.version, 'name', t.name, 'colour', t.colour,
                              'allow_online', t.allow_online)
$$;
CREATE FUNCTION clinic_wire_blockout(b blockouts) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', b.id, 'version', b.version, 'dentist_id', b.dentist_id,
                              'chair_id', b.chair_id, 'type_id', b.type_id,
                              'start', clinic_instant(b.start_at), 'end', clinic_instant(b.end_at),
                              'note', b.note)
$$;

CREATE OR REPLACE FUNCTION clinic_wire_appointment(a appointments) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', a.id, 'version', a.version, 'patient_id', a.patient_id,
        'patient_name', (SELECT p.name FROM patients p WHERE p.id = a.patient_id),
        'dentist_id', a.dentist_id, 'chair_id', a.chair_id, 'type_id', a.type_id,
        'start', clinic_instant(a.start_at), 'end', clinic_instant(a.end_at),
        'status', a.status, 'source', a.source, 'notes', a.notes, 'cancel_reason', a.cancel_reason,
        'created_at', clinic_instant(a.created_at), 'updated_at', clinic_instant(a.updated_at),
        'duration_minutes', a.duration_minutes, 'override', a.schedule_override,
        'arrived_at', clinic_instant(a.arrived_at), 'in_chair_at', clinic_instant(a.in_chair_at),
        'completed_at', clinic_instant(a.completed_at))
$$;

CREATE OR REPLACE FUNCTION clinic_wire_dentist(d dentists) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', d.id, 'version', d.version, 'name', d.name, 'user_id', d.user_id,
                              'colour', d.colour, 'active', d.active, 'default_chair_id', d.default_chair_id)
$$;

-- The audit trail now also says whether the write used a schedule override (clinic.override = 'on').
CREATE OR REPLACE FUNCTION clinic_appointment_history() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    actor integer := NULLIF(current_setting('clinic.user_id', true), '')::integer;
    overridden boolean := coalesce(current_setting('clinic.override', true), '') = 'on';
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO appointment_history (appointment_id, action, changed_by, new_row, override)
        VALUES (NEW.id, 'created', actor, to_jsonb(NEW), overridden);
    ELSIF TG_OP = 'UPDATE' THEN
        IF NEW IS DISTINCT FROM OLD THEN
            INSERT INTO appointment_history (appointment_id, action, changed_by, old_row, new_row, override)
            VALUES (NEW.id, 'updated', actor, to_jsonb(OLD), to_jsonb(NEW), overridden);
        END IF;
    ELSE
        INSERT INTO appointment_history (appointment_id, action, changed_by, old_row)
        VALUES (OLD.id, 'deleted', actor, to_jsonb(OLD));
    END IF;
    RETURN NULL;
END $$;
""")
    for table, kind in SYNCED.items():
        op.execute(f"CREATE TRIGGER {table}_version BEFORE UPDATE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION clinic_bump_version()")
        op.execute(f"CREATE TRIGGER {table}_feed_lock BEFORE INSERT OR UPDATE OR DELETE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION clinic_lock_feed()")
        op.execute(f"CREATE TRIGGER {table}_change_log AFTER INSERT OR UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION clinic_log_change('{kind}')")
        op.execute(f"CREATE TRIGGER {table}_truncate BEFORE TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION clinic_cut_feed()")


def downgrade() -> None:
    run_script("""
DROP TABLE IF EXISTS blockouts, blockout_types CASCADE;
DROP FUNCTION IF EXISTS clinic_wire_blockout(blockouts), clinic_wire_blockout_type(blockout_types);

CREATE OR REPLACE FUNCTION clinic_wire_appointment(a appointments) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', a.id, 'version', a.version, 'patient_id', a.patient_id,
        'patient_name', (SELECT p.name FROM patients p WHERE p.id = a.patient_id),
        'dentist_id', a.dentist_id, 'chair_id', a.chair_id, 'type_id', a.type_id,
        'start', clinic_instant(a.start_at), 'end', clinic_instant(a.end_at),
        'status', a.status, 'source', a.source, 'notes', a.notes, 'cancel_reason', a.cancel_reason,
        'created_at', clinic_instant(a.created_at), 'updated_at', clinic_instant(a.updated_at))
$$;
CREATE OR REPLACE FUNCTION clinic_wire_dentist(d dentists) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', d.id, 'version', d.version, 'name', d.name, 'user_id', d.user_id,
                              'colour', d.colour, 'active', d.active)
$$;
CREATE OR REPLACE FUNCTION clinic_appointment_history() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    actor integer := NULLIF(current_setting('clinic.user_id', true), '')::integer;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO appointment_history (appointment_id, action, changed_by, new_row)
        VALUES (NEW.id, 'created', actor, to_jsonb(NEW));
    ELSIF TG_OP = 'UPDATE' THEN
        IF NEW IS DISTINCT FROM OLD THEN
            INSERT INTO appointment_history (appointment_id, action, changed_by, old_row, new_row)
            VALUES (NEW.id, 'updated', actor, to_jsonb(OLD), to_jsonb(NEW));
        END IF;
    ELSE
        INSERT INTO appointment_history (appointment_id, action, changed_by, old_row)
        VALUES (OLD.id, 'deleted', actor, to_jsonb(OLD));
    END IF;
    RETURN NULL;
END $$;

ALTER TABLE dentists DROP COLUMN IF EXISTS default_chair_id;
ALTER TABLE appointment_history DROP COLUMN IF EXISTS override;
ALTER TABLE appointments DROP COLUMN IF EXISTS duration_minutes, DROP COLUMN IF EXISTS arrived_at,
    DROP COLUMN IF EXISTS in_chair_at, DROP COLUMN IF EXISTS completed_at,
    DROP COLUMN IF EXISTS schedule_override;
""")
