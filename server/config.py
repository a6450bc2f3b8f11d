"""Server configuration in one place: defaults, then a config file, then `CLINIC_…` environment, then flags."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

__all__ = ["Config", "default_data_dir"]

APP_NAME = "DentalCareConnect"


def default_data_dir() -> Path:
    """The per-user data directory (embedded database, secret) as platformdirs finds it."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


@dataclass(frozen=True)
class Config:
    """Everything the server can be told. Each field is also `CLINIC_<NAME>` in the environment."""

    host: str = "127.0.0.1"
    port: int = 8765
    data_dir: Path = field(default_factory=default_data_dir)
    database_url: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    secret: str | None = None
    demo: bool = False
    retention_days: int = 7
    heartbeat_seconds: float = 5.0
    ping_seconds: float = 20.0  # WebSocket ping interval, and how long a pong may take (0: no pings)
    poll_seconds: float = 1.0
    fanout_interval_ms: float = 0.0  # the least time from one fan-out's start to the next's
    fanout_pause_ratio: float = 1.0  # after a fan-out, wait this many times its length before the next…
    fanout_pause_max_ms: float = 10.0  # …but never longer than this
    send_buffer_kib: int = 1024
    max_snapshot_kib: int = 65536  # a snapshot may pass send_buffer_kib once, up to this size
    subscribes_per_minute: int = 30  # per connection, bursts of a sixth of it (at least 2)
    subscribe_wait_seconds: float = 10.0  # a subscribe never waits longer for the relay; then "try again"
    max_frame_bytes: int = 256 * 1024
    access_token_minutes: float = 15.0  # fractions allowed (tests use seconds-long tokens)
    refresh_token_days: int = 30
    writes_per_minute: int = 120
    login_attempts_per_minute: int = 10
    log_level: str = "INFO"
    llm_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    # Exhaustion limits (docs/SECURITY.md, "Limits"): connections, sign-ins and the hashing pool.
    max_connections: int = 10000  # WebSocket connections in all (also kept below the open-file limit)
    max_connections_per_address: int = 1024  # from one client address; refused with 429 beyond
    sign_in_deadline_seconds: float = 30.0  # a connection not signed in by then is closed (4003)
    max_concurrent_sign_ins: int = 16  # sign-ins verifying a password at once; more get rate_limited
    hash_workers: int = 2  # threads computing argon2 hashes, off the event loop
    trusted_proxies: tuple[str, ...] = ()  # IPs/CIDRs whose X-Forwarded-For names the client address
    # Browsers: a WebSocket upgrade carrying an Origin header (only browsers send one) is refused unless
    # that origin is listed; the desktop app sends none.
    allowed_origins: tuple[str, ...] = ()
    # /metrics answers loopback peers; any other peer must send `Authorization: Bearer <metrics_token>`
    # (with no token set, only loopback may read it).
    metrics_token: str | None = None
    # The write path: how long a write waits for a lock, how long the server's own transaction may sit
    # idle, how far from today a date or instant may lie, and how many upcoming appointments a patient
    # may hold when booking themself (online or through the assistant; staff bookings are exempt).
    lock_timeout_ms: int = 3000
    idle_in_transaction_timeout_ms: int = 10000
    date_window_years: int = 10
    max_future_bookings: int = 3
    # The booking assistant: messages per user per minute (shared by every instance, in the database),
    # conversations each user may keep, and how long an idle one lives.
    assistant_messages_per_minute: int = 30
    assistant_conversations_per_user: int = 20
    assistant_idle_minutes: int = 60
    # The waitlist (server/waitlist.py): how long an offer stays open (written to clinic_settings at start,
    # where the database's offer trigger reads it) and how often lapsed offers are marked expired.
    waitlist_offer_minutes: int = 15
    waitlist_expiry_seconds: float = 5.0
    # Email (server/mailer.py): off while smtp_host is unset. Reminders go `reminder_hours` before the start.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "DentalCare Connect <no-reply@localhost>"
    smtp_starttls: bool = True
    smtp_timeout_seconds: float = 30.0
    reminder_hours: int = 24
    mail_poll_seconds: float = 5.0
    mail_max_attempts: int = 8  # then the message is marked failed
    mail_retry_seconds: float = 60.0  # the first retry's wait; doubled each time, at most an hour
    # The appointment book: the longest one blockout may last (longer absences are days off).
    blockout_max_days: int = 31
    # The patient directory and the front desk's lists (server/handlers/patients.py, lists.py): how many
    # history rows one page may hold, how many working days ahead the confirmation list covers, and the
    # most rows a list answer (unscheduled, confirmations, recall) carries.
    history_page_max: int = 200
    confirmation_days: int = 2
    list_rows_max: int = 500

    @classmethod
    def load(cls, config_file: Path | None = None, **overrides: Any) -> "Config":
        """Build the config: defaults < file (TOML) < environment < explicit overrides (flags)."""
        values: dict[str, Any] = {}
        path = config_file or (Path(os.environ["CLINIC_CONFIG"]) if os.environ.get("CLINIC_CONFIG") else None)
        if path is not None:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
            values.update(data.get("server", data))
        for f in fields(cls):
            env = os.environ.get(f"CLINIC_{f.name.upper()}")
            if env is not None and env != "":
                values[f.name] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls()._with(values)

    def _with(self, values: dict[str, Any]) -> "Config":
        known = {f.name: f for f in fields(self)}
        converted: dict[str, Any] = {}
        for name, raw in values.items():
            if name not in known:
                raise ValueError(f"unknown configuration setting: {name}")
            default = getattr(self, name)
            converted[name] = _convert(name, raw, default)
        return replace(self, **converted)

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None and self.tls_key is not None


_PATH_FIELDS = {"data_dir", "tls_cert", "tls_key"}


def _convert(name: str, raw: Any, default: Any) -> Any:
    if name in _PATH_FIELDS:
        return Path(raw).expanduser() if raw is not None else None
    if isinstance(default, tuple):
        items = raw.split(",") if isinstance(raw, str) else raw
        return tuple(str(item).strip() for item in items if str(item).strip())
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
        return str(raw).strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw
