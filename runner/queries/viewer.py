"""Who is reading: the signed-in user as a Viewer, and sign-in. The access rules live in runner.access.

A refused read is written to the audit log (record_denial) before Forbidden is raised, like the
write-side services do.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from runner.access import READ_ALL_UNITS, can_act, deny, is_head, may_read, reads_everything  # noqa: F401
from runner.errors import Forbidden
from runner.models import User
from runner.passwords import hash_password, verify_password
from runner.runtime import Runtime


@dataclass(frozen=True)
class Viewer:
    """The signed-in user as plain values."""

    username: str
    display_name: str
    unit_code: str
    unit_name: str
    unit_kind: str
    role: str
    fields: tuple[str, ...] = ()

    @property
    def reads_everything(self) -> bool:
        return reads_everything(self)

    @property
    def is_head(self) -> bool:
        return is_head(self)


def _viewer(user: User) -> Viewer:
    return Viewer(user.username, user.display_name, user.unit_code, user.unit.name, user.unit.kind, user.role,
                  tuple(user.fields or ()))


def find_viewer(rt: Runtime, username: str) -> Viewer | None:
    with rt.session() as s:
        user = s.scalars(select(User).where(User.username == username, User.active.is_(True))).first()
        return _viewer(user) if user else None


def authenticate(rt: Runtime, username: str, password: str) -> Viewer | None:
    """Return the viewer when USERNAME/PASSWORD match an active account (same work for unknown names)."""
    with rt.session() as s:
        user = s.scalars(select(User).where(User.username == username, User.active.is_(True))).first()
        if user is None:
            verify_password(_dummy_hash(), password)
            return None
        return _viewer(user) if verify_password(user.password_hash, password) else None


@functools.cache
def _dummy_hash() -> str:
    return hash_password("not-a-real-password")


def _deny(rt: Runtime, viewer: Viewer, action: str, message: str, now: datetime,
          instance_id: int | None = None, task_id: str | None = None) -> Forbidden:
    return deny(rt, viewer.username, action, message, now, instance_id, task_id)
