"""Read-side queries for the UI: inbox, history, task and instance detail, startable procedures.

Lists read the query tables (human tasks, instances) through their indexes and never deserialize a
workflow; only `instance_detail` loads one, to colour the diagram. A refused read is written to the
audit log (record_denial) before Forbidden is raised, like the write-side services do.
"""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from lxml import etree
from sqlalchemy import and_, func, or_, select, union_all
from sqlalchemy.orm import aliased

from runner.calendar import TZ, CalendarError, local_date
from runner.errors import DomainError, Forbidden, NotFound
from runner.models import (
    AuditEntry,
    HumanTask,
    InstanceUnit,
    ProcessDefinition,
    ProcessInstance,
    Timer,
    Unit,
    User,
)
from runner.passwords import hash_password, verify_password
from runner.runtime import Runtime, active_definition, spec_for
from runner.services import check_effective, may_start, record_denial

# Units that follow up on every instance (S3): they may read all of them.
READ_ALL_UNITS = frozenset({"supervision_office", "justice_bureau"})
STATUSES = ("unclaimed", "mine", "others", "overdue")


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


# -- lists ---------------------------------------------------------------------------------------
@dataclass
class InboxFilters:
    process_key: str = ""
    status: str = ""          # "" | unclaimed | mine | others | overdue
    due_from: date | None = None
    due_to: date | None = None
    q: str = ""
    page: int = 1
    per_page: int = 20


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


@dataclass
class Page:
    rows: list
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


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


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), TZ)


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
        conds.append(HumanTask.due_at > _local_midnight(filters.due_from))
    if filters.due_to:
        # a deadline is "on day D" when it falls after D 00:00 and no later than D 24:00
        conds.append(HumanTask.due_at <= _local_midnight(filters.due_to + timedelta(days=1)))
    q = filters.q.strip()
    if q:
        pattern = _like_escape(q)
        conds.append(or_(HumanTask.business_key.like(pattern + "%", escape="\\"),
                         HumanTask.title.like("%" + pattern + "%", escape="\\")))
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


def can_act(viewer: Viewer, row: HumanTask) -> bool:
    """Mirror of runner.services.can_act for a Viewer."""
    if row.assignee:
        return row.assignee == viewer.username
    if viewer.unit_code != row.unit_code or viewer.role != row.role:
        return False
    return row.field is None or row.field in viewer.fields


def days_left(rt: Runtime, now: datetime, due: datetime | None) -> int | None:
    """Working days from NOW's local date to DUE (negative when overdue), as WorkingCalendar.working_days_left
    counts them, but from a per-year table so that a page of long-overdue tasks stays fast."""
    if due is None:
        return None
    today = local_date(now)
    last_day = (due.astimezone(TZ) - timedelta(microseconds=1)).date()
    try:
        if last_day >= today:
            return _working_days_in(rt.calendar, today, last_day)
        return -_working_days_in(rt.calendar, last_day, today)
    except CalendarError:
        return None


_YEARS: dict[int, tuple[object, dict[int, list[int]]]] = {}


def _working_days_in(calendar, after: date, until: date) -> int:
    """How many working days D with AFTER < D <= UNTIL."""
    count = 0
    for year in range(after.year, until.year + 1):
        days = _working_ordinals(calendar, year)
        lo = bisect.bisect_right(days, after.toordinal())
        hi = bisect.bisect_right(days, until.toordinal())
        count += hi - lo
    return count


def _working_ordinals(calendar, year: int) -> list[int]:
    kept = _YEARS.get(id(calendar))
    if kept is None or kept[0] is not calendar:
        kept = _YEARS[id(calendar)] = (calendar, {})
    table = kept[1]
    if year not in table:
        first, last = date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal()
        table[year] = [d for d in range(first, last + 1) if calendar.is_working_day(date.fromordinal(d))]
    return table[year]


def _task_row(rt: Runtime, r: HumanTask, viewer: Viewer, names: dict[str, str], now: datetime) -> TaskRow:
    bundle = rt.bundle(r.process_key)
    return TaskRow(
        id=r.id, instance_id=r.instance_id, process_key=r.process_key,
        procedure=bundle.name if bundle else r.process_key, business_key=r.business_key, title=r.title,
        name=r.name, element_id=r.element_id, kind=r.kind, unit_code=r.unit_code,
        unit_name=names.get(r.unit_code, r.unit_code), role=r.role, assignee=r.assignee, due_at=r.due_at,
        days_left=days_left(rt, now, r.due_at) if r.status == "open" else None,
        overdue=r.status == "open" and r.due_at is not None and r.due_at < now,
        can_act=r.status == "open" and can_act(viewer, r), status=r.status, completed_at=r.completed_at,
        completed_by=r.completed_by,
        late_unit=names.get(r.late_unit, r.late_unit) if r.late_unit else None)


# -- access --------------------------------------------------------------------------------------
def may_read(viewer: Viewer, units: list[str] | None) -> bool:
    return viewer.reads_everything or viewer.unit_code in (units or [])


def _deny(rt: Runtime, viewer: Viewer, action: str, message: str, now: datetime,
          instance_id: int | None = None, task_id: str | None = None) -> Forbidden:
    record_denial(rt, viewer.username, action, message, now, instance_id, task_id)
    return Forbidden(message)


# -- one task ------------------------------------------------------------------------------------
@dataclass
class TaskDetail:
    row: TaskRow
    form_file: str | None
    schema: dict | None
    documentation: str
    clauses: list[tuple[str, str]]
    instance_title: str
    instance_status: str
    data: dict
    forms: dict[str, dict]
    readable: bool
    people: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)


def task_detail(rt: Runtime, viewer: Viewer, task_id: str, now: datetime, action: str = "view") -> TaskDetail:
    """The task with its form, clauses and the case data so far.

    Refused (403, audited) unless the viewer may act on the task; a task that is no longer open is
    refused too, so a replayed form never reaches the service."""
    with rt.session() as s:
        r = s.get(HumanTask, str(task_id)[:36])
        if r is None:
            raise NotFound("任务不存在")
        inst = s.get(ProcessInstance, r.instance_id)
        names = dict(s.execute(select(Unit.code, Unit.name)).all())
        readable = may_read(viewer, inst.units)
        if r.status != "open":
            raise _deny(rt, viewer, action, f"任务「{r.name}」已{_STATUS_WORDS.get(r.status, r.status)}，不能再办理",
                        now, r.instance_id, r.id)
        if not can_act(viewer, r):
            own_unit = r.assignee and r.unit_code == viewer.unit_code
            who = f"已由 {r.assignee} 签收" if own_unit else "不属于您的单位和角色"
            raise _deny(rt, viewer, action, f"{viewer.display_name} 无权办理任务「{r.name}」（{who}）",
                        now, r.instance_id, r.id)
        definition = inst.definition
        schema = definition.forms.get(r.form_file) if r.form_file else None
        people = dict(s.execute(select(User.username, User.display_name)
                                .where(User.username == inst.initiator)).all())
        return TaskDetail(
            row=_task_row(rt, r, viewer, names, now), form_file=r.form_file, schema=schema,
            documentation=r.documentation, clauses=clauses(rt, r.rules), instance_title=inst.title,
            instance_status=inst.status, data=dict(inst.data_summary or {}), forms=dict(definition.forms or {}),
            readable=readable, people=people, variables=variable_labels(rt, inst.process_key))


_STATUS_WORDS = {"completed": "办理完毕", "cancelled": "撤销"}


def variable_labels(rt: Runtime, process_key: str) -> dict[str, str]:
    """Process variable -> the name of the task whose form it holds (formDataVariable), for readable data."""
    bundle = rt.bundle(process_key)
    out: dict[str, str] = {}
    for spec in (bundle.spec.task_specs.values() if bundle else []):
        props = ((getattr(spec, "extensions", None) or {}).get("properties") or {})
        if props.get("formDataVariable") and getattr(spec, "bpmn_name", None):
            out.setdefault(props["formDataVariable"], spec.bpmn_name)
    return out


def clauses(rt: Runtime, rule_ids: list[str] | None) -> list[tuple[str, str, str]]:
    """(rule id, the original Chinese clause, the RULES.md restatement) for each cited rule."""
    return [(rid, rt.originals.get(rid, ""), rt.rules.get(rid, "（RULES.md 中没有该条）")) for rid in (rule_ids or [])]


# -- one instance --------------------------------------------------------------------------------
@dataclass
class InstanceDetail:
    id: int
    process_key: str
    procedure: str
    documentation: str
    business_key: str
    title: str
    status: str
    end_event: str | None
    initiator: str
    initiator_unit: str
    units: list[str]
    started_at: datetime
    ended_at: datetime | None
    bpmn_xml: str
    element_states: dict[str, str]
    tasks: list[TaskRow]
    timers: list[tuple[str, datetime, str]]
    audit: list[AuditEntry]
    data: dict
    forms: dict[str, dict]
    rules: dict[str, str]
    version: int
    people: dict[str, str]
    variables: dict[str, str]


def _readable_instance(rt: Runtime, s, viewer: Viewer, instance_id: int, now: datetime) -> ProcessInstance:
    """The instance, if VIEWER may read it: 404 when missing, 403 (audited) when not theirs."""
    inst = s.get(ProcessInstance, instance_id)
    if inst is None:
        raise NotFound("案件不存在")
    if not may_read(viewer, inst.units):
        raise _deny(rt, viewer, "view", f"{viewer.display_name} 无权查看案件 {inst.business_key}", now, inst.id)
    return inst


def instance_detail(rt: Runtime, viewer: Viewer, instance_id: int, now: datetime) -> InstanceDetail:
    """Everything the instance page shows; the only read that deserializes a workflow."""
    with rt.session() as s:
        inst = _readable_instance(rt, s, viewer, instance_id, now)
        definition: ProcessDefinition = inst.definition
        wf = rt.engine.load_state(inst.state_json, spec_for(rt, definition), inst.serializer_version)
        states = rt.engine.element_states(wf)
        names = dict(s.execute(select(Unit.code, Unit.name)).all())
        task_rows = list(s.scalars(select(HumanTask).where(HumanTask.instance_id == inst.id)
                                   .order_by(HumanTask.created_at, HumanTask.id)))
        for r in task_rows:
            if r.status == "open" and r.due_at is not None and r.due_at < now:
                states[r.element_id] = "overdue"
        timers = [(t.name, t.due_at, t.element_id) for t in s.scalars(
            select(Timer).where(Timer.instance_id == inst.id, Timer.status == "waiting").order_by(Timer.due_at))]
        audit = list(s.scalars(select(AuditEntry)
                               .where(AuditEntry.instance_id == inst.id, AuditEntry.action != "denied")
                               .order_by(AuditEntry.at, AuditEntry.id)))
        actors = {a.actor for a in audit} | {r.assignee for r in task_rows if r.assignee} | {inst.initiator}
        actors |= {r.completed_by for r in task_rows if r.completed_by}
        people = dict(s.execute(select(User.username, User.display_name)
                                .where(User.username.in_(sorted(actors)))).all())
        return InstanceDetail(
            id=inst.id, process_key=inst.process_key, procedure=definition.name,
            documentation=process_documentation(definition.bpmn_xml, inst.process_key), business_key=inst.business_key,
            title=inst.title,
            status=inst.status, end_event=inst.end_event, initiator=inst.initiator,
            initiator_unit=inst.initiator_unit, units=list(inst.units or []), started_at=inst.started_at,
            ended_at=inst.ended_at, bpmn_xml=definition.bpmn_xml, element_states=states,
            tasks=[_task_row(rt, r, viewer, names, now) for r in task_rows], timers=timers, audit=audit,
            data=dict(inst.data_summary or {}), forms=dict(definition.forms or {}),
            rules={rid: rt.originals.get(rid) or text for rid, text in rt.rules.items()},
            version=definition.version, people=people,
            variables=variable_labels(rt, inst.process_key))


def instance_summary(rt: Runtime, viewer: Viewer, instance_id: int, now: datetime) -> dict:
    """A JSON-friendly instance read without deserializing the workflow (for the API)."""
    with rt.session() as s:
        inst = _readable_instance(rt, s, viewer, instance_id, now)
        names = dict(s.execute(select(Unit.code, Unit.name)).all())
        tasks = [_task_row(rt, r, viewer, names, now) for r in s.scalars(
            select(HumanTask).where(HumanTask.instance_id == inst.id).order_by(HumanTask.created_at, HumanTask.id))]
        return {"id": inst.id, "process_key": inst.process_key, "procedure": inst.definition.name,
                "business_key": inst.business_key, "title": inst.title, "status": inst.status,
                "end_event": inst.end_event, "initiator": inst.initiator, "units": list(inst.units or []),
                "started_at": inst.started_at, "ended_at": inst.ended_at, "data": dict(inst.data_summary or {}),
                "tasks": tasks}


# -- instance lists ------------------------------------------------------------------------------
@dataclass
class CaseFilters:
    process_key: str = ""
    status: str = ""          # "" | running | completed
    q: str = ""
    page: int = 1
    per_page: int = 20


@dataclass
class CaseRow:
    id: int
    process_key: str
    procedure: str
    business_key: str
    title: str
    status: str
    initiator_unit: str
    started_at: datetime
    ended_at: datetime | None


_CASE_COLUMNS = (ProcessInstance.id, ProcessInstance.process_key, ProcessInstance.business_key, ProcessInstance.title,
                 ProcessInstance.status, ProcessInstance.initiator_unit, ProcessInstance.started_at,
                 ProcessInstance.ended_at)


def _participates(unit_code: str):
    return ProcessInstance.id.in_(select(InstanceUnit.instance_id).where(InstanceUnit.unit_code == unit_code))


def case_conditions(viewer: Viewer, filters: CaseFilters) -> list:
    conds = [] if viewer.reads_everything else [_participates(viewer.unit_code)]
    if filters.process_key:
        conds.append(ProcessInstance.process_key == filters.process_key)
    if filters.status in ("running", "completed"):
        conds.append(ProcessInstance.status == filters.status)
    q = filters.q.strip()
    if q:
        pattern = _like_escape(q)
        conds.append(or_(ProcessInstance.business_key.like(pattern + "%", escape="\\"),
                         ProcessInstance.title.like("%" + pattern + "%", escape="\\")))
    return conds


def cases(rt: Runtime, viewer: Viewer, filters: CaseFilters) -> Page:
    """Instances the viewer may read (all of them for the supervision office and the justice bureau)."""
    conds = case_conditions(viewer, filters)
    with rt.session() as s:
        total = s.scalar(select(func.count()).select_from(ProcessInstance).where(*conds)) or 0
        rows = s.execute(select(*_CASE_COLUMNS).where(*conds).order_by(ProcessInstance.id.desc())
                         .limit(filters.per_page).offset((max(filters.page, 1) - 1) * filters.per_page)).all()
    return Page([_case_row(rt, r) for r in rows], total, filters.page, filters.per_page)


def notified_cases(rt: Runtime, viewer: Viewer, limit: int = 5) -> list[CaseRow]:
    """Running instances other units started that the viewer's unit takes part in (e.g. a transfer it was
    notified of), newest first."""
    if viewer.reads_everything:
        return []
    conds = [_participates(viewer.unit_code), ProcessInstance.status == "running",
             ProcessInstance.initiator_unit != viewer.unit_code]
    with rt.session() as s:
        rows = s.execute(select(*_CASE_COLUMNS).where(*conds).order_by(ProcessInstance.id.desc()).limit(limit)).all()
    return [_case_row(rt, r) for r in rows]


def _case_row(rt: Runtime, r) -> CaseRow:
    bundle = rt.bundle(r.process_key)
    return CaseRow(r.id, r.process_key, bundle.name if bundle else r.process_key, r.business_key, r.title,
                   r.status, r.initiator_unit, r.started_at, r.ended_at)


def first_task_for(rt: Runtime, viewer: Viewer, instance_id: int) -> str | None:
    """The id of an open task of INSTANCE_ID the viewer may act on (where to go after starting)."""
    with rt.session() as s:
        for r in s.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                   HumanTask.status == "open").order_by(HumanTask.created_at)):
            if can_act(viewer, r):
                return r.id
    return None


# -- starting ------------------------------------------------------------------------------------
@dataclass
class Procedure:
    key: str
    name: str
    documentation: str
    effective_from: str | None
    effective_to: str | None
    version: int
    refusal: str | None       # why it cannot be started now (outside its window), else None
    start_form: str | None
    schema: dict | None = field(default=None)

    @property
    def expired(self) -> bool:
        return self.refusal is not None


def startable(rt: Runtime, viewer: Viewer, now: datetime) -> list[Procedure]:
    """Procedures the viewer's role and unit kind may start, each with its validity window."""
    out = []
    with rt.session() as s:
        user = s.scalars(select(User).where(User.username == viewer.username)).first()
        for key, bundle in sorted(rt.bundles.items()):
            definition = active_definition(s, key)
            if definition is None or user is None or not may_start(bundle, user):
                continue
            out.append(_procedure(bundle, definition, now))
    return out


def procedure(rt: Runtime, viewer: Viewer, key: str, now: datetime) -> Procedure:
    """One procedure with its start form; refused (403, audited) when the viewer may not start it."""
    with rt.session() as s:
        bundle = rt.bundle(key)
        definition = active_definition(s, key) if bundle else None
        if definition is None:
            raise NotFound(f"没有名为 {key} 的流程")
        user = s.scalars(select(User).where(User.username == viewer.username)).first()
        if user is None or not may_start(bundle, user):
            raise _deny(rt, viewer, "start", f"{viewer.display_name} 无权发起「{bundle.name}」", now)
        return _procedure(bundle, definition, now)


def _procedure(bundle, definition: ProcessDefinition, now: datetime) -> Procedure:
    try:
        check_effective(definition, now)
        refusal = None
    except DomainError as exc:
        refusal = exc.message
    schema = definition.forms.get(bundle.start_form) if bundle.start_form else None
    summary = (schema or {}).get("description") or process_documentation(definition.bpmn_xml, bundle.process_key)
    return Procedure(bundle.process_key, definition.name, summary, definition.effective_from,
                     definition.effective_to, definition.version, refusal, bundle.start_form, schema)


@functools.lru_cache(maxsize=64)
def process_documentation(xml: str, process_key: str) -> str:
    """The <documentation> of the process element (ProcessBundle.documentation does not carry it)."""
    try:
        root = etree.fromstring(xml.encode("utf-8"))
    except etree.XMLSyntaxError:
        return ""
    docs = root.xpath("//bpmn:process[@id=$key]/bpmn:documentation/text()", key=process_key,
                      namespaces={"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"})
    return " ".join(d.strip() for d in docs if d.strip())


def procedure_names(rt: Runtime) -> list[tuple[str, str]]:
    return [(key, bundle.name) for key, bundle in sorted(rt.bundles.items())]
