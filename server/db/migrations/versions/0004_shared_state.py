"""State that several server instances on one database must share: write limits and assistant conversations.

Before this, each process kept its own token buckets (two instances doubled every limit) and held the
assistant's conversations in memory (a conversation begun through one instance was unknown to the next).

- `rate_buckets`: one token bucket per key (`writes:<user id>`, `assistant:<user id>`), refilled by
  elapsed time and taken from in one atomic statement (server/shared_limits.py).
- `assistant_conversations`: each conversation's state as JSON, with a version for optimistic saves
  (server/assistant/conversation.py).
- No appointment or schedule exception may hold an infinite instant (it has no wire form).
- Renaming a patient re-logs their recent and upcoming appointments, whose wire shape carries the name.
- A revoked refresh-token family (sign-out, password change, reused token) is announced on
  `NOTIFY clinic_sessions` when it commits, so every instance ends that sign-in's connections at once
  (server/sessions.py).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from alembic import op

from server.db.migrations.sqlscript import run_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script("""
CREATE TABLE rate_buckets (
    key text PRIMARY KEY,
    tokens double precision NOT NULL,
    at timestamptz NOT NULL
);

-- Refill by elapsed time, then take one token if there is one: 0 when taken, else the seconds to wait.
-- The row lock (taken by the upsert) serialises takes of one key across every instance.
CREATE FUNCTION clinic_take_token(bucket text, burst double precision, per_second double precision)
RETURNS double precision LANGUAGE plpgsql AS $$
DECLARE
    now_ timestamptz := clock_timestamp();
    have double precision;
BEGIN
    INSERT INTO rate_buckets (key, tokens, at) VALUES (bucket, burst, now_) ON CONFLICT (key) DO NOTHING;
    SELECT least(burst, tokens + greatest(0, extract(epoch FROM now_ - at)) * per_second) INTO have
      FROM rate_buckets WHERE key = bucket FOR UPDATE;
    IF have >= 1 THEN
        UPDATE rate_buckets SET tokens = have - 1, at = now_ WHERE key = bucket;
        RETURN 0;
    END IF;
    UPDATE rate_buckets SET tokens = have, at = now_ WHERE key = bucket;
    RETURN (1 - have) / per_second;
END $$;

CREATE FUNCTION clinic_announce_revocation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL THEN
        PERFORM pg_notify('clinic_sessions', NEW.family_id::text);  -- sent at commit, once per family
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER refresh_tokens_revoked AFTER UPDATE OF revoked_at ON refresh_tokens
    FOR EACH ROW EXECUTE FUNCTION clinic_announce_revocation();

-- An appointment's wire shape carries its patient's name. When the name changes, re-log the patient's
-- recent and upcoming appointments (the version bump logs them through the usual trigger), so neither a
-- live client nor one replaying from before the rename keeps the old name.
CREATE FUNCTION clinic_patient_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE appointments SET updated_at = clock_timestamp()
     WHERE patient_id = NEW.id AND end_at > clock_timestamp() - interval '90 days';
    RETURN NULL;
END $$;
CREATE TRIGGER patients_renamed AFTER UPDATE OF name ON patients
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION clinic_patient_renamed();

-- An instant of ±infinity has no wire form ("start": null would reach every client): none may be stored.
-- NOT VALID: a row an older version let in stays readable (the slot finder clamps what it reads).
ALTER TABLE appointments ADD CONSTRAINT appointments_finite CHECK (isfinite(start_at) AND isfinite(end_at)) NOT VALID;
ALTER TABLE schedule_exceptions ADD CONSTRAINT schedule_exceptions_finite
    CHECK (isfinite(start_at) AND isfinite(end_at)) NOT VALID;

CREATE TABLE assistant_conversations (
    id text PRIMARY KEY,
    owner_id integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    state jsonb NOT NULL,
    version integer NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX assistant_conversations_owner ON assistant_conversations (owner_id, updated_at);
CREATE INDEX assistant_conversations_idle ON assistant_conversations (updated_at);
""")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS assistant_conversations")
    op.execute("DROP TABLE IF EXISTS rate_buckets")
    op.execute("ALTER TABLE appointments DROP CONSTRAINT IF EXISTS appointments_finite")
    op.execute("ALTER TABLE schedule_exceptions DROP CONSTRAINT IF EXISTS schedule_exceptions_finite")
    op.execute("DROP TRIGGER IF EXISTS patients_renamed ON patients")
    op.execute("DROP FUNCTION IF EXISTS clinic_patient_renamed()")
    op.execute("DROP TRIGGER IF EXISTS refresh_tokens_revoked ON refresh_tokens")
    op.execute("DROP FUNCTION IF EXISTS clinic_announce_revocation()")
    op.execute("DROP FUNCTION IF EXISTS clinic_take_token(text, double precision, double precision)")
