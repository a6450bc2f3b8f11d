"""The waitlist (ASAP list) with live offers, and the email outbox.

- `waitlist_requests` (synced kind `waitlist_request`): a patient wants an earlier time for a treatment,
  with the dentists, weekdays, time of day (local, [day_start, day_end]) and dates [earliest, latest]
  that suit. One active request per patient and treatment.
- `waitlist_offers` (synced kind `waitlist_offer`): a freed time offered to one request. Every offer made
  for one freed time shares a `slot_id`. Statuses: open → accepted | taken (someone else's appointment
  now holds the time) | withdrawn (the request ended, or the patient is busy then) | declined | expired.
- Offers are made by a trigger on `appointments`, in the transaction that frees the time (a cancel, a
  no-show, a move, a delete, whichever path wrote it): `clinic_waitlist_offer_freed` offers the freed
  start to every active request it suits, with the clinic's working hours, days off, blockouts and
  minimum notice respected and the dentist, chair and patient free for the request's treatment length.
  The same trigger marks open offers `taken` as soon as any appointment occupies their time, so the
  first acceptance (an appointment INSERT, decided by the appointments' exclusion constraints) takes
  every other offer of that time off the screens in the same transaction. A partial unique index lets
  at most one offer per freed time be `accepted`.
- `clinic_settings.waitlist_offer_minutes`: how long an offer stays open (the server writes its
  `waitlist_offer_minutes` setting here at start); `clinic_waitlist_expire()` marks lapsed offers expired.
- `mail_outbox`: booking / move / cancel confirmations (queued by a trigger on `appointments` while a
  mail sender is running: `mail_state.enabled_until`) and reminders (queued by the sender), drained by
  server/mailer.py. One reminder per appointment start (unique index).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from alembic import op

from server.db.migrations.sqlscript import run_script

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OCCUPYING = "('scheduled','confirmed','checked_in','in_chair','completed')"
SYNCED = {"waitlist_requests": "waitlist_request", "waitlist_offers": "waitlist_offer"}

SCHEMA = """
ALTER TABLE clinic_settings
    ADD COLUMN waitlist_offer_minutes integer NOT NULL DEFAULT 15 CHECK (waitlist_offer_minutes BETWEEN 1 AND 1440);

CREATE TABLE waitlist_requests (
    id serial PRIMARY KEY,
    patient_id integer NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
    type_id integer NOT NULL REFERENCES appointment_types(id),
    dentist_ids integer[] NOT NULL DEFAULT '{}',  -- empty: any dentist
    weekdays smallint[] NOT NULL DEFAULT '{0,1,2,3,4,5,6}'
        CHECK (cardinality(weekdays) > 0 AND weekdays <@ '{0,1,2,3,4,5,6}'::smallint[]),
    day_start time NOT NULL DEFAULT '00:00',
    day_end time NOT NULL DEFAULT '24:00',
    earliest date NOT NULL,
    latest date NOT NULL,
    notes text NOT NULL DEFAULT '' CHECK (length(notes) <= 1000),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active','booked','removed')),
    appointment_id bigint REFERENCES appointments(id) ON DELETE SET NULL,
    created_by integer REFERENCES users(id) ON DELETE SET NULL,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (day_start < day_end),
    CHECK (earliest <= latest)
);
CREATE UNIQUE INDEX waitlist_requests_one_active ON waitlist_requests (patient_id, type_id) WHERE status = 'active';

CREATE SEQUENCE waitlist_slot_seq;
CREATE TABLE waitlist_offers (
    id bigserial PRIMARY KEY,
    request_id integer NOT NULL REFERENCES waitlist_requests(id) ON DELETE CASCADE,
    patient_id integer NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
    slot_id bigint NOT NULL,
    dentist_id integer NOT NULL REFERENCES dentists(id),
    chair_id integer REFERENCES chairs(id) ON DELETE SET NULL,
    type_id integer NOT NULL REFERENCES appointment_types(id),
    start_at timestamptz NOT NULL,
    end_at timestamptz NOT NULL,
    status text NOT NULL DEFAULT 'open'
        CHECK (status IN ('open','accepted','taken','withdrawn','declined','expired')),
    expires_at timestamptz NOT NULL,
    appointment_id bigint REFERENCES appointments(id) ON DELETE SET NULL,
    freed_by bigint,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (start_at < end_at)
);
-- The second guard of "first to accept wins" (the first is the appointments' exclusion constraints).
CREATE UNIQUE INDEX waitlist_offers_one_winner ON waitlist_offers (slot_id) WHERE status = 'accepted';
CREATE UNIQUE INDEX waitlist_offers_once ON waitlist_offers (request_id, dentist_id, start_at) WHERE status = 'open';
CREATE INDEX waitlist_offers_open ON waitlist_offers (expires_at) WHERE status = 'open';
CREATE INDEX waitlist_offers_request ON waitlist_offers (request_id);

CREATE TABLE mail_outbox (
    id bigserial PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('booked','moved','cancelled','reminder')),
    appointment_id bigint NOT NULL REFERENCES appointments(id) ON DELETE CASCADE,
    recipient text NOT NULL,
    start_at timestamptz NOT NULL,
    previous_start_at timestamptz,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','sent','failed','skipped')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    subject text,
    message_id text,
    sent_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX mail_outbox_one_reminder ON mail_outbox (appointment_id, start_at) WHERE kind = 'reminder';
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE status = 'pending';

-- A running mail sender keeps `enabled_until` in the future; while it is, appointment changes queue mail.
CREATE TABLE mail_state (
    id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    enabled_until timestamptz,
    last_cycle_at timestamptz
);
INSERT INTO mail_state DEFAULT VALUES;
"""

FUNCTIONS = f"""
CREATE FUNCTION clinic_wire_waitlist_request(r waitlist_requests) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', r.id, 'version', r.version, 'patient_id', r.patient_id,
        'patient_name', (SELECT p.name FROM patients p WHERE p.id = r.patient_id),
        'type_id', r.type_id, 'dentist_ids', to_jsonb(r.dentist_ids), 'weekdays', to_jsonb(r.weekdays),
        'day_start', to_char(r.day_start, 'HH24:MI'),
        'day_end', CASE WHEN r.day_end = '24:00'::time THEN '24:00' ELSE to_char(r.day_end, 'HH24:MI') END,
        'earliest', r.earliest, 'latest', r.latest, 'notes', r.notes, 'status', r.status,
        'appointment_id', r.appointment_id,
        'created_at', clinic_instant(r.created_at), 'updated_at', clinic_instant(r.updated_at))
$$;

CREATE FUNCTION clinic_wire_waitlist_offer(o waitlist_offers) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', o.id, 'version', o.version, 'request_id', o.request_id, 'patient_id', o.patient_id,
        'patient_name', (SELECT p.name FROM patients p WHERE p.id = o.patient_id),
        'slot_id', o.slot_id, 'dentist_id', o.dentist_id, 'chair_id', o.chair_id, 'type_id', o.type_id,
        'start', clinic_instant(o.start_at), 'end', clinic_instant(o.end_at), 'status', o.status,
        'expires_at', clinic_instant(o.expires_at), 'appointment_id', o.appointment_id,
        'created_at', clinic_instant(o.created_at), 'updated_at', clinic_instant(o.updated_at))
$$;

-- Offer the freed start `s` (dentist `d`, chair `chair`) to every active request it suits.
-- Returns how many offers were made. The time must be bookable for the request's treatment length:
-- inside working hours (or extra hours), no day off, no blockout closed to online booking, the
-- dentist, chair and patient free, the clinic's minimum notice and maximum advance respected.
CREATE FUNCTION clinic_waitlist_offer_freed(freed_id bigint, freed_patient integer, d integer, chair integer,
                                            s timestamptz) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    st clinic_settings;
    slot bigint;
    made integer := 0;
    n integer;
    r record;
    e timestamptz;
    ls timestamp;
    le timestamp;
BEGIN
    SELECT * INTO st FROM clinic_settings LIMIT 1;
    IF s < now() + make_interval(mins => st.min_notice_minutes)
       OR s > now() + make_interval(days => st.max_advance_days) THEN
        RETURN 0;
    END IF;
    ls := s AT TIME ZONE st.timezone;
    slot := nextval('waitlist_slot_seq');
    FOR r IN
        SELECT w.id, w.patient_id, w.type_id, w.weekdays, w.day_start, w.day_end, w.earliest, w.latest,
               t.duration_minutes
          FROM waitlist_requests w JOIN appointment_types t ON t.id = w.type_id AND t.active
         WHERE w.status = 'active' AND w.patient_id IS DISTINCT FROM freed_patient
           AND (cardinality(w.dentist_ids) = 0 OR d = ANY (w.dentist_ids))
           AND ls::date BETWEEN w.earliest AND w.latest
           AND (extract(isodow FROM ls)::int - 1) = ANY (w.weekdays)
         ORDER BY w.created_at, w.id
    LOOP
        e := s + make_interval(mins => r.duration_minutes);
        le := e AT TIME ZONE st.timezone;
        CONTINUE WHEN ls < ls::date + r.day_start OR le > ls::date + r.day_end;
        CONTINUE WHEN NOT (
            EXISTS (SELECT 1 FROM working_hours wh
                     WHERE wh.dentist_id = d AND wh.weekday = extract(isodow FROM ls)::int - 1
                       AND ls >= ls::date + wh.start_time AND le <= ls::date + wh.end_time)
            OR EXISTS (SELECT 1 FROM schedule_exceptions x
                        WHERE x.kind = 'extra' AND (x.dentist_id IS NULL OR x.dentist_id = d)
                          AND x.start_at <= s AND x.end_at >= e));
        CONTINUE WHEN EXISTS (SELECT 1 FROM schedule_exceptions x
                               WHERE x.kind = 'closed' AND (x.dentist_id IS NULL OR x.dentist_id = d)
                                 AND tstzrange(x.start_at, x.end_at) && tstzrange(s, e));
        CONTINUE WHEN EXISTS (SELECT 1 FROM blockouts b JOIN blockout_types bt ON bt.id = b.type_id
                               WHERE NOT bt.allow_online
                                 AND (b.dentist_id = d OR (b.dentist_id IS NULL AND (b.chair_id IS NULL OR b.chair_id = chair)))
                                 AND tstzrange(b.start_at, b.end_at) && tstzrange(s, e));
        CONTINUE WHEN EXISTS (SELECT 1 FROM appointments a
                               WHERE a.status IN {OCCUPYING} AND tstzrange(a.start_at, a.end_at) && tstzrange(s, e)
                                 AND (a.dentist_id = d OR a.patient_id = r.patient_id
                                      OR (chair IS NOT NULL AND a.chair_id = chair)));
        INSERT INTO waitlist_offers (request_id, patient_id, slot_id, dentist_id, chair_id, type_id, start_at, end_at,
                                     expires_at, freed_by)
        VALUES (r.id, r.patient_id, slot, d, chair, r.type_id, s, e,
                now() + make_interval(mins => st.waitlist_offer_minutes), freed_id)
        ON CONFLICT (request_id, dentist_id, start_at) WHERE status = 'open' DO NOTHING;
        GET DIAGNOSTICS n = ROW_COUNT;
        made := made + n;
    END LOOP;
    RETURN made;
END $$;

-- On every appointment change: time now occupied takes the open offers over it; time freed is offered.
CREATE FUNCTION clinic_waitlist_on_appointment() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_occ boolean := false;
    new_occ boolean := false;
    moved boolean := false;
    accepting bigint := NULLIF(current_setting('clinic.accepting_offer', true), '')::bigint;
BEGIN
    IF TG_OP <> 'INSERT' THEN old_occ := OLD.status IN {OCCUPYING}; END IF;
    IF TG_OP <> 'DELETE' THEN new_occ := NEW.status IN {OCCUPYING}; END IF;
    IF TG_OP = 'UPDATE' THEN
        moved := NEW.start_at <> OLD.start_at OR NEW.end_at <> OLD.end_at OR NEW.dentist_id <> OLD.dentist_id
                 OR NEW.chair_id IS DISTINCT FROM OLD.chair_id OR NEW.patient_id <> OLD.patient_id;
    END IF;
    IF new_occ AND (NOT old_occ OR moved)
       AND EXISTS (SELECT 1 FROM waitlist_offers WHERE status = 'open') THEN
        UPDATE waitlist_offers o
           SET status = CASE WHEN o.dentist_id = NEW.dentist_id
                                  OR (NEW.chair_id IS NOT NULL AND o.chair_id = NEW.chair_id)
                             THEN 'taken' ELSE 'withdrawn' END
         WHERE o.status = 'open' AND o.id IS DISTINCT FROM accepting
           AND tstzrange(o.start_at, o.end_at) && tstzrange(NEW.start_at, NEW.end_at)
           AND (o.dentist_id = NEW.dentist_id OR o.patient_id = NEW.patient_id
                OR (NEW.chair_id IS NOT NULL AND o.chair_id = NEW.chair_id));
    END IF;
    IF old_occ AND (NOT new_occ OR moved) THEN
        PERFORM clinic_waitlist_offer_freed(OLD.id, OLD.patient_id, OLD.dentist_id, OLD.chair_id, OLD.start_at);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER appointments_waitlist AFTER INSERT OR UPDATE OR DELETE ON appointments
    FOR EACH ROW EXECUTE FUNCTION clinic_waitlist_on_appointment();

-- A request that is no longer active withdraws its open offers.
CREATE FUNCTION clinic_waitlist_request_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE waitlist_offers SET status = 'withdrawn' WHERE request_id = NEW.id AND status = 'open';
    RETURN NULL;
END $$;
CREATE TRIGGER waitlist_requests_ended AFTER UPDATE OF status ON waitlist_requests
    FOR EACH ROW WHEN (OLD.status = 'active' AND NEW.status <> 'active')
    EXECUTE FUNCTION clinic_waitlist_request_ended();

-- Offers past their time: expired (through the feed, like every change). Returns how many.
CREATE FUNCTION clinic_waitlist_expire() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM waitlist_offers WHERE status = 'open' AND expires_at <= now()) THEN
        RETURN 0;  -- the usual case: no feed lock taken
    END IF;
    UPDATE waitlist_offers SET status = 'expired' WHERE status = 'open' AND expires_at <= now();
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- Confirmations by email, queued with the change itself while a sender is running.
CREATE FUNCTION clinic_mail_on_appointment() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    to_ text;
    old_occ boolean := false;
    new_occ boolean := NEW.status IN {OCCUPYING};
    kind text;
BEGIN
    IF TG_OP = 'UPDATE' THEN old_occ := OLD.status IN {OCCUPYING}; END IF;
    IF NOT coalesce((SELECT enabled_until > now() FROM mail_state), false) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' AND new_occ THEN
        kind := 'booked';
    ELSIF old_occ AND NEW.status = 'cancelled' THEN
        kind := 'cancelled';
    ELSIF old_occ AND new_occ AND (NEW.start_at <> OLD.start_at OR NEW.dentist_id <> OLD.dentist_id) THEN
        kind := 'moved';
    ELSE
        RETURN NULL;
    END IF;
    SELECT nullif(btrim(p.email), '') INTO to_ FROM patients p WHERE p.id = NEW.patient_id;
    IF to_ IS NULL OR NEW.end_at <= now() THEN
        RETURN NULL;
    END IF;
    INSERT INTO mail_outbox (kind, appointment_id, recipient, start_at, previous_start_at)
    VALUES (kind, NEW.id, to_, NEW.start_at, CASE WHEN kind = 'moved' THEN OLD.start_at END);
    RETURN NULL;
END $$;
CREATE TRIGGER appointments_mail AFTER INSERT OR UPDATE ON appointments
    FOR EACH ROW EXECUTE FUNCTION clinic_mail_on_appointment();
"""


def upgrade() -> None:
    run_script(SCHEMA)
    run_script(FUNCTIONS)
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
DROP TRIGGER IF EXISTS appointments_mail ON appointments;
DROP TRIGGER IF EXISTS appointments_waitlist ON appointments;
DROP TABLE IF EXISTS mail_state, mail_outbox, waitlist_offers, waitlist_requests CASCADE;
DROP SEQUENCE IF EXISTS waitlist_slot_seq;
DROP FUNCTION IF EXISTS clinic_mail_on_appointment(), clinic_waitlist_expire(), clinic_waitlist_request_ended(),
    clinic_waitlist_on_appointment(), clinic_waitlist_offer_freed(bigint, integer, integer, integer, timestamptz);
ALTER TABLE clinic_settings DROP COLUMN IF EXISTS waitlist_offer_minutes;
""")
