"""What a unit is told and reminded of: its outcome notices, the reminders of its tasks' deadlines, and (for
administrators) the timers the worker has parked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from runner.access import is_admin
from runner.models import HumanTask, Notice, ProcessInstance, Timer, Unit
from runner.queries.deadlines import reminder_due
from runner.queries.rows import TaskRow, _task_row
from runner.queries.viewer import Viewer, _deny
from runner.runtime import Runtime

# Reminder windows are a few working days: no deadline further than this many calendar days can be in one.
_REMINDER_HORIZON = timedelta(days=31)


@dataclass
class NoticeRow:
    id: int
    instance_id: int
    business_key: str
    title: str
    procedure: str
    kind: str  # outcome | supervision
    text: str
    created_at: datetime
    read_at: datetime | None


def notices(rt: Runtime, viewer: Viewer, unread_only: bool = False, limit: int = 50) -> list[NoticeRow]:
    """The notices told to the viewer's unit, newest first (unread first when UNREAD_ONLY is off)."""
    with rt.session() as s:
        query = (select(Notice, ProcessInstance.business_key, ProcessInstance.title, ProcessInstance.process_key)
                 .join(ProcessInstance, ProcessInstance.id == Notice.instance_id)
                 .where(Notice.unit_code == viewer.unit_code))
        if unread_only:
            query = query.where(Notice.read_at.is_(None))
        rows = s.execute(query.order_by(Notice.read_at.is_not(None), Notice.created_at.desc(), Notice.id.desc())
                         .limit(limit)).all()
    out = []
    for n, key, title, process_key in rows:
        bundle = rt.bundle(process_key)
        out.append(NoticeRow(n.id, n.instance_id, key, title, bundle.name if bundle else "", n.kind, n.text,
                             n.created_at, n.read_at))
    return out


def unread_notices(rt: Runtime, viewer: Viewer) -> int:
    with rt.session() as s:
        return s.scalar(select(func.count()).select_from(Notice).where(
            Notice.unit_code == viewer.unit_code, Notice.read_at.is_(None))) or 0


def reminders(rt: Runtime, viewer: Viewer, now: datetime) -> list[TaskRow]:
    """The open tasks of the viewer's unit whose deadline is within their procedure's reminder window."""
    with rt.session() as s:
        rows = list(s.scalars(select(HumanTask).where(
            HumanTask.status == "open", HumanTask.unit_code == viewer.unit_code, HumanTask.kind != "supervision",
            HumanTask.due_at > now, HumanTask.due_at <= now + _REMINDER_HORIZON).order_by(HumanTask.due_at)))
        names = dict(s.execute(select(Unit.code, Unit.name)).all())
    due = [r for r in rows if reminder_due(rt, r.process_key, r.kind, r.status, r.due_at, now)]
    return [_task_row(rt, r, viewer, names, now) for r in due]


@dataclass
class ParkedTimer:
    id: str
    instance_id: int
    business_key: str
    title: str
    name: str
    due_at: datetime
    attempts: int
    last_error: str
    parked: bool
    next_attempt_at: datetime | None
    claimed_by: str | None


def troubled_timers(rt: Runtime, viewer: Viewer, now: datetime) -> list[ParkedTimer]:
    """For administrators: waiting timers that are parked or have failed at least once, parked first."""
    if not is_admin(viewer):
        raise _deny(rt, viewer, "timers", "只有系统管理员可以查看定时器处理情况", now)
    with rt.session() as s:
        rows = s.execute(select(Timer, ProcessInstance.business_key, ProcessInstance.title)
                         .join(ProcessInstance, ProcessInstance.id == Timer.instance_id)
                         .where(Timer.status == "waiting", (Timer.parked.is_(True)) | (Timer.attempts > 0))
                         .order_by(Timer.parked.desc(), Timer.due_at)).all()
    return [ParkedTimer(t.id, t.instance_id, key, title, t.name, t.due_at, t.attempts, t.last_error, t.parked,
                        t.next_attempt_at, t.claimed_by) for t, key, title in rows]

