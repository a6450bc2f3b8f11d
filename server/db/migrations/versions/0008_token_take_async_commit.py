"""Taking a rate-limit token no longer waits for the disk.

`clinic_take_token` (0004) runs as its own transaction before every write and every assistant turn, and
holds its bucket's row lock until it commits. With `synchronous_commit` on, that commit waits for its
WAL record to reach the disk, so the writes of one user (a front desk shared by several receptionists,
the bench's 32 writers) queued behind one flush each: a ceiling of one write per flush. The function now
commits asynchronously (`set_config(..., is_local => true)`: this transaction only). A crash can lose the
last fraction of a second of token takes, which only lets a few more writes through after a restart;
the bookings themselves still commit durably.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""


from server.db.migrations.sqlscript import run_script

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_BODY = """
CREATE OR REPLACE FUNCTION clinic_take_token(bucket text, burst double precision, per_second double precision)
RETURNS double precision LANGUAGE plpgsql AS $$
DECLARE
    now_ timestamptz := clock_timestamp();
    have double precision;
BEGIN
    {async_commit}
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
"""


def upgrade() -> None:
    run_script(_BODY.format(async_commit="PERFORM set_config('synchronous_commit', 'off', true);"))


def downgrade() -> None:
    run_script(_BODY.format(async_commit=""))
