"""The patient directory and the lists a clinic works from: unscheduled, confirmations, recall.

- `patients`: address, preferred contact (phone | sms | email | post), medical alerts and staff notes.
  A change to a patient's medical alerts re-logs their recent and upcoming appointments, whose wire
  shape carries the alert (a dentist sees it without seeing the directory), as 0004 does for a rename.
- `patient_merges`: the audit of `patients.merge` — which record was kept, the removed record as it
  was, and which appointments moved (each move is also in `appointment_history`, with who did it).
- `appointment_types.recall_months`: the recall interval of a type (null: the type brings no recall).
  Existing Check-up and Cleaning types get the default of six months.
- `appointments.confirmation_*`: the last confirmation call (confirmed | left_message | no_answer), who
  and when; cleared when the appointment moves to another time. Travels in the feed as `confirmation`.
- `appointments.unscheduled_*`: an appointment cancelled or marked no-show lands on the unscheduled
  list (`open`, with who did it and when) until it is rebooked or dismissed. Booking the same patient
  for the same treatment type again marks it `rebooked` by itself, in the booking's own transaction,
  whichever way the new booking was made. Travels in the feed as `unscheduled`.

The appointment wire shape is extended, not rewritten: 0005's `clinic_wire_appointment` becomes
`clinic_wire_appointment_book` and the new function adds this migration's fields to what it returns,
so both migrations' fields travel together. The patient and appointment-type wire shapes are
extended the same way.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from server.db.migrations.sqlscript import run_script

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


UPGRADE = r"""
ALTER TABLE patients
    ADD COLUMN address text NOT NULL DEFAULT '' CHECK (length(address) <= 500),
    ADD COLUMN preferred_contact text NOT NULL DEFAULT 'phone'
        CHECK (preferred_contact IN ('phone','sms','email','post')),
    ADD COLUMN medical_alerts text NOT NULL DEFAULT '' CHECK (length(medical_alerts) <= 2000),
    ADD COLUMN notes text NOT NULL DEFAULT '' CHECK (length(notes) <= 4000);

CREATE TABLE patient_merges (
    id bigserial PRIMARY KEY,
    kept_id integer NOT NULL REFERENCES patients(id),
    merged_id integer NOT NULL,
    merged_row jsonb NOT NULL,
    appointment_ids bigint[] NOT NULL DEFAULT '{}',
    merged_by integer REFERENCES users(id) ON DELETE SET NULL,
    merged_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX patient_merges_kept_idx ON patient_merges (kept_id);

ALTER TABLE appointment_types
    ADD COLUMN recall_months integer CHECK (recall_months BETWEEN 1 AND 120);
UPDATE appointment_types SET recall_months = 6 WHERE lower(name) IN ('check-up', 'checkup', 'cleaning');

ALTER TABLE appointments
    ADD COLUMN confirmation_state text CHECK (confirmation_state IN ('confirmed','left_message','no_answer')),
    ADD COLUMN confirmation_by integer REFERENCES users(id) ON DELETE SET NULL,
    ADD COLUMN confirmation_at timestamptz,
    ADD COLUMN unscheduled_state text CHECK (unscheduled_state IN ('open','rebooked','dismissed')),
    ADD COLUMN unscheduled_by integer REFERENCES users(id) ON DELETE SET NULL,
    ADD COLUMN unscheduled_at timestamptz,
    ADD COLUMN resolved_by integer REFERENCES users(id) ON DELETE SET NULL,
    ADD COLUMN resolved_at timestamptz,
    ADD COLUMN rebooked_as bigint REFERENCES appointments(id) ON DELETE SET NULL;
CREATE INDEX appointments_unscheduled_open_idx ON appointments (patient_id, type_id)
    WHERE unscheduled_state = 'open';
CREATE INDEX appointments_patient_type_idx ON appointments (patient_id, type_id, start_at);

-- What is on the list today: recent cancellations and no-shows (the snapshot's window) are open.
UPDATE appointments SET unscheduled_state = 'open', unscheduled_by = updated_by, unscheduled_at = updated_at
 WHERE status IN ('cancelled','no_show') AND end_at > now() - interval '90 days';

-- An appointment leaving the chair (cancelled, no-show) goes on the unscheduled list; one coming back
-- (an undone no-show) leaves it. A move to another time clears the last confirmation call.
CREATE FUNCTION clinic_appointment_lists() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    actor integer := NULLIF(current_setting('clinic.user_id', true), '')::integer;
    gone boolean := NEW.status IN ('cancelled','no_show');
BEGIN
    IF gone AND (TG_OP = 'INSERT' OR OLD.status NOT IN ('cancelled','no_show')) THEN
        NEW.unscheduled_state := 'open';
        NEW.unscheduled_by := coalesce(actor, NEW.updated_by);
        NEW.unscheduled_at := clock_timestamp();
        NEW.resolved_by := NULL;
        NEW.resolved_at := NULL;
        NEW.rebooked_as := NULL;
    ELSIF NOT gone AND TG_OP = 'UPDATE' AND OLD.status IN ('cancelled','no_show') THEN
        NEW.unscheduled_state := NULL;
        NEW.unscheduled_by := NULL;
        NEW.unscheduled_at := NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.start_at IS DISTINCT FROM OLD.start_at
       AND NEW.confirmation_at IS NOT DISTINCT FROM OLD.confirmation_at THEN
        NEW.confirmation_state := NULL;
        NEW.confirmation_by := NULL;
        NEW.confirmation_at := NULL;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER appointments_lists BEFORE INSERT OR UPDATE ON appointments
    FOR EACH ROW EXECUTE FUNCTION clinic_appointment_lists();

-- Booking the patient again for the same treatment rebooks what was on their unscheduled list.
CREATE FUNCTION clinic_appointment_rebooked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IN ('scheduled','confirmed','checked_in','in_chair','completed') THEN
        UPDATE appointments
           SET unscheduled_state = 'rebooked', rebooked_as = NEW.id,
               resolved_by = coalesce(NULLIF(current_setting('clinic.user_id', true), '')::integer, NEW.created_by),
               resolved_at = clock_timestamp()
         WHERE patient_id = NEW.patient_id AND type_id = NEW.type_id AND unscheduled_state = 'open'
           AND id <> NEW.id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER appointments_rebooked AFTER INSERT ON appointments
    FOR EACH ROW EXECUTE FUNCTION clinic_appointment_rebooked();

CREATE FUNCTION clinic_user_name(uid integer) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT u.display_name FROM users u WHERE u.id = uid
$$;

ALTER FUNCTION clinic_wire_appointment(appointments) RENAME TO clinic_wire_appointment_book;
CREATE FUNCTION clinic_wire_appointment(a appointments) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT clinic_wire_appointment_book(a) || jsonb_build_object(
        'patient_alert', (SELECT p.medical_alerts FROM patients p WHERE p.id = a.patient_id),
        'confirmation', CASE WHEN a.confirmation_state IS NULL THEN NULL ELSE jsonb_build_object(
            'state', a.confirmation_state, 'by', a.confirmation_by, 'by_name', clinic_user_name(a.confirmation_by),
            'at', clinic_instant(a.confirmation_at)) END,
        'unscheduled', CASE WHEN a.unscheduled_state IS NULL THEN NULL ELSE jsonb_build_object(
            'state', a.unscheduled_state, 'by', a.unscheduled_by, 'by_name', clinic_user_name(a.unscheduled_by),
            'at', clinic_instant(a.unscheduled_at), 'resolved_by_name', clinic_user_name(a.resolved_by),
            'resolved_at', clinic_instant(a.resolved_at), 'rebooked_as', a.rebooked_as) END)
$$;

ALTER FUNCTION clinic_wire_patient(patients) RENAME TO clinic_wire_patient_base;
CREATE FUNCTION clinic_wire_patient(p patients) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT clinic_wire_patient_base(p) || jsonb_build_object(
        'address', p.address, 'preferred_contact', p.preferred_contact,
        'medical_alerts', p.medical_alerts, 'notes', p.notes)
$$;

ALTER FUNCTION clinic_wire_appointment_type(appointment_types) RENAME TO clinic_wire_appointment_type_base;
CREATE FUNCTION clinic_wire_appointment_type(t appointment_types) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT clinic_wire_appointment_type_base(t) || jsonb_build_object('recall_months', t.recall_months)
$$;

CREATE FUNCTION clinic_patient_alert_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE appointments SET updated_at = clock_timestamp()
     WHERE patient_id = NEW.id AND end_at > clock_timestamp() - interval '90 days';
    RETURN NULL;
END $$;
CREATE TRIGGER patients_alert_changed AFTER UPDATE OF medical_alerts ON patients
    FOR EACH ROW WHEN (OLD.medical_alerts IS DISTINCT FROM NEW.medical_alerts)
    EXECUTE FUNCTION clinic_patient_alert_changed();
"""

DOWNGRADE = r"""
DROP TRIGGER IF EXISTS patients_alert_changed ON patients;
DROP FUNCTION IF EXISTS clinic_patient_alert_changed();
DROP FUNCTION IF EXISTS clinic_wire_appointment_type(appointment_types);
ALTER FUNCTION clinic_wire_appointment_type_base(appointment_types) RENAME TO clinic_wire_appointment_type;
DROP FUNCTION IF EXISTS clinic_wire_patient(patients);
ALTER FUNCTION clinic_wire_patient_base(patients) RENAME TO clinic_wire_patient;
DROP FUNCTION IF EXISTS clinic_wire_appointment(appointments);
ALTER FUNCTION clinic_wire_appointment_book(appointments) RENAME TO clinic_wire_appointment;
DROP FUNCTION IF EXISTS clinic_user_name(integer);
DROP TRIGGER IF EXISTS appointments_rebooked ON appointments;
DROP FUNCTION IF EXISTS clinic_appointment_rebooked();
DROP TRIGGER IF EXISTS appointments_lists ON appointments;
DROP FUNCTION IF EXISTS clinic_appointment_lists();
DROP INDEX IF EXISTS appointments_patient_type_idx;
ALTER TABLE appointments
    DROP COLUMN IF EXISTS confirmation_state, DROP COLUMN IF EXISTS confirmation_by,
    DROP COLUMN IF EXISTS confirmation_at, DROP COLUMN IF EXISTS unscheduled_state,
    DROP COLUMN IF EXISTS unscheduled_by, DROP COLUMN IF EXISTS unscheduled_at,
    DROP COLUMN IF EXISTS resolved_by, DROP COLUMN IF EXISTS resolved_at, DROP COLUMN IF EXISTS rebooked_as;
ALTER TABLE appointment_types DROP COLUMN IF EXISTS recall_months;
DROP TABLE IF EXISTS patient_merges;
ALTER TABLE patients
    DROP COLUMN IF EXISTS address, DROP COLUMN IF EXISTS preferred_contact,
    DROP COLUMN IF EXISTS medical_alerts, DROP COLUMN IF EXISTS notes;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
