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
    fanout_interval_ms: float = 0.0
    send_buffer_kib: int = 1024
    max_frame_bytes: int = 256 * 1024
    access_token_minutes: int = 15
    refresh_token_days: int = 30
    writes_per_minute: int = 120
    login_attempts_per_minute: int = 10
    log_level: str = "INFO"
    llm_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None

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
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
        return str(raw).strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw
