"""Units and colleagues, for pickers and labels."""

from __future__ import annotations

from sqlalchemy import select

from runner.models import Unit, User
from runner.queries.viewer import Viewer
from runner.runtime import Runtime

UNIT_NAMES_SECONDS = 30


def cached_unit_names(rt: Runtime, s) -> dict[str, str]:
    """Unit code -> name for labels on every list page, cached like Runtime.unit_kinds: a change of a unit
    flushed in this process is seen at once, one made by another process within UNIT_NAMES_SECONDS."""
    import time

    from runner.runtime import _unit_generation

    cached = getattr(rt, "_unit_names", None)
    if cached is None or cached[0] != _unit_generation[0] or time.monotonic() - cached[1] > UNIT_NAMES_SECONDS:
        generation = _unit_generation[0]
        names = dict(s.execute(select(Unit.code, Unit.name)).all())
        cached = (generation, time.monotonic(), names)
        rt._unit_names = cached  # an attribute of this runtime (one per process), not a dataclass field
    return cached[2]


def unit_names(rt: Runtime) -> dict[str, str]:
    with rt.session() as s:
        return dict(s.execute(select(Unit.code, Unit.name).order_by(Unit.code)).all())


def units_by_kind(rt: Runtime) -> list[tuple[str, str, str]]:
    """(code, name, kind) of every unit, for unit pickers."""
    with rt.session() as s:
        return list(s.execute(select(Unit.code, Unit.name, Unit.kind)).all())


def colleagues(rt: Runtime, viewer: Viewer) -> list[tuple[str, str]]:
    """(username, display name) of the other active users of the viewer's unit."""
    with rt.session() as s:
        rows = s.execute(select(User.username, User.display_name)
                         .where(User.unit_code == viewer.unit_code, User.active.is_(True),
                                User.username != viewer.username).order_by(User.username))
        return list(rows.all())
