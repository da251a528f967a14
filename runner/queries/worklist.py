"""The inbox (open tasks the viewer may see, with the user's filters) and the history of completed tasks.

Both read the human task table through its indexes and never deserialize a workflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, func, or_, select, union_all
from sqlalchemy.orm import aliased

from runner.calendar import TZ
from runner.models import HumanTask, Unit
from runner.queries.rows import Page, _task_row, search_condition
from runner.queries.viewer import Viewer
from runner.runtime import Runtime

STATUSES = ("unclaimed", "mine", "others", "overdue")


@dataclass
class InboxFilters:
    process_key: str = ""
    status: str = ""          # "" | unclaimed | mine | others | overdue
    due_from: date | None = None
    due_to: date | None = None
    q: str = ""
    page: int = 1
    per_page: int = 20


def _branches(viewer: Viewer) -> tuple[list, list]:
    """The two ways a task reaches the inbox, each answerable from one index.

    by_role: open tasks for the viewer's unit and role (and field) not claimed by somebody's else
    (ix_human_tasks_inbox); mine: open tasks assigned or delegated to the viewer (ix_human_tasks_assignee).
    A union of the two keeps each branch on its index, where one OR would scan every open task."""
    by_role = [HumanTask.status == "open", HumanTask.unit_code == viewer.unit_code, HumanTask.role == viewer.role,
               or_(HumanTask.field.is_(None), HumanTask.field.in_(viewer.fields or ("",))),
               or_(HumanTask.assignee.is_(None), HumanTask.assignee != viewer.username)]
    mine = [HumanTask.status == "open", HumanTask.assignee == viewer.username]
    return by_role, mine


def _local_midnight(day: date) -> datetime | None:
    """The start of DAY in local time, or None when that instant (or its UTC form) is beyond what
    datetime can hold (0001-01-01, the day after 9999-12-31): the bound then only asks for a deadline."""
    try:
        return datetime.combine(day, time(0), TZ).astimezone(UTC)
    except OverflowError:
        return None


def _next_day(day: date) -> date | None:
    return day + timedelta(days=1) if day < date.max else None


def inbox_conditions(viewer: Viewer, filters: InboxFilters, now: datetime) -> list:
    """The filters the user chose (visibility comes from _branches)."""
    conds = []
    if filters.process_key:
        conds.append(HumanTask.process_key == filters.process_key)
    if filters.status == "unclaimed":
        conds.append(HumanTask.assignee.is_(None))
    elif filters.status == "mine":
        conds.append(HumanTask.assignee == viewer.username)
    elif filters.status == "others":
        conds.append(and_(HumanTask.assignee.is_not(None), HumanTask.assignee != viewer.username))
    elif filters.status == "overdue":
        conds.append(HumanTask.due_at < now)
    if filters.due_from:
        start = _local_midnight(filters.due_from)
        conds.append(HumanTask.due_at.is_not(None) if start is None else HumanTask.due_at > start)
    if filters.due_to:
        # a deadline is "on day D" when it falls after D 00:00 and no later than D 24:00
        after = _next_day(filters.due_to)
        end = _local_midnight(after) if after else None
        conds.append(HumanTask.due_at.is_not(None) if end is None else HumanTask.due_at <= end)
    q = filters.q.strip()
    if q:
        conds.append(search_condition(HumanTask.business_key, HumanTask.title, q))
    return conds


def _inbox_union(viewer: Viewer, filters: InboxFilters, now: datetime):
    chosen = inbox_conditions(viewer, filters, now)
    by_role, mine = _branches(viewer)
    return union_all(select(HumanTask).where(*by_role, *chosen), select(HumanTask).where(*mine, *chosen)).subquery()


def inbox_statement(viewer: Viewer, filters: InboxFilters, now: datetime):
    """The inbox page's SELECT (exposed for the benchmark's EXPLAIN)."""
    rows = aliased(HumanTask, _inbox_union(viewer, filters, now))
    offset = (max(filters.page, 1) - 1) * filters.per_page
    return (select(rows).order_by(rows.due_at.asc().nulls_last(), rows.created_at, rows.id)
            .limit(filters.per_page).offset(offset))


def inbox_count_statement(viewer: Viewer, filters: InboxFilters, now: datetime):
    return select(func.count()).select_from(_inbox_union(viewer, filters, now))


def inbox(rt: Runtime, viewer: Viewer, filters: InboxFilters, now: datetime) -> Page:
    """One page of the viewer's open tasks, earliest deadline first."""
    with rt.session() as s:
        total = s.scalar(inbox_count_statement(viewer, filters, now)) or 0
        rows = list(s.scalars(inbox_statement(viewer, filters, now)))
        names = dict(s.execute(select(Unit.code, Unit.name)).all())
    return Page([_task_row(rt, r, viewer, names, now) for r in rows], total, filters.page, filters.per_page)


def history(rt: Runtime, viewer: Viewer, page: int, per_page: int, now: datetime) -> Page:
    """Tasks the viewer completed, most recent first."""
    with rt.session() as s:
        where = HumanTask.completed_by == viewer.username
        total = s.scalar(select(func.count()).select_from(HumanTask).where(where)) or 0
        rows = list(s.scalars(select(HumanTask).where(where)
                              .order_by(HumanTask.completed_at.desc(), HumanTask.id)
                              .limit(per_page).offset((max(page, 1) - 1) * per_page)))
        names = dict(s.execute(select(Unit.code, Unit.name)).all())
    return Page([_task_row(rt, r, viewer, names, now) for r in rows], total, page, per_page)
