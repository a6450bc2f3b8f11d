"""The whole domain model, double-booking constraints, the change feed and its triggers.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from alembic import op

from server.db.migrations.sqlscript import run_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Statuses that occupy the dentist, the patient and the chair.
OCCUPYING = "('scheduled','confirmed','checked_in','in_chair','completed')"

SCHEMA = f"""
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE clinic_settings (
    id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    clinic_name text NOT NULL DEFAULT 'DentalCare Connect',
    timezone text NOT NULL DEFAULT 'Europe/London',
    slot_minutes integer NOT NULL DEFAULT 15 CHECK (slot_minutes BETWEEN 5 AND 120),
    min_notice_minutes integer NOT NULL DEFAULT 120 CHECK (min_notice_minutes >= 0),
    max_advance_days integer NOT NULL DEFAULT 90 CHECK (max_advance_days > 0),
    late_cancel_hours integer NOT NULL DEFAULT 24 CHECK (late_cancel_hours >= 0),
    version integer NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id serial PRIMARY KEY,
    username text NOT NULL,
    password_hash text NOT NULL,
    role text NOT NULL CHECK (role IN ('admin','dentist','patient')),
    display_name text NOT NULL,
    active boolean NOT NULL DEFAULT true,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

CREATE TABLE dentists (
    id serial PRIMARY KEY,
    user_id integer UNIQUE REFERENCES users(id) ON DELETE SET NULL,
    name text NOT NULL,
    colour text NOT NULL DEFAULT '#4a90d9',
    active boolean NOT NULL DEFAULT true,
    version integer NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE patients (
    id serial PRIMARY KEY,
    user_id integer UNIQUE REFERENCES users(id) ON DELETE SET NULL,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    phone text,
    email text,
    date_of_birth date,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX patients_name_idx ON patients (lower(name));

CREATE TABLE chairs (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    active boolean NOT NULL DEFAULT true,
    version integer NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE appointment_types (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    duration_minutes integer NOT NULL CHECK (duration_minutes BETWEEN 5 AND 480),
    colour text NOT NULL DEFAULT '#7fb3d5',
    patient_bookable boolean NOT NULL DEFAULT true,
    active boolean NOT NULL DEFAULT true,
    version integer NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE working_hours (
    id serial PRIMARY KEY,
    dentist_id integer NOT NULL REFERENCES dentists(id) ON DELETE CASCADE,
    weekday smallint NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    start_time time NOT NULL,
    end_time time NOT NULL,
    version integer NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (start_time < end_time)
);
CREATE INDEX working_hours_dentist_idx ON working_hours (dentist_id, weekday);

CREATE TABLE schedule_exceptions (
    id serial PRIMARY KEY,
    dentist_id integer REFERENCES dentists(id) ON DELETE CASCADE,
    start_at timestamptz NOT NULL,
    end_at timestamptz NOT NULL,
    kind text NOT NULL CHECK (kind IN ('closed','extra')),
    reason text NOT NULL DEFAULT '',
    version integer NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (start_at < end_at)
);
CREATE INDEX schedule_exceptions_range_idx ON schedule_exceptions USING gist (tstzrange(start_at, end_at));

CREATE TABLE appointments (
    id bigserial PRIMARY KEY,
    patient_id integer NOT NULL REFERENCES patients(id),
    dentist_id integer NOT NULL REFERENCES dentists(id),
    chair_id integer REFERENCES chairs(id),
    type_id integer NOT NULL REFERENCES appointment_types(id),
    start_at timestamptz NOT NULL,
    end_at timestamptz NOT NULL,
    status text NOT NULL DEFAULT 'scheduled'
        CHECK (status IN ('scheduled','confirmed','checked_in','in_chair','completed','cancelled','no_show')),
    source text NOT NULL CHECK (source IN ('front_desk','dentist','patient','assistant')),
    notes text NOT NULL DEFAULT '' CHECK (length(notes) <= 4000),
    cancel_reason text,
    idempotency_key text UNIQUE CHECK (length(idempotency_key) <= 200),
    version integer NOT NULL DEFAULT 1,
    created_by integer REFERENCES users(id),
    updated_by integer REFERENCES users(id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (start_at < end_at),
    CONSTRAINT appointments_no_dentist_overlap EXCLUDE USING gist
        (dentist_id WITH =, tstzrange(start_at, end_at) WITH &&) WHERE (status IN {OCCUPYING}),
    CONSTRAINT appointments_no_patient_overlap EXCLUDE USING gist
        (patient_id WITH =, tstzrange(start_at, end_at) WITH &&) WHERE (status IN {OCCUPYING}),
    CONSTRAINT appointments_no_chair_overlap EXCLUDE USING gist
        (chair_id WITH =, tstzrange(start_at, end_at) WITH &&) WHERE (status IN {OCCUPYING} AND chair_id IS NOT NULL)
);
CREATE INDEX appointments_start_idx ON appointments (start_at);
CREATE INDEX appointments_patient_idx ON appointments (patient_id, start_at);

CREATE TABLE appointment_history (
    id bigserial PRIMARY KEY,
    appointment_id bigint NOT NULL,
    action text NOT NULL CHECK (action IN ('created','updated','deleted')),
    changed_by integer,
    changed_at timestamptz NOT NULL DEFAULT now(),
    old_row jsonb,
    new_row jsonb
);
CREATE INDEX appointment_history_appt_idx ON appointment_history (appointment_id, id);

CREATE TABLE refresh_tokens (
    id bigserial PRIMARY KEY,
    user_id integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash text NOT NULL UNIQUE,
    family_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

-- The change feed. `seq` is taken under a transaction-level advisory lock held until commit, so
-- seqs become visible in commit order and a reader that has seen N never later finds a smaller one.
CREATE SEQUENCE change_log_seq;
CREATE TABLE change_log (
    seq bigint PRIMARY KEY,
    entity text NOT NULL,
    op text NOT NULL CHECK (op IN ('upsert','delete')),
    entity_id bigint NOT NULL,
    data jsonb NOT NULL,
    dentist_ids integer[] NOT NULL DEFAULT '{{}}',
    patient_ids integer[] NOT NULL DEFAULT '{{}}',
    committed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX change_log_committed_idx ON change_log (committed_at);

-- How far the feed has been pruned: a client whose `since` is below this needs a snapshot.
CREATE TABLE change_log_state (
    id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    pruned_through bigint NOT NULL DEFAULT 0
);
INSERT INTO change_log_state DEFAULT VALUES;
INSERT INTO clinic_settings DEFAULT VALUES;
"""

FUNCTIONS = r"""
CREATE FUNCTION clinic_instant(ts timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"+00:00"')
$$;

-- Wire shapes (server/protocol/shapes.py): one function per synced table, used by the triggers
-- and by snapshots, so both always agree.
CREATE FUNCTION clinic_wire_appointment(a appointments) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', a.id, 'version', a.version, 'patient_id', a.patient_id,
        'patient_name', (SELECT p.name FROM patients p WHERE p.id = a.patient_id),
        'dentist_id', a.dentist_id, 'chair_id', a.chair_id, 'type_id', a.type_id,
        'start', clinic_instant(a.start_at), 'end', clinic_instant(a.end_at),
        'status', a.status, 'source', a.source, 'notes', a.notes, 'cancel_reason', a.cancel_reason,
        'created_at', clinic_instant(a.created_at), 'updated_at', clinic_instant(a.updated_at))
$$;
CREATE FUNCTION clinic_wire_dentist(d dentists) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', d.id, 'version', d.version, 'name', d.name, 'user_id', d.user_id,
                              'colour', d.colour, 'active', d.active)
$$;
CREATE FUNCTION clinic_wire_patient(p patients) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', p.id, 'version', p.version, 'name', p.name, 'phone', p.phone,
                              'email', p.email, 'date_of_birth', p.date_of_birth, 'user_id', p.user_id)
$$;
CREATE FUNCTION clinic_wire_chair(c chairs) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', c.id, 'version', c.version, 'name', c.name, 'active', c.active)
$$;
CREATE FUNCTION clinic_wire_appointment_type(t appointment_types) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', t.id, 'version', t.version, 'name', t.name,
                              'duration_minutes', t.duration_minutes, 'colour', t.colour,
                              'patient_bookable', t.patient_bookable, 'active', t.active)
$$;
CREATE FUNCTION clinic_wire_working_hours(w working_hours) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', w.id, 'version', w.version, 'dentist_id', w.dentist_id,
                              'weekday', w.weekday, 'start', to_char(w.start_time, 'HH24:MI'),
                              'end', to_char(w.end_time, 'HH24:MI'))
$$;
CREATE FUNCTION clinic_wire_schedule_exception(e schedule_exceptions) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', e.id, 'version', e.version, 'dentist_id', e.dentist_id,
                              'start', clinic_instant(e.start_at), 'end', clinic_instant(e.end_at),
                              'kind', e.kind, 'reason', e.reason)
$$;
CREATE FUNCTION clinic_wire_settings(s clinic_settings) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', s.id, 'version', s.version, 'clinic_name', s.clinic_name,
                              'timezone', s.timezone, 'slot_minutes', s.slot_minutes,
                              'min_notice_minutes', s.min_notice_minutes,
                              'max_advance_days', s.max_advance_days,
                              'late_cancel_hours', s.late_cancel_hours)
$$;

-- Every update bumps the row's version, so clients can apply upserts idempotently.
CREATE FUNCTION clinic_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW IS DISTINCT FROM OLD THEN
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END $$;

-- Append one change_log row per row change, in the same transaction.
-- TG_ARGV[0] is the wire kind. The advisory lock (held to commit) makes seq order = commit order.
CREATE FUNCTION clinic_log_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kind text := TG_ARGV[0];
    row_data jsonb;
    dentists integer[] := '{}';
    patients integer[] := '{}';
    rid bigint;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW IS NOT DISTINCT FROM OLD THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(724242);
    IF TG_OP = 'DELETE' THEN
        EXECUTE format('SELECT clinic_wire_%s($1)', kind) INTO row_data USING OLD;
        rid := OLD.id;
    ELSE
        EXECUTE format('SELECT clinic_wire_%s($1)', kind) INTO row_data USING NEW;
        rid := NEW.id;
    END IF;
    IF kind = 'appointment' THEN
        IF TG_OP <> 'INSERT' THEN
            dentists := ARRAY[OLD.dentist_id];
            patients := ARRAY[OLD.patient_id];
        END IF;
        IF TG_OP <> 'DELETE' THEN
            IF NOT NEW.dentist_id = ANY(dentists) THEN dentists := dentists || NEW.dentist_id; END IF;
            IF NOT NEW.patient_id = ANY(patients) THEN patients := patients || NEW.patient_id; END IF;
        END IF;
    ELSIF kind = 'patient' THEN
        patients := ARRAY[rid::integer];
    ELSIF kind = 'working_hours' THEN
        IF TG_OP = 'DELETE' THEN dentists := ARRAY[OLD.dentist_id]; ELSE dentists := ARRAY[NEW.dentist_id]; END IF;
    END IF;
    INSERT INTO change_log (seq, entity, op, entity_id, data, dentist_ids, patient_ids, committed_at)
    VALUES (nextval('change_log_seq'), kind, CASE WHEN TG_OP = 'DELETE' THEN 'delete' ELSE 'upsert' END,
            rid, row_data, dentists, patients, clock_timestamp());
    PERFORM pg_notify('clinic_changes', '');
    RETURN NULL;
END $$;

-- The audit trail of appointments: who changed what, when.
CREATE FUNCTION clinic_appointment_history() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER appointments_history AFTER INSERT OR UPDATE OR DELETE ON appointments
    FOR EACH ROW EXECUTE FUNCTION clinic_appointment_history();
"""

SYNCED = {
    "appointments": "appointment",
    "dentists": "dentist",
    "patients": "patient",
    "chairs": "chair",
    "appointment_types": "appointment_type",
    "working_hours": "working_hours",
    "schedule_exceptions": "schedule_exception",
    "clinic_settings": "settings",
}


def upgrade() -> None:
    run_script(SCHEMA)
    run_script(FUNCTIONS)
    for table, kind in SYNCED.items():
        op.execute(
            f"CREATE TRIGGER {table}_version BEFORE UPDATE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION clinic_bump_version()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_change_log AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION clinic_log_change('{kind}')"
        )


def downgrade() -> None:
    run_script(
        """
        DROP TABLE IF EXISTS change_log_state, change_log, refresh_tokens, appointment_history,
            appointments, schedule_exceptions, working_hours, appointment_types, chairs, patients,
            dentists, users, clinic_settings CASCADE;
        DROP SEQUENCE IF EXISTS change_log_seq;
        DROP FUNCTION IF EXISTS clinic_log_change(), clinic_bump_version(), clinic_appointment_history(),
            clinic_instant(timestamptz);
        DROP EXTENSION IF EXISTS btree_gist;
        """
    )
