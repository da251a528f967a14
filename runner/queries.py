"""Read-side queries for the UI: inbox, history, task and instance detail, startable procedures.

Lists read the query tables (human tasks, instances) through their indexes and never deserialize a
workflow; only `instance_detail` loads one, to colour the diagram. A refused read is written to the
audit log (record_denial) before Forbidden is raised, like the write-side services do.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, func, or_, select

from runner.calendar import TZ, CalendarError
from runner.errors import DomainError, Forbidden, NotFound
from runner.models import AuditEntry, HumanTask, ProcessDefinition, ProcessInstance, Timer, Unit, User
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
        return dict(s.execute(select(Unit.code, Unit.name).order_by(Unit.code)).tuples().all())


def units_by_kind(rt: Runtime) -> list[tuple[str, str, str]]:
    """(code, name, kind) of every unit, for unit pickers."""
    with rt.session() as s:
        return list(s.execute(select(Unit.code, Unit.name, Unit.kind)).tuples().all())


def colleagues(rt: Runtime, viewer: Viewer) -> list[tuple[str, str]]:
    """(username, display name) of the other active users of the viewer's unit."""
    with rt.session() as s:
        rows = s.execute(select(User.username, User.display_name)
                         .where(User.unit_code == viewer.unit_code, User.active.is_(True),
                                User.username != viewer.username).order_by(User.username))
        return list(rows.tuples().all())


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


def _visible(viewer: Viewer):
    """Open tasks for the viewer's unit and role (and fields), plus tasks assigned or delegated to them.

    Each branch repeats status='open' so that each can use its own index (inbox / assignee)."""
    role_match = and_(HumanTask.status == "open", HumanTask.unit_code == viewer.unit_code,
                      HumanTask.role == viewer.role,
                      or_(HumanTask.field.is_(None), HumanTask.field.in_(viewer.fields or ("",))))
    mine = and_(HumanTask.status == "open", HumanTask.assignee == viewer.username)
    return or_(role_match, mine)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), TZ)


def inbox_conditions(viewer: Viewer, filters: InboxFilters, now: datetime) -> list:
    conds = [_visible(viewer)]
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


def inbox_statement(viewer: Viewer, filters: InboxFilters, now: datetime):
    """The inbox page's SELECT (exposed for the benchmark's EXPLAIN)."""
    offset = (max(filters.page, 1) - 1) * filters.per_page
    return (select(HumanTask).where(*inbox_conditions(viewer, filters, now))
            .order_by(HumanTask.due_at.asc().nulls_last(), HumanTask.created_at, HumanTask.id)
            .limit(filters.per_page).offset(offset))


def inbox(rt: Runtime, viewer: Viewer, filters: InboxFilters, now: datetime) -> Page:
    """One page of the viewer's open tasks, earliest deadline first."""
    with rt.session() as s:
        total = s.scalar(select(func.count()).select_from(HumanTask)
                         .where(*inbox_conditions(viewer, filters, now))) or 0
        rows = list(s.scalars(inbox_statement(viewer, filters, now)))
        names = dict(s.execute(select(Unit.code, Unit.name)).tuples().all())
    return Page([_task_row(rt, r, viewer, names, now) for r in rows], total, filters.page, filters.per_page)


def history(rt: Runtime, viewer: Viewer, page: int, per_page: int, now: datetime) -> Page:
    """Tasks the viewer completed, most recent first."""
    with rt.session() as s:
        where = HumanTask.completed_by == viewer.username
        total = s.scalar(select(func.count()).select_from(HumanTask).where(where)) or 0
        rows = list(s.scalars(select(HumanTask).where(where)
                              .order_by(HumanTask.completed_at.desc(), HumanTask.id)
                              .limit(per_page).offset((max(page, 1) - 1) * per_page)))
        names = dict(s.execute(select(Unit.code, Unit.name)).tuples().all())
    return Page([_task_row(rt, r, viewer, names, now) for r in rows], total, page, per_page)


def can_act(viewer: Viewer, row: HumanTask) -> bool:
    """Mirror of runner.services.can_act for a Viewer."""
    if row.assignee:
        return row.assignee == viewer.username
    if viewer.unit_code != row.unit_code or viewer.role != row.role:
        return False
    return row.field is None or row.field in viewer.fields


def days_left(rt: Runtime, now: datetime, due: datetime | None) -> int | None:
    if due is None:
        return None
    try:
        return rt.calendar.working_days_left(now, due)
    except CalendarError:
        return None


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
    labels: dict[str, str]
    readable: bool


def task_detail(rt: Runtime, viewer: Viewer, task_id: str, now: datetime, action: str = "view") -> TaskDetail:
    """The task with its form, clauses and the case data so far.

    Refused (403, audited) unless the viewer may act on the task; a task that is no longer open is
    refused too, so a replayed form never reaches the service."""
    with rt.session() as s:
        r = s.get(HumanTask, str(task_id)[:36])
        if r is None:
            raise NotFound("任务不存在")
        inst = s.get(ProcessInstance, r.instance_id)
        names = dict(s.execute(select(Unit.code, Unit.name)).tuples().all())
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
        return TaskDetail(
            row=_task_row(rt, r, viewer, names, now), form_file=r.form_file, schema=schema,
            documentation=r.documentation, clauses=clauses(rt, r.rules), instance_title=inst.title,
            instance_status=inst.status, data=dict(inst.data_summary or {}), labels=field_labels(definition.forms),
            readable=readable)


_STATUS_WORDS = {"completed": "办理完毕", "cancelled": "撤销"}


def clauses(rt: Runtime, rule_ids: list[str] | None) -> list[tuple[str, str]]:
    return [(rid, rt.rules.get(rid, "（RULES.md 中没有该条）")) for rid in (rule_ids or [])]


def field_labels(forms: dict[str, dict]) -> dict[str, str]:
    """Property name -> Chinese title, gathered from every form of a definition."""
    labels: dict[str, str] = {}

    def walk(schema):
        if not isinstance(schema, dict):
            return
        for name, prop in (schema.get("properties") or {}).items():
            if isinstance(prop, dict) and prop.get("title"):
                labels.setdefault(name, prop["title"])
            walk(prop)
        for key in ("items", "if", "then", "else"):
            walk(schema.get(key))
        for key in ("allOf", "anyOf", "oneOf"):
            for sub in schema.get(key) or []:
                walk(sub)

    for schema in forms.values():
        walk(schema)
    return labels


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
    labels: dict[str, str]
    rules: dict[str, str]
    version: int


def instance_detail(rt: Runtime, viewer: Viewer, instance_id: int, now: datetime) -> InstanceDetail:
    """Everything the instance page shows; the only read that deserializes a workflow."""
    with rt.session() as s:
        inst = s.get(ProcessInstance, instance_id)
        if inst is None:
            raise NotFound("案件不存在")
        if not may_read(viewer, inst.units):
            raise _deny(rt, viewer, "view", f"{viewer.display_name} 无权查看案件 {inst.business_key}", now, inst.id)
        definition: ProcessDefinition = inst.definition
        wf = rt.engine.load_state(inst.state_json, spec_for(rt, definition), inst.serializer_version)
        states = rt.engine.element_states(wf)
        names = dict(s.execute(select(Unit.code, Unit.name)).tuples().all())
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
        bundle = rt.bundle(inst.process_key)
        return InstanceDetail(
            id=inst.id, process_key=inst.process_key, procedure=definition.name,
            documentation=bundle.documentation if bundle else "", business_key=inst.business_key, title=inst.title,
            status=inst.status, end_event=inst.end_event, initiator=inst.initiator,
            initiator_unit=inst.initiator_unit, units=list(inst.units or []), started_at=inst.started_at,
            ended_at=inst.ended_at, bpmn_xml=definition.bpmn_xml, element_states=states,
            tasks=[_task_row(rt, r, viewer, names, now) for r in task_rows], timers=timers, audit=audit,
            data=dict(inst.data_summary or {}), labels=field_labels(definition.forms),
            rules=dict(rt.rules), version=definition.version)


def instance_summary(rt: Runtime, viewer: Viewer, instance_id: int, now: datetime) -> dict:
    """A JSON-friendly instance read without deserializing the workflow (for the API)."""
    with rt.session() as s:
        inst = s.get(ProcessInstance, instance_id)
        if inst is None:
            raise NotFound("案件不存在")
        if not may_read(viewer, inst.units):
            raise _deny(rt, viewer, "view", f"{viewer.display_name} 无权查看案件 {inst.business_key}", now, inst.id)
        names = dict(s.execute(select(Unit.code, Unit.name)).tuples().all())
        tasks = [_task_row(rt, r, viewer, names, now) for r in s.scalars(
            select(HumanTask).where(HumanTask.instance_id == inst.id).order_by(HumanTask.created_at, HumanTask.id))]
        return {"id": inst.id, "process_key": inst.process_key, "procedure": inst.definition.name,
                "business_key": inst.business_key, "title": inst.title, "status": inst.status,
                "end_event": inst.end_event, "initiator": inst.initiator, "units": list(inst.units or []),
                "started_at": inst.started_at, "ended_at": inst.ended_at, "data": dict(inst.data_summary or {}),
                "tasks": tasks}


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
    return Procedure(bundle.process_key, definition.name, bundle.documentation, definition.effective_from,
                     definition.effective_to, definition.version, refusal, bundle.start_form, schema)


def procedure_names(rt: Runtime) -> list[tuple[str, str]]:
    return [(key, bundle.name) for key, bundle in sorted(rt.bundles.items())]
