"""`auth.*`: sign-in, resume, refresh, sign-out and password change."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field, StrictStr
from sqlalchemy import func, select, update

from ..auth import hash_password, verify_password
from ..db import tables as t
from ..protocol import WS_CLOSE_AUTH_EXPIRED, ErrorCode, Reason, RpcError
from .common import (
    NoParams,
    Params,
    _require,
    _retry_after,
)


class LoginParams(Params):
    username: StrictStr = Field(min_length=1, max_length=150)
    password: StrictStr = Field(min_length=1, max_length=1000)


class ResumeParams(Params):
    access_token: StrictStr = Field(max_length=4096)


class RefreshParams(Params):
    refresh_token: StrictStr = Field(max_length=512)


class ChangePasswordParams(Params):
    current_password: StrictStr = Field(min_length=1, max_length=1000)
    new_password: StrictStr = Field(min_length=8, max_length=1000)


async def auth_login(app, session, p: LoginParams) -> dict[str, Any]:
    """Sign in with a password. The attempt is counted against the account's and the address's
    throttles before the (slow, pooled) hash check, so parallel guesses cannot all pass the check
    first; a success takes its count back. No transaction is open while the hash is checked."""
    key_user = "u:" + p.username.lower()
    key_addr = "a:" + session.address
    with app.sign_ins.slot():
        wait = app.login_failures.acquire(key_user)
        if wait == 0:
            wait = app.login_failures_addr.acquire(key_addr)
            if wait > 0:
                app.login_failures.release(key_user)
        if wait > 0:
            raise RpcError.app(Reason.RATE_LIMITED, "Too many failed sign-ins. Please wait and try again.",
                               retry_after=_retry_after(wait))
        try:
            async with app.db.read() as conn:
                row = (await conn.execute(select(t.users).where(func.lower(t.users.c.username) == p.username.lower()))).first()
            ok = await app.verify_password(row.password_hash if row else app.dummy_hash, p.password) and row is not None
        except BaseException:  # not a wrong password: the attempt does not count
            app.login_failures.release(key_user)
            app.login_failures_addr.release(key_addr)
            raise
    if not ok or not row.active:
        app.log.info("failed sign-in from %s", session.address)
        raise RpcError.app(Reason.UNAUTHENTICATED, "The username or password is not right.")
    app.login_failures.reset(key_user)
    app.login_failures_addr.release(key_addr)
    async with app.db.transaction() as conn:
        user = await _user_dict(conn, row)
        refresh, family = await app.tokens.issue_refresh(conn, row.id)
    access, ttl = app.tokens.issue_access(user, family)
    session.identity, _ = app.tokens.decode_access(access)
    return {"user": _public(user), "access_token": access, "refresh_token": refresh, "expires_in": ttl}


def _public(user: dict[str, Any]) -> dict[str, Any]:
    return {k: user[k] for k in ("id", "role", "name", "dentist_id", "patient_id")}


async def _user_dict(conn, row) -> dict[str, Any]:
    dentist_id = (await conn.execute(select(t.dentists.c.id).where(t.dentists.c.user_id == row.id))).scalar()
    patient_id = (await conn.execute(select(t.patients.c.id).where(t.patients.c.user_id == row.id))).scalar()
    return {"id": row.id, "role": row.role, "name": row.display_name, "dentist_id": dentist_id,
            "patient_id": patient_id, "password_epoch": _password_epoch(row)}


def _password_epoch(row) -> int:
    """The user's password epoch (microseconds): a token issued under an older one is refused.

    Microseconds, not seconds: a password changed in the same second as a sign-in must still
    end that sign-in's tokens.
    """
    return int(row.password_changed_at.timestamp() * 1_000_000)


async def auth_resume(app, session, p: ResumeParams) -> dict[str, Any]:
    ident, epoch = app.tokens.decode_access(p.access_token)
    async with app.db.read() as conn:
        row = (await conn.execute(select(t.users).where(t.users.c.id == ident.user_id))).first()
        if row is None or not row.active or (epoch is not None and _password_epoch(row) != epoch):
            raise RpcError.app(Reason.UNAUTHENTICATED, "Please sign in again.")
        if not await app.tokens.family_active(conn, ident.family_id):
            raise RpcError.app(Reason.UNAUTHENTICATED, "You were signed out. Please sign in again.")
    session.identity = ident
    return {"user": ident.as_user()}


async def auth_refresh(app, session, p: RefreshParams) -> dict[str, Any]:
    try:
        async with app.db.transaction() as conn:
            user_id, refresh, family = await app.tokens.rotate_refresh(conn, p.refresh_token)
            row = (await conn.execute(select(t.users).where(t.users.c.id == user_id))).first()
            if row is None or not row.active:
                raise RpcError.app(Reason.UNAUTHENTICATED, "Please sign in again.")
            user = await _user_dict(conn, row)
    except RpcError as exc:
        family = getattr(exc, "reused_family", None)
        if family is not None:
            if session.identity is not None and session.identity.family_id == family:
                # This connection gets the error: signed out, not closed, so before the revocation's notice.
                session.identity = None
                session.live = False
                app.relay.subscribers.discard(session)
            async with app.db.transaction() as conn:
                await app.tokens.revoke_family(conn, family)
            _end_sessions(app, session, lambda other: other.family_id == family, "signed out: sign-in ended for safety")
        raise
    access, ttl = app.tokens.issue_access(user, family)
    session.identity, _ = app.tokens.decode_access(access)
    return {"user": _public(user), "access_token": access, "refresh_token": refresh, "expires_in": ttl}


async def auth_logout(app, session, p: NoParams) -> dict[str, Any]:
    ident = _require(session)
    # Signed out first, which ends the subscription too (no more events or heartbeats here), so the
    # revocation's own notice, which may arrive before the commit returns, finds nothing to close.
    session.identity = None
    session.live = False
    app.relay.subscribers.discard(session)
    if ident.family_id:
        async with app.db.transaction() as conn:
            await app.tokens.revoke_family(conn, ident.family_id)
        _end_sessions(app, session, lambda other: other.family_id == ident.family_id, "signed out")
    return {"ok": True}


def _end_sessions(app, keep, match, why: str, skip=lambda conn: False) -> None:
    """Sign out, here and now, every other connection on this server whose identity `match`es.

    They get no more events and are closed with 4002, so their clients try `auth.refresh` (which
    fails for a revoked sign-in) and then ask for the password.
    """
    for other in tuple(app.connections):
        if other is keep or other.identity is None or not match(other.identity) or skip(other):
            continue
        other.identity = None
        other.live = False
        app.relay.subscribers.discard(other)
        other._drop_task = asyncio.ensure_future(other.ws.close(WS_CLOSE_AUTH_EXPIRED, why))


async def _off_loop(app, name: str, fn, *args: Any) -> Any:
    """Run an argon2 computation off the event loop: the app's own worker pool when it has one."""
    helper = getattr(app, name, None)
    if helper is not None:
        return await helper(*args)
    return await asyncio.to_thread(fn, *args)


async def auth_change_password(app, session, p: ChangePasswordParams) -> dict[str, Any]:
    """Change the caller's password; every other sign-in of this user ends.

    Revokes all the user's refresh-token families, moves the password epoch (so older access
    tokens fail `auth.resume`), closes the user's other live connections on this server with
    4002, and signs this connection in afresh (new tokens in the result).
    """
    ident = _require(session)
    key_user = "u:" + str(ident.user_id) + ":pw"
    wait = app.login_failures.retry_after(key_user)
    if wait > 0:
        raise RpcError.app(Reason.RATE_LIMITED, "Too many wrong passwords. Please wait and try again.",
                           retry_after=_retry_after(wait))
    if p.new_password == p.current_password:
        raise RpcError(ErrorCode.INVALID_PARAMS, "Invalid params", Reason.INVALID_PARAMS,
                       fields={"new_password": "must differ from the current password"})
    async with app.db.read() as conn:
        row = (await conn.execute(select(t.users).where(t.users.c.id == ident.user_id))).first()
    if row is None or not row.active:
        raise RpcError.app(Reason.UNAUTHENTICATED, "Please sign in again.")
    # argon2 is deliberately slow: both hashes run off the event loop and before the transaction, so
    # no lock is held across them; the write below applies only if the password is still the one checked.
    if not await _off_loop(app, "verify_password", verify_password, row.password_hash, p.current_password):
        app.login_failures.add(key_user)
        raise RpcError.app(Reason.UNAUTHENTICATED, "The current password is not right.")
    new_hash = await _off_loop(app, "hash_password", hash_password, p.new_password)
    session.renewing_sign_in = True  # the revocation's notice (it may arrive first) must not close this one
    try:
        user, refresh, family = await _store_new_password(app, row, new_hash)
    finally:
        session.renewing_sign_in = False
    app.login_failures.reset(key_user)
    access, ttl = app.tokens.issue_access(user, family)
    session.identity, _ = app.tokens.decode_access(access)
    _end_sessions(app, session, lambda other: other.user_id == ident.user_id, "signed out: password changed")
    app.log.info("user %s changed their password; other sessions ended", ident.user_id)
    return {"user": _public(user), "access_token": access, "refresh_token": refresh, "expires_in": ttl}


async def _store_new_password(app, row, new_hash: str) -> tuple[dict[str, Any], str, str]:
    """Write the new hash (if the password is still the one checked), revoke every sign-in, start a new one."""
    async with app.db.transaction() as conn:
        changed = (await conn.execute(
            update(t.users).where(t.users.c.id == row.id, t.users.c.password_hash == row.password_hash,
                                  t.users.c.active)
            .values(password_hash=new_hash, password_changed_at=func.clock_timestamp()).returning(t.users.c.id)
        )).first()
        if changed is None:
            raise RpcError.app(Reason.UNAUTHENTICATED, "Your password was changed meanwhile. Please sign in again.")
        await conn.execute(
            update(t.refresh_tokens)
            .where(t.refresh_tokens.c.user_id == row.id, t.refresh_tokens.c.revoked_at.is_(None))
            .values(revoked_at=func.now())
        )
        row = (await conn.execute(select(t.users).where(t.users.c.id == row.id))).first()
        user = await _user_dict(conn, row)
        refresh, family = await app.tokens.issue_refresh(conn, row.id)
    return user, refresh, family
