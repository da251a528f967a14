"""Shared list plumbing: one task as a TaskRow, a Page of rows, and LIKE escaping for searches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select

from runner.models import HumanTask, Unit, User
from runner.queries.deadlines import Referral, referral, reminder_due
from runner.queries.viewer import Viewer, can_act
from runner.queries.workdays import days_late, days_left
from runner.runtime import Runtime


@dataclass
class TaskRow:
    id: str
    instance_id: int
    process_key: str
    procedure: str
    business_key: str
    title: str
    name: str
    element_id: str
    kind: str
    unit_code: str
    unit_name: str
    role: str
    assignee: str | None
    due_at: datetime | None
    days_left: int | None
    overdue: bool
    can_act: bool
    status: str = "open"
    completed_at: datetime | None = None
    completed_by: str | None = None
    late_unit: str | None = None
    late_days: int | None = None  # completed after its deadline: by this many working days (0: within a day)
    late_task: str | None = None  # a 督办: the late unit's task that missed its deadline
    late_due_at: datetime | None = None  # ... its deadline
    late_task_days: int | None = None  # ... working days past it, counted to now (to completion once done)
    assignee_name: str | None = None  # the holder's name and unit, for people other than the holder
    reminder: bool = False  # the deadline is within the procedure's reminder window (queries/deadlines.py)
    referral: Referral | None = None  # a 督办 proposing referral to discipline inspection (S6), and why



@dataclass
class Page:
    """One page of a list. A count stops at COUNT_CAP + 1 rows (a list never counts a million rows to show
    one number): then `capped` is set, total is COUNT_CAP + 1 and total_text reads "1000+"."""

    rows: list
    total: int
    page: int
    per_page: int
    capped: bool = False

    @property
    def pages(self) -> int:
        known = max(1, -(-self.total // self.per_page))
        return max(known, self.page + 1) if self.capped else known

    @property
    def total_text(self) -> str:
        return f"{COUNT_CAP}+" if self.capped else str(self.total)

    @property
    def pages_text(self) -> str:
        return f"{self.pages}+" if self.capped else str(self.pages)


COUNT_CAP = 1000


def capped_count(s, stmt) -> tuple[int, bool]:
    """How many rows STMT (a SELECT) gives, stopping at COUNT_CAP + 1: (count, capped)."""
    from sqlalchemy import func, literal

    inner = stmt.with_only_columns(literal(1)).order_by(None).limit(COUNT_CAP + 1).subquery()
    n = s.scalar(select(func.count()).select_from(inner)) or 0
    return n, n > COUNT_CAP


def people_names(s, usernames) -> dict[str, str]:
    """Username -> "name（unit）" for USERNAMES, as a person reads who holds a task."""
    wanted = sorted({u for u in usernames if u})
    if not wanted:
        return {}
    rows = s.execute(select(User.username, User.display_name, Unit.name).join(Unit, Unit.code == User.unit_code)
                     .where(User.username.in_(wanted))).all()
    return {username: name if unit in name else f"{name}（{unit}）" for username, name, unit in rows}


def _task_row(rt: Runtime, r: HumanTask, viewer: Viewer, names: dict[str, str], now: datetime,
              people: dict[str, str] | None = None) -> TaskRow:
    bundle = rt.bundle(r.process_key)
    seen_at = r.completed_at if r.status == "completed" else now
    row = TaskRow(
        id=r.id, instance_id=r.instance_id, process_key=r.process_key,
        procedure=bundle.name if bundle else r.process_key, business_key=r.business_key, title=r.title,
        name=r.name, element_id=r.element_id, kind=r.kind, unit_code=r.unit_code,
        unit_name=names.get(r.unit_code, r.unit_code), role=r.role, assignee=r.assignee, due_at=r.due_at,
        days_left=days_left(rt, now, r.due_at) if r.status == "open" else None,
        overdue=r.status == "open" and r.due_at is not None and r.due_at < now,
        can_act=r.status == "open" and can_act(viewer, r), status=r.status, completed_at=r.completed_at,
        completed_by=r.completed_by,
        late_unit=names.get(r.late_unit, r.late_unit) if r.late_unit else None,
        late_days=days_late(rt, r.completed_at, r.due_at) if r.status == "completed" else None,
        late_task=r.late_task_name, late_due_at=r.late_due_at,
        late_task_days=days_late(rt, seen_at, r.late_due_at) if r.status != "cancelled" else None,
        assignee_name=(people or {}).get(r.assignee) if r.assignee else None)
    row.reminder = reminder_due(rt, r.process_key, r.kind, r.status, r.due_at, now)
    row.referral = referral(rt, r.process_key, r.kind, r.status, r.late_repeat, row.late_task_days)
    return row


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")


def search_condition(business_key_col, title_col, text: str):
    """Match a business-key prefix or a title fragment (the search box of the inbox and the case list)."""
    pattern = _like_escape(text)
    return or_(business_key_col.like(pattern + "%", escape="\\"), title_col.like("%" + pattern + "%", escape="\\"))
