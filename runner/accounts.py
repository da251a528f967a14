"""Accounts and their sessions: a session lives in the database so it can be ended on the server.

The signed cookie carries only a random token; the table keeps its sha256, who it belongs to, when it
expires and whether it was revoked. Logout revokes one session; a password change or a deactivation
revokes every session of the account.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from runner.errors import Invalid, NotFound
from runner.models import AuditEntry, User, UserSession
from runner.passwords import hash_password
from runner.queries.viewer import Viewer, _viewer
from runner.runtime import Runtime

MIN_PASSWORD_LENGTH = 10


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def open_session(rt: Runtime, username: str, now: datetime, lifetime: timedelta) -> str:
    """Record a new session for USERNAME; return the token to keep in the signed cookie."""
    token = secrets.token_urlsafe(32)
    with rt.session() as s, s.begin():
        # Rows of no further use, dropped at a sign-in: this account's long-expired sessions, and sessions
        # revoked a day ago (a replay of one is still refused, as an unknown session).
        s.execute(delete(UserSession).where(UserSession.username == username,
                                            UserSession.expires_at < now - timedelta(days=1)))
        s.execute(delete(UserSession).where(UserSession.revoked_at < now - timedelta(days=1)))
        s.add(UserSession(id=_digest(token), username=username, created_at=now, expires_at=now + lifetime))
    return token


def session_viewer(rt: Runtime, token: str) -> tuple[Viewer | None, str, str]:
    """Who TOKEN signs in (None when nobody), the session's state ('ok', 'revoked' or 'unknown') and the
    account it was opened for ('-' when unknown).

    Age is not checked here: the signed cookie carries its own timestamp, which Flask refuses after
    PERMANENT_SESSION_LIFETIME (8 hours); expires_at only tells which rows may be dropped."""
    with rt.session() as s:
        row = s.execute(select(UserSession, User).join(User, User.username == UserSession.username)
                        .where(UserSession.id == _digest(token))).first()
        if row is None:
            return None, "unknown", "-"
        sess, user = row
        if sess.revoked_at is not None or not user.active:
            return None, "revoked", user.username
        return _viewer(user), "ok", user.username


def end_session(rt: Runtime, token: str, now: datetime) -> None:
    with rt.session() as s, s.begin():
        s.execute(update(UserSession).where(UserSession.id == _digest(token), UserSession.revoked_at.is_(None))
                  .values(revoked_at=now))


def _revoke_all(s, username: str, now: datetime) -> int:
    result = s.execute(update(UserSession).where(UserSession.username == username,
                                                 UserSession.revoked_at.is_(None)).values(revoked_at=now))
    return result.rowcount


def _account(s, username: str) -> User:
    user = s.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"没有这个账号：{username}")
    return user


def change_password(rt: Runtime, actor: str, username: str, new_password: str, now: datetime) -> int:
    """Set USERNAME's password and end every session it has (a stolen cookie dies with the old password).
    Return how many sessions were ended."""
    if len(new_password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"新密码至少需要 {MIN_PASSWORD_LENGTH} 个字符")
    with rt.session() as s, s.begin():
        user = _account(s, username)
        user.password_hash = hash_password(new_password)
        ended = _revoke_all(s, username, now)
        s.add(AuditEntry(at=now, actor=actor, action="password",
                         detail=f"修改了 {username} 的密码，结束会话 {ended} 个"))
    return ended


def deactivate_user(rt: Runtime, actor: str, username: str, now: datetime) -> int:
    """Stop USERNAME from signing in and end every session it has; return how many sessions were ended."""
    with rt.session() as s, s.begin():
        user = _account(s, username)
        user.active = False
        ended = _revoke_all(s, username, now)
        s.add(AuditEntry(at=now, actor=actor, action="deactivate",
                         detail=f"停用了账号 {username}，结束会话 {ended} 个"))
    return ended
