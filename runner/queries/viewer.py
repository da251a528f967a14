"""Who is reading: the signed-in user as a Viewer, sign-in, and what the viewer may read or act on.

A refused read is written to the audit log (record_denial) before Forbidden is raised, like the
write-side services do.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from runner.errors import Forbidden
from runner.models import User
from runner.passwords import hash_password, verify_password
from runner.runtime import Runtime
from runner.services import can_act, deny  # noqa: F401  (can_act is part of this module's API)

# Units that follow up on every instance (S3): they may read all of them.
READ_ALL_UNITS = frozenset({"supervision_office", "justice_bureau"})


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
        return self.unit_code in READ_ALL_UNITS


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


def may_read(viewer: Viewer, units: list[str] | None) -> bool:
    return viewer.reads_everything or viewer.unit_code in (units or [])


def _deny(rt: Runtime, viewer: Viewer, action: str, message: str, now: datetime,
          instance_id: int | None = None, task_id: str | None = None) -> Forbidden:
    return deny(rt, viewer.username, action, message, now, instance_id, task_id)
