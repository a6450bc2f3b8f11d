"""Authentication: password hashes, signed access tokens, rotating refresh tokens, throttles.

Access tokens are short-lived JWTs (HS256) signed with the server secret. Refresh tokens are
random strings stored only as SHA-256 hashes; each use rotates it, and presenting a used one
again revokes its whole family (it was stolen or replayed).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update

from .db import tables as t
from .protocol import Reason, RpcError

__all__ = [
    "Identity",
    "TokenService",
    "SlidingWindow",
    "SignInCap",
    "hash_password",
    "verify_password",
    "load_or_create_secret",
]

_hasher = PasswordHasher()
# Verifying against this when the username is unknown keeps login time the same either way.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def load_or_create_secret(data_dir: Path) -> str:
    """The token-signing secret: read from `data_dir/secret.key`, created (mode 0600) on first run."""
    path = Path(data_dir) / "secret.key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is on a connection, as the access token says."""

    user_id: int
    role: str
    name: str
    dentist_id: int | None
    patient_id: int | None
    expires_at: float  # unix time the access token expires
    family_id: str | None = None  # the refresh-token family of this login, revoked by auth.logout

    def as_user(self) -> dict[str, Any]:
        return {
            "id": self.user_id,
            "role": self.role,
            "name": self.name,
            "dentist_id": self.dentist_id,
            "patient_id": self.patient_id,
        }


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenService:
    """Issues and checks access and refresh tokens."""

    def __init__(self, secret: str, access_minutes: float = 15, refresh_days: int = 30) -> None:
        self._secret = secret
        self.access_ttl = timedelta(minutes=access_minutes)
        self.refresh_ttl = timedelta(days=refresh_days)

    def issue_access(self, user: dict[str, Any], family_id: str | None, now: float | None = None) -> tuple[str, int]:
        now = time.time() if now is None else now
        exp = int(now + self.access_ttl.total_seconds())
        claims = {
            "sub": str(user["id"]),
            "role": user["role"],
            "name": user["name"],
            "did": user.get("dentist_id"),
            "pid": user.get("patient_id"),
            "fam": family_id,
            "iat": int(now),
            "exp": exp,
            "pwd": user.get("password_epoch"),
        }
        return jwt.encode(claims, self._secret, algorithm="HS256"), int(self.access_ttl.total_seconds())

    def decode_access(self, token: Any) -> tuple[Identity, int | None]:
        """Check signature and expiry; returns the identity and the password epoch it was issued under."""
        if not isinstance(token, str) or not token or len(token) > 4096:
            raise RpcError.app(Reason.UNAUTHENTICATED, "Please sign in again.")
        try:
            claims = jwt.decode(token, self._secret, algorithms=["HS256"], options={"require": ["exp", "sub"]})
        except jwt.ExpiredSignatureError:
            raise RpcError.app(Reason.UNAUTHENTICATED, "Your session has expired. Please sign in again.") from None
        except jwt.PyJWTError:
            raise RpcError.app(Reason.UNAUTHENTICATED, "Please sign in again.") from None
        identity = Identity(
            user_id=int(claims["sub"]),
            role=claims["role"],
            name=claims["name"],
            dentist_id=claims.get("did"),
            patient_id=claims.get("pid"),
            expires_at=float(claims["exp"]),
            family_id=claims.get("fam"),
        )
        return identity, claims.get("pwd")

    async def issue_refresh(self, conn, user_id: int, family_id: str | None = None) -> tuple[str, str]:
        token = secrets.token_urlsafe(32)
        family = family_id or str(uuid.uuid4())
        await conn.execute(
            t.refresh_tokens.insert().values(
                user_id=user_id,
                token_hash=_sha256(token),
                family_id=uuid.UUID(family),
                expires_at=datetime.now(timezone.utc) + self.refresh_ttl,
            )
        )
        return token, family

    async def rotate_refresh(self, conn, token: Any) -> tuple[int, str, str]:
        """Spend a refresh token: returns (user_id, new_token, family). Reuse revokes the family."""
        if not isinstance(token, str) or not token or len(token) > 512:
            raise RpcError.app(Reason.UNAUTHENTICATED, "Please sign in again.")
        rt = t.refresh_tokens
        row = (
            await conn.execute(
                select(rt.c.id, rt.c.user_id, rt.c.family_id, rt.c.expires_at, rt.c.used_at, rt.c.revoked_at)
                .where(rt.c.token_hash == _sha256(token))
                .with_for_update()
            )
        ).first()
        now = datetime.now(timezone.utc)
        if row is None:
            raise RpcError.app(Reason.UNAUTHENTICATED, "Please sign in again.")
        if row.used_at is not None or row.revoked_at is not None:
            # A spent token presented again: someone replayed it. The caller ends the whole login
            # (in a transaction of its own, since this one rolls back with the error).
            err = RpcError.app(Reason.UNAUTHENTICATED, "This sign-in was ended for safety. Please sign in again.")
            err.reused_family = str(row.family_id)  # type: ignore[attr-defined]
            raise err
        if row.expires_at <= now:
            raise RpcError.app(Reason.UNAUTHENTICATED, "Your session has expired. Please sign in again.")
        await conn.execute(update(rt).where(rt.c.id == row.id).values(used_at=now))
        new_token, family = await self.issue_refresh(conn, row.user_id, str(row.family_id))
        return row.user_id, new_token, family

    async def revoke_family(self, conn, family_id: str) -> None:
        rt = t.refresh_tokens
        await conn.execute(
            update(rt)
            .where(rt.c.family_id == uuid.UUID(family_id), rt.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(timezone.utc))
        )

    async def family_active(self, conn, family_id: str | None) -> bool:
        if family_id is None:
            return True
        rt = t.refresh_tokens
        row = (
            await conn.execute(
                select(rt.c.id).where(rt.c.family_id == uuid.UUID(family_id), rt.c.revoked_at.is_(None)).limit(1)
            )
        ).first()
        return row is not None


class SlidingWindow:
    """Counts events per key over a window; used to throttle failed logins."""

    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window = window_seconds
        self._events: dict[str, deque[float]] = {}

    def _trim(self, key: str, now: float) -> deque[float]:
        q = self._events.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            self._events.pop(key, None)
            q = self._events.setdefault(key, deque())
        return q

    def retry_after(self, key: str, now: float | None = None) -> float:
        """Seconds until `key` may try again (0 when it may now)."""
        now = time.monotonic() if now is None else now
        q = self._trim(key, now)
        if len(q) < self.limit:
            if not q:
                self._events.pop(key, None)
            return 0.0
        return max(0.0, q[0] + self.window - now)

    def add(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._trim(key, now).append(now)

    def acquire(self, key: str, now: float | None = None) -> float:
        """Check and count one attempt for `key` in one step: 0 when it was counted, else the seconds
        to wait (nothing counted). Parallel attempts cannot all pass the check before any is counted."""
        wait = self.retry_after(key, now)
        if wait == 0:
            self.add(key, now)
        return wait

    def release(self, key: str) -> None:
        """Take back the newest attempt counted for `key` (it succeeded, so it was no failure)."""
        q = self._events.get(key)
        if q:
            q.pop()
            if not q:
                self._events.pop(key, None)

    def reset(self, key: str) -> None:
        self._events.pop(key, None)


class SignInCap:
    """At most `limit` sign-ins checking a password at once; one more is refused at once with
    `rate_limited` rather than queueing behind the hashing pool (a flood would wait there for minutes)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        if self.active >= self.limit:
            raise RpcError.app(Reason.RATE_LIMITED, "The server is busy signing others in. Please try again "
                                                    "in a moment.", retry_after=1.0)
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
