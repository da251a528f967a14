"""Instances: the instance page (the only read that deserializes a workflow), its JSON summary,
the case list, the cases the viewer's unit was notified of, and where to go after starting one."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select

from runner.access import can_act, may_read, may_read_sql
from runner.catalogue import audit_answer_read
from runner.errors import NotFound
from runner.models import AuditEntry, HumanTask, InstanceUnit, ProcessDefinition, ProcessInstance, Timer, Unit, User
from runner.names import element_names, field_labels, readable, timer_texts
from runner.queries.dashboard import matter_conditions
from runner.queries.rows import Page, TaskRow, _task_row, capped_count, people_names, search_condition
from runner.queries.start import process_documentation
from runner.queries.tasks import data_labels
from runner.queries.viewer import Viewer, _deny
from runner.queries.workdays import days_late
from runner.runtime import Runtime, spec_for

NOT_YOURS = "您无权查看该案件"


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
    variables: dict[str, dict]
    history: dict[int, str] = field(default_factory=dict)  # audit entry id -> its text with names, not codes
    timer_texts: dict[str, str] = field(default_factory=dict)  # timer event id -> when it fires, in Chinese
    late: dict[str, int] = field(default_factory=dict)  # element id -> working days its task was completed late


def _readable_instance(rt: Runtime, s, viewer: Viewer, instance_id: int, now: datetime) -> ProcessInstance:
    """The instance, if VIEWER may read it: 404 when missing, 403 (audited) when not theirs."""
    inst = s.get(ProcessInstance, instance_id)
    if inst is None:
        raise NotFound("案件不存在")
    if not may_read(viewer, inst.units):
        # never name a case to someone who may not read it: the audit row keeps its id for the record
        raise _deny(rt, viewer, "view", NOT_YOURS, now, inst.id)
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
        late = _late_completions(rt, task_rows)
        for element_id in late:
            if states.get(element_id) == "completed":  # a step under way again shows that, not its past
                states[element_id] = "late"
        timers = [(t.name, t.due_at, t.element_id) for t in s.scalars(
            select(Timer).where(Timer.instance_id == inst.id, Timer.status == "waiting").order_by(Timer.due_at))]
        audit = list(s.scalars(select(AuditEntry)
                               .where(AuditEntry.instance_id == inst.id, AuditEntry.action != "denied")
                               .order_by(AuditEntry.at, AuditEntry.id)))
        actors = {a.actor for a in audit} | {r.assignee for r in task_rows if r.assignee} | {inst.initiator}
        actors |= {r.completed_by for r in task_rows if r.completed_by}
        people = dict(s.execute(select(User.username, User.display_name)
                                .where(User.username.in_(sorted(actors)))).all())
        holders = people_names(s, (r.assignee for r in task_rows))
        forms, variables = data_labels(rt, rt.bundle_for(definition), dict(definition.forms or {}))
        history = _history_texts(s, audit, names, element_names(definition.bpmn_xml))
        detail = InstanceDetail(
            id=inst.id, process_key=inst.process_key, procedure=definition.name,
            documentation=process_documentation(definition.bpmn_xml, inst.process_key), business_key=inst.business_key,
            title=inst.title,
            status=inst.status, end_event=inst.end_event, initiator=inst.initiator,
            initiator_unit=inst.initiator_unit, units=list(inst.units or []), started_at=inst.started_at,
            ended_at=inst.ended_at, bpmn_xml=definition.bpmn_xml, element_states=states,
            tasks=[_task_row(rt, r, viewer, names, now, holders) for r in task_rows], timers=timers, audit=audit,
            data=dict(inst.data_summary or {}), forms=forms,
            rules={rid: rt.originals.get(rid) or text for rid, text in rt.rules.items()},
            version=definition.version, people=people,
            variables=variables, history=history,
            timer_texts=timer_texts(definition.bpmn_xml, field_labels(definition.forms or {}), rt.engine.config),
            late=late)
    audit_answer_read(rt, viewer, detail.process_key, detail.id, detail.data, now)  # after our read closed
    return detail


def _late_completions(rt: Runtime, task_rows: list[HumanTask]) -> dict[str, int]:
    """Element id -> the most working days by which one of its tasks was completed after its deadline."""
    late: dict[str, int] = {}
    for r in task_rows:
        days = days_late(rt, r.completed_at, r.due_at) if r.status == "completed" else None
        if days is not None:
            late[r.element_id] = max(days, late.get(r.element_id, 0))
    return late


def _history_texts(s, audit: list[AuditEntry], units: dict[str, str], elements: dict[str, str]) -> dict[int, str]:
    """Each audit row's text with unit codes, element ids and user names replaced by the names people know
    (older rows were written with codes)."""
    words = set()
    for a in audit:
        words |= set(re.findall(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*", a.detail or ""))
    users = {u: f"{name}（{units.get(unit, unit)}）" for u, name, unit in s.execute(
        select(User.username, User.display_name, User.unit_code).where(User.username.in_(sorted(words)))).all()}
    names = {**elements, **units, **users}
    return {a.id: readable(a.detail or "", names) for a in audit}


def instance_summary(rt: Runtime, viewer: Viewer, instance_id: int, now: datetime) -> dict:
    """A JSON-friendly instance read without deserializing the workflow (for the API)."""
    with rt.session() as s:
        inst = _readable_instance(rt, s, viewer, instance_id, now)
        names = dict(s.execute(select(Unit.code, Unit.name)).all())
        tasks = [_task_row(rt, r, viewer, names, now) for r in s.scalars(
            select(HumanTask).where(HumanTask.instance_id == inst.id).order_by(HumanTask.created_at, HumanTask.id))]
        out = {"id": inst.id, "process_key": inst.process_key, "procedure": inst.definition.name,
               "business_key": inst.business_key, "title": inst.title, "status": inst.status,
               "end_event": inst.end_event, "initiator": inst.initiator, "units": list(inst.units or []),
               "started_at": inst.started_at, "ended_at": inst.ended_at, "data": dict(inst.data_summary or {}),
               "tasks": tasks}
    audit_answer_read(rt, viewer, out["process_key"], out["id"], out["data"], now)
    return out


@dataclass
class CaseFilters:
    process_key: str = ""
    status: str = ""          # "" | running | completed
    q: str = ""
    page: int = 1
    per_page: int = 20
    # drill-down from the dashboard (runner.queries.dashboard): a measure in a quarter, for a unit
    unit: str = ""
    show: str = ""            # one of dashboard.MEASURES
    period: object = None     # dashboard.Period, when show or a quarter is asked for


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
    steps: list[tuple[str, str]] = field(default_factory=list)  # (current step, unit it waits on)


_CASE_COLUMNS = (ProcessInstance.id, ProcessInstance.process_key, ProcessInstance.business_key, ProcessInstance.title,
                 ProcessInstance.status, ProcessInstance.initiator_unit, ProcessInstance.started_at,
                 ProcessInstance.ended_at)


def _participates(unit_code: str):
    return ProcessInstance.id.in_(select(InstanceUnit.instance_id).where(InstanceUnit.unit_code == unit_code))


def case_conditions(viewer: Viewer, filters: CaseFilters) -> list:
    conds = may_read_sql(viewer)
    if filters.process_key:
        conds.append(ProcessInstance.process_key == filters.process_key)
    if filters.status in ("running", "completed"):
        conds.append(ProcessInstance.status == filters.status)
    q = filters.q.strip()
    if q:
        conds.append(search_condition(ProcessInstance.business_key, ProcessInstance.title, q))
    if filters.show and filters.period is not None:
        conds += matter_conditions(filters.show, filters.period, filters.unit or None)
    else:
        if filters.unit:
            conds.append(_participates(filters.unit))
        if filters.period is not None:  # a quarter alone: the matters under way at some time in it
            conds += [ProcessInstance.started_at < filters.period.as_of,
                      or_(ProcessInstance.ended_at.is_(None), ProcessInstance.ended_at >= filters.period.start)]
    return conds


def cases(rt: Runtime, viewer: Viewer, filters: CaseFilters) -> Page:
    """Instances the viewer may read (all of them for the supervision office and the justice bureau)."""
    conds = case_conditions(viewer, filters)
    with rt.session() as s:
        # counted up to COUNT_CAP + 1 ("1000+"): through the instance_units index, never a scan of all cases
        total, capped = capped_count(s, select(ProcessInstance.id).where(*conds))
        rows = s.execute(select(*_CASE_COLUMNS).where(*conds).order_by(ProcessInstance.id.desc())
                         .limit(filters.per_page).offset((max(filters.page, 1) - 1) * filters.per_page)).all()
        steps = _current_steps(s, [r.id for r in rows])
    return Page([_case_row(rt, r, steps.get(r.id, [])) for r in rows], total, filters.page, filters.per_page,
                capped)


def _current_steps(s, instance_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    """Instance id -> its open tasks as (step name, unit code), oldest first: where each case waits."""
    out: dict[int, list[tuple[str, str]]] = {}
    if not instance_ids:
        return out
    for iid, name, unit in s.execute(
            select(HumanTask.instance_id, HumanTask.name, HumanTask.unit_code)
            .where(HumanTask.instance_id.in_(instance_ids), HumanTask.status == "open")
            .order_by(HumanTask.created_at, HumanTask.id)).all():
        if (name, unit) not in out.setdefault(iid, []):
            out[iid].append((name, unit))
    return out


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


def _case_row(rt: Runtime, r, steps: list[tuple[str, str]] | None = None) -> CaseRow:
    bundle = rt.bundle(r.process_key)
    return CaseRow(r.id, r.process_key, bundle.name if bundle else r.process_key, r.business_key, r.title,
                   r.status, r.initiator_unit, r.started_at, r.ended_at, list(steps or []))


def first_task_for(rt: Runtime, viewer: Viewer, instance_id: int) -> str | None:
    """The id of an open task of INSTANCE_ID the viewer may act on (where to go after starting)."""
    with rt.session() as s:
        for r in s.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                   HumanTask.status == "open").order_by(HumanTask.created_at)):
            if can_act(viewer, r):
                return r.id
    return None
