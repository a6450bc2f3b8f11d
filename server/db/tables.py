"""SQLAlchemy Core tables mirroring the migrations (a test checks they agree with the migrated schema)."""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    Text,
    Time,
)
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP, UUID

__all__ = [
    "metadata", "clinic_settings", "users", "dentists", "patients", "chairs", "appointment_types",
    "working_hours", "schedule_exceptions", "appointments", "appointment_history", "refresh_tokens",
    "change_log", "change_log_state", "blockout_types", "blockouts", "patient_merges",
    "waitlist_requests", "waitlist_offers", "mail_outbox", "mail_state",
]

metadata = MetaData()
TZ = TIMESTAMP(timezone=True)

clinic_settings = Table(
    "clinic_settings", metadata,
    Column("id", Integer, primary_key=True),
    Column("clinic_name", Text, nullable=False),
    Column("timezone", Text, nullable=False),
    Column("slot_minutes", Integer, nullable=False),
    Column("min_notice_minutes", Integer, nullable=False),
    Column("max_advance_days", Integer, nullable=False),
    Column("late_cancel_hours", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", TZ, nullable=False),
    Column("waitlist_offer_minutes", Integer, nullable=False),  # 0007
)

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True),
    Column("username", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("display_name", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("password_changed_at", TZ, nullable=False),
    Column("created_at", TZ, nullable=False),
)

dentists = Table(
    "dentists", metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), unique=True),
    Column("name", Text, nullable=False),
    Column("colour", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", TZ, nullable=False),
    Column("default_chair_id", Integer, ForeignKey("chairs.id")),
)

patients = Table(
    "patients", metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), unique=True),
    Column("name", Text, nullable=False),
    Column("phone", Text),
    Column("email", Text),
    Column("date_of_birth", Date),
    Column("version", Integer, nullable=False),
    Column("created_at", TZ, nullable=False),
    Column("updated_at", TZ, nullable=False),
    # 0006: the directory's fields
    Column("address", Text, nullable=False),
    Column("preferred_contact", Text, nullable=False),
    Column("medical_alerts", Text, nullable=False),
    Column("notes", Text, nullable=False),
)

chairs = Table(
    "chairs", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("active", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", TZ, nullable=False),
)

appointment_types = Table(
    "appointment_types", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("duration_minutes", Integer, nullable=False),
    Column("colour", Text, nullable=False),
    Column("patient_bookable", Boolean, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", TZ, nullable=False),
    Column("recall_months", Integer),  # 0006: null = no recall
)

working_hours = Table(
    "working_hours", metadata,
    Column("id", Integer, primary_key=True),
    Column("dentist_id", Integer, ForeignKey("dentists.id"), nullable=False),
    Column("weekday", SmallInteger, nullable=False),
    Column("start_time", Time, nullable=False),
    Column("end_time", Time, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", TZ, nullable=False),
)

schedule_exceptions = Table(
    "schedule_exceptions", metadata,
    Column("id", Integer, primary_key=True),
    Column("dentist_id", Integer, ForeignKey("dentists.id")),
    Column("start_at", TZ, nullable=False),
    Column("end_at", TZ, nullable=False),
    Column("kind", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", TZ, nullable=False),
)

appointments = Table(
    "appointments", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("patient_id", Integer, ForeignKey("patients.id"), nullable=False),
    Column("dentist_id", Integer, ForeignKey("dentists.id"), nullable=False),
    Column("chair_id", Integer, ForeignKey("chairs.id")),
    Column("type_id", Integer, ForeignKey("appointment_types.id"), nullable=False),
    Column("start_at", TZ, nullable=False),
    Column("end_at", TZ, nullable=False),
    Column("status", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("notes", Text, nullable=False),
    Column("cancel_reason", Text),
    Column("idempotency_key", Text, unique=True),
    Column("version", Integer, nullable=False),
    Column("created_by", Integer, ForeignKey("users.id")),
    Column("updated_by", Integer, ForeignKey("users.id")),
    Column("created_at", TZ, nullable=False),
    Column("updated_at", TZ, nullable=False),
    Column("duration_minutes", Integer),
    Column("arrived_at", TZ),
    Column("in_chair_at", TZ),
    Column("completed_at", TZ),
    Column("schedule_override", Boolean, nullable=False),
    # 0006: confirmation calls and the unscheduled list
    Column("confirmation_state", Text),
    Column("confirmation_by", Integer, ForeignKey("users.id")),
    Column("confirmation_at", TZ),
    Column("unscheduled_state", Text),
    Column("unscheduled_by", Integer, ForeignKey("users.id")),
    Column("unscheduled_at", TZ),
    Column("resolved_by", Integer, ForeignKey("users.id")),
    Column("resolved_at", TZ),
    Column("rebooked_as", BigInteger, ForeignKey("appointments.id")),
)

appointment_history = Table(
    "appointment_history", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("appointment_id", BigInteger, nullable=False),
    Column("action", Text, nullable=False),
    Column("changed_by", Integer),
    Column("changed_at", TZ, nullable=False),
    Column("old_row", JSONB),
    Column("new_row", JSONB),
    Column("override", Boolean, nullable=False),
)

refresh_tokens = Table(
    "refresh_tokens", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("token_hash", Text, nullable=False, unique=True),
    Column("family_id", UUID(as_uuid=True), nullable=False),
    Column("created_at", TZ, nullable=False),
    Column("expires_at", TZ, nullable=False),
    Column("used_at", TZ),
    Column("revoked_at", TZ),
)

change_log = Table(
    "change_log", metadata,
    Column("seq", BigInteger, primary_key=True),
    Column("entity", Text, nullable=False),
    Column("op", Text, nullable=False),
    Column("entity_id", BigInteger, nullable=False),
    Column("data", JSONB, nullable=False),
    Column("dentist_ids", ARRAY(Integer), nullable=False),
    Column("patient_ids", ARRAY(Integer), nullable=False),
    Column("committed_at", TZ, nullable=False),
)

change_log_state = Table(
    "change_log_state", metadata,
    Column("id", Integer, primary_key=True),
    Column("pruned_through", BigInteger, nullable=False),
    Column("epoch", UUID, nullable=False),
)

blockout_types = Table(
    "blockout_types", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("colour", Text, nullable=False),
    Column("allow_online", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", TZ, nullable=False),
)

blockouts = Table(
    "blockouts", metadata,
    Column("id", Integer, primary_key=True),
    Column("dentist_id", Integer, ForeignKey("dentists.id")),
    Column("chair_id", Integer, ForeignKey("chairs.id")),
    Column("type_id", Integer, ForeignKey("blockout_types.id"), nullable=False),
    Column("start_at", TZ, nullable=False),
    Column("end_at", TZ, nullable=False),
    Column("note", Text, nullable=False),
    Column("created_by", Integer, ForeignKey("users.id")),
    Column("version", Integer, nullable=False),
    Column("updated_at", TZ, nullable=False),
)

# 0006: the audit of patients.merge
patient_merges = Table(
    "patient_merges", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("kept_id", Integer, ForeignKey("patients.id"), nullable=False),
    Column("merged_id", Integer, nullable=False),
    Column("merged_row", JSONB, nullable=False),
    Column("appointment_ids", ARRAY(BigInteger), nullable=False),
    Column("merged_by", Integer, ForeignKey("users.id")),
    Column("merged_at", TZ, nullable=False),
)

# 0007: the waitlist with live offers, and the email outbox (server/waitlist.py, server/mailer.py).
waitlist_requests = Table(
    "waitlist_requests", metadata,
    Column("id", Integer, primary_key=True),
    Column("patient_id", Integer, ForeignKey("patients.id"), nullable=False),
    Column("type_id", Integer, ForeignKey("appointment_types.id"), nullable=False),
    Column("dentist_ids", ARRAY(Integer), nullable=False),
    Column("weekdays", ARRAY(SmallInteger), nullable=False),
    Column("day_start", Time, nullable=False),
    Column("day_end", Time, nullable=False),
    Column("earliest", Date, nullable=False),
    Column("latest", Date, nullable=False),
    Column("notes", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("appointment_id", BigInteger, ForeignKey("appointments.id")),
    Column("created_by", Integer, ForeignKey("users.id")),
    Column("version", Integer, nullable=False),
    Column("created_at", TZ, nullable=False),
    Column("updated_at", TZ, nullable=False),
)

waitlist_offers = Table(
    "waitlist_offers", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("request_id", Integer, ForeignKey("waitlist_requests.id"), nullable=False),
    Column("patient_id", Integer, ForeignKey("patients.id"), nullable=False),
    Column("slot_id", BigInteger, nullable=False),
    Column("dentist_id", Integer, ForeignKey("dentists.id"), nullable=False),
    Column("chair_id", Integer, ForeignKey("chairs.id")),
    Column("type_id", Integer, ForeignKey("appointment_types.id"), nullable=False),
    Column("start_at", TZ, nullable=False),
    Column("end_at", TZ, nullable=False),
    Column("status", Text, nullable=False),
    Column("expires_at", TZ, nullable=False),
    Column("appointment_id", BigInteger, ForeignKey("appointments.id")),
    Column("freed_by", BigInteger),
    Column("version", Integer, nullable=False),
    Column("created_at", TZ, nullable=False),
    Column("updated_at", TZ, nullable=False),
)

mail_outbox = Table(
    "mail_outbox", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("appointment_id", BigInteger, ForeignKey("appointments.id"), nullable=False),
    Column("recipient", Text, nullable=False),
    Column("start_at", TZ, nullable=False),
    Column("previous_start_at", TZ),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", TZ, nullable=False),
    Column("last_error", Text),
    Column("subject", Text),
    Column("message_id", Text),
    Column("sent_at", TZ),
    Column("created_at", TZ, nullable=False),
)

mail_state = Table(
    "mail_state", metadata,
    Column("id", Integer, primary_key=True),
    Column("enabled_until", TZ),
    Column("last_cycle_at", TZ),
)
