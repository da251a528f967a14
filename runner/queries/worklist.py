"""The inbox (open tasks the viewer may see, with the user's filters) and the history of completed tasks.

Both read the human task table through its indexes and never deserialize a workflow.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, func, literal, select, union_all

from runner.access import is_head, oversees_sql, worklist_branches
from runner.calendar import TZ
from runner.models import HumanTask, Unit, User
from runner.queries.directory import cached_unit_names
from runner.queries.rows import COUNT_CAP, Page, _task_row, people_names, search_condition
from runner.queries.viewer import Viewer, _deny
from runner.runtime import Runtime

STATUSES = ("unclaimed", "mine", "others", "overdue")
SCOPES = ("unit",)  # besides the default, the viewer's own inbox: a unit head's view of the unit's open tasks


@dataclass
class InboxFilters:
    process_key: str = ""
    status: str = ""          # "" | unclaimed | mine | others | overdue
    due_from: date | None = None
    due_to: date | None = None
    q: str = ""
    page: int = 1
    per_page: int = 20
    scope: str = ""           # "" (own inbox) | unit (a unit head: every open task of the unit)


def _branches(viewer: Viewer) -> tuple[list, list]:
    """The two ways a task reaches the viewer's own inbox (runner.access.worklist_branches)."""
    return worklist_branches(viewer)


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


# What a page row reads (every column but the long ones: documentation, cited rules, form file), fetched as
# plain rows for the twenty ids of a page: no ORM objects, and the union below stays narrow.
_ROW_COLUMNS = [c for c in HumanTask.__table__.c if c.key not in ("documentation", "rules", "form_file")]


def _inbox_union(viewer: Viewer, filters: InboxFilters, now: datetime, first: int | None = None,
                 columns: tuple = (HumanTask.id,)):
    """The viewer's open tasks as one subquery of COLUMNS. FIRST: only the first FIRST of each branch in the
    inbox's order, so each branch is a short ordered scan of the open-task index instead of a sort of all of
    them. Narrow columns keep both the SQL and the building of the statement cheap (an ORM entity through a
    union and an alias costs milliseconds of Python per page)."""
    chosen = inbox_conditions(viewer, filters, now)
    if filters.scope == "unit":
        branches = [select(*columns).where(*oversees_sql(viewer), *chosen)]
    else:
        by_role, mine = _branches(viewer)
        branches = [select(*columns).where(*by_role, *chosen), select(*columns).where(*mine, *chosen)]
    if first is not None:  # (each in a subquery of its own: SQLite refuses ORDER BY/LIMIT inside a UNION)
        branches = [select(b.order_by(*_order(HumanTask)).limit(first).subquery()) for b in branches]
    if len(branches) == 1:
        return branches[0].subquery()
    return union_all(*branches).subquery()


def _order(rows) -> tuple:
    return rows.due_at.asc().nulls_last(), rows.created_at, rows.id


_KEY = (HumanTask.id, HumanTask.due_at, HumanTask.created_at)


def inbox_statement(viewer: Viewer, filters: InboxFilters, now: datetime):
    """The ids of the inbox page's tasks, in order (exposed for the benchmark's EXPLAIN)."""
    offset = (max(filters.page, 1) - 1) * filters.per_page
    keys = _inbox_union(viewer, filters, now, first=offset + filters.per_page, columns=_KEY)
    return select(keys.c.id).order_by(*_order(keys.c)).limit(filters.per_page).offset(offset)


def inbox_count_statement(viewer: Viewer, filters: InboxFilters, now: datetime):
    """The inbox's count, stopping at COUNT_CAP + 1 (shown as "1000+"): the partial index of open tasks
    answers it without reading every open task of a busy unit."""
    rows = select(literal(1)).select_from(_inbox_union(viewer, filters, now)).limit(COUNT_CAP + 1).subquery()
    return select(func.count()).select_from(rows)


def inbox_page_statement(viewer: Viewer, filters: InboxFilters, now: datetime):
    """The page's rows (plain rows with a task's attributes, not ORM objects) in one round trip: the ids of
    inbox_statement joined back to the task table by primary key."""
    ids = inbox_statement(viewer, filters, now).subquery()
    return (select(*_ROW_COLUMNS).join(ids, ids.c.id == HumanTask.id)
            .order_by(*_order(HumanTask)))


# Built statements by (viewer, filters): building the union costs more Python than running it, and an officer
# reads the same inbox again and again. Only the "overdue" filter reads NOW, so only it keys on NOW. Bounded:
# emptied when full. Statements are immutable once built and safe to share between threads.
_STATEMENTS: dict[tuple, tuple] = {}
_STATEMENTS_MAX = 2048


def _statements(viewer: Viewer, filters: InboxFilters, now: datetime) -> tuple:
    """(count statement, page statement) for VIEWER and FILTERS at NOW, built once."""
    key = (viewer.username, viewer.unit_code, viewer.role, tuple(viewer.fields), astuple(filters),
           now if filters.status == "overdue" else None)
    got = _STATEMENTS.get(key)
    if got is None:
        got = (inbox_count_statement(viewer, filters, now), inbox_page_statement(viewer, filters, now))
        if len(_STATEMENTS) >= _STATEMENTS_MAX:
            _STATEMENTS.clear()
        _STATEMENTS[key] = got
    return got


def inbox(rt: Runtime, viewer: Viewer, filters: InboxFilters, now: datetime) -> Page:
    """One page of the viewer's open tasks, earliest deadline first (a unit head's scope=unit: the unit's)."""
    _check_scope(rt, viewer, filters, now)
    count_statement, page_statement = _statements(viewer, filters, now)
    with rt.session() as s:
        total = s.scalar(count_statement) or 0
        capped = total > COUNT_CAP
        rows = list(s.execute(page_statement))
        names = cached_unit_names(rt, s)
        people = people_names(s, (r.assignee for r in rows))
    return Page([_task_row(rt, r, viewer, names, now, people) for r in rows], total, filters.page, filters.per_page,
                capped)


def _check_scope(rt: Runtime, viewer: Viewer, filters: InboxFilters, now: datetime) -> None:
    if filters.scope == "unit" and not is_head(viewer):
        raise _deny(rt, viewer, "view", f"{viewer.display_name} 无权查看本单位全部待办（仅限单位负责人）", now)


@dataclass
class UnitWork:
    """A unit head's view: one page of the unit's open tasks, how many of all of them are late, and the
    display names of the people holding the tasks on the page."""

    page: Page
    overdue: int
    people: dict[str, str]


def unit_work(rt: Runtime, viewer: Viewer, filters: InboxFilters, now: datetime) -> UnitWork:
    """The unit's open tasks for its head (refused, audited, for anyone else)."""
    page = inbox(rt, viewer, replace(filters, scope="unit"), now)
    with rt.session() as s:
        overdue = s.scalar(select(func.count()).select_from(HumanTask)
                           .where(*oversees_sql(viewer), HumanTask.due_at < now)) or 0
        holders = sorted({r.assignee for r in page.rows if r.assignee})
        people = dict(s.execute(select(User.username, User.display_name).where(User.username.in_(holders))).all())
    return UnitWork(page, overdue, people)


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
