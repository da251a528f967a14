"""Standing processes: diagrams marked ``standing=true`` always have one running instance.

The quarterly joint meeting (S2) is such a process: one instance loops from quarter to quarter.
Call ``ensure_standing_processes`` at start-up (init-db, run) and it starts whatever is missing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from runner.access import check_effective, may_start_sql
from runner.errors import DomainError
from runner.models import ProcessInstance, Unit, User
from runner.runtime import Runtime, active_definition
from runner.services import start_process


def is_standing(bundle) -> bool:
    return str(bundle.properties.get("standing", "")).strip().lower() == "true"


def ensure_standing_processes(rt: Runtime, now: datetime, username: str | None = None) -> list[int]:
    """Start one instance of each standing process that has none running; return the new instance ids.

    The instance is started as USERNAME, or else as the first active account allowed to start it.
    Nothing is started outside the definition's policy window (V1) or when nobody may start it.
    """
    started = []
    for key in sorted(rt.bundles):
        bundle = rt.bundles[key]
        if not is_standing(bundle):
            continue
        with rt.session() as s:
            definition = active_definition(s, key, now)
            if definition is None or not _in_window(definition, now):
                continue
            running = s.scalar(select(func.count()).select_from(ProcessInstance).where(
                ProcessInstance.process_key == key, ProcessInstance.status == "running"))
            starter = username or _default_starter(s, bundle)
        if running or starter is None:
            continue
        started.append(start_process(rt, starter, key, {}, now))
    return started


def _in_window(definition, now: datetime) -> bool:
    try:
        check_effective(definition, now)
    except DomainError:
        return False
    return True


def _default_starter(s, bundle) -> str | None:
    query = select(User.username).join(Unit, User.unit_code == Unit.code).where(
        User.active.is_(True), *may_start_sql(bundle))
    return s.scalars(query.order_by(User.username).limit(1)).first()
