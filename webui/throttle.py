"""Slow down repeated sign-in attempts, counted in the database so every web process shares the count.

Why the database and not Flask-Limiter: its shared storages are Redis, Memcached or MongoDB, none of which a
deployment of this app has (SQLite or PostgreSQL only), and its fixed windows cannot say "let a correct password
through this limit". The database is already shared by every process, and an UPDATE is atomic on both engines
(PostgreSQL locks the row and re-checks the WHERE after waiting; SQLite lets one writer in at a time).

An attempt is *claimed* before the password is checked: one UPDATE ... RETURNING that adds one to the count
only while the key is not blocked. So N parallel guesses cannot all pass the check-then-record gap that a
slow Argon2 hash opens: at most FREE of them reach the password check. A correct password gives its claim
back. After FREE claims, each further attempt must wait 2, 4, 8 … seconds (at most 15 minutes).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from runner.models import LoginAttempt

MAX_WAIT = timedelta(minutes=15)
FORGET_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class Limit:
    """FREE attempts for one kind of key ('pair' = address and account, 'account', 'address')."""

    kind: str
    free: int

    def key(self, value: str) -> str:
        # Hashed: fixed length, and no address or typed name (nor a NUL byte in it) stored in clear.
        return hashlib.sha256(f"{self.kind}\n{value}".encode("utf-8", "replace")).hexdigest()

    def delay(self, attempts: int) -> timedelta:
        return min(timedelta(seconds=2 ** (attempts - self.free + 1)), MAX_WAIT)


def retry_when_busy(action, tries: int = 4):
    """Run ACTION again when SQLite says "database is locked": its busy timeout (5 s) can run out when a burst
    of sign-ins queues up as writers. PostgreSQL waits for row locks instead and never raises this."""
    for attempt in range(1, tries + 1):
        try:
            return action()
        except OperationalError as exc:
            if attempt == tries or "database is locked" not in str(exc.orig):
                raise
            time.sleep(0.05 * attempt)  # a short pause under contention only, never in the ordinary path


def _insert(dialect: str):
    return (postgresql if dialect == "postgresql" else sqlite).insert


def claim(s, limit: Limit, key: str, now: datetime) -> int:
    """Take one attempt on KEY inside the caller's transaction; 0 when taken, else the seconds to wait."""
    ins = _insert(s.get_bind().dialect.name)(LoginAttempt).values(key=key, failures=0, last_at=now)
    s.execute(ins.on_conflict_do_nothing(index_elements=["key"]))
    taken = s.execute(
        update(LoginAttempt)
        .where(LoginAttempt.key == key,
               or_(LoginAttempt.blocked_until.is_(None), LoginAttempt.blocked_until <= now))
        .values(failures=case((LoginAttempt.last_at < now - FORGET_AFTER, 1), else_=LoginAttempt.failures + 1),
                last_at=now)
        .returning(LoginAttempt.failures)
        .execution_options(synchronize_session=False)).scalar_one_or_none()
    if taken is None:
        until = s.scalar(select(LoginAttempt.blocked_until).where(LoginAttempt.key == key))
        return max(1, math.ceil((until - now).total_seconds()))
    if taken >= limit.free:
        s.execute(update(LoginAttempt).where(LoginAttempt.key == key)
                  .values(blocked_until=now + limit.delay(taken)).execution_options(synchronize_session=False))
    return 0


def give_back(s, limit: Limit, key: str) -> None:
    """Undo one claim on KEY: the attempt proved to be a correct password, not a guess."""
    s.execute(update(LoginAttempt).where(LoginAttempt.key == key, LoginAttempt.failures > 0)
              .values(failures=LoginAttempt.failures - 1,
                      blocked_until=case((LoginAttempt.failures - 1 < limit.free, None),
                                         else_=LoginAttempt.blocked_until))
              .execution_options(synchronize_session=False))


def forget(s, key: str) -> None:
    s.execute(delete(LoginAttempt).where(LoginAttempt.key == key).execution_options(synchronize_session=False))


def forget_old(s, now: datetime) -> None:
    s.execute(delete(LoginAttempt).where(LoginAttempt.last_at < now - FORGET_AFTER)
              .execution_options(synchronize_session=False))
