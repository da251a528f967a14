"""Keep the query tables (human tasks, timers, instance summary) in step with a workflow's state.

Called inside the action's transaction, so the inbox never needs to deserialize a workflow.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from runner.engine import rule_ids
from runner.errors import Invalid
from runner.holidays import note_deadline_bases
from runner.models import AuditEntry, HumanTask, InstanceUnit, ProcessInstance, Timer, Unit
from runner.names import element_names
from runner.notices import record_notices
from runner.org import FIELDS, ROLES
from runner.runtime import Runtime

SYSTEM = "system"


def sync_instance(rt: Runtime, s: Session, inst: ProcessInstance, wf, now: datetime,
                  data: dict | None = None, new: bool = False) -> list[HumanTask]:
    """Write WF's state into INST and its task/timer rows; return the human tasks opened by this step.

    DATA: the workflow's merged data, when the caller built it already (it costs a walk of every task).
    NEW: the instance was created in this transaction (none of its units has an instance_units row yet);
    otherwise its stored units list is exactly what instance_units holds (both are written only here).
    Every read comes before the instance's columns change, so autoflush never writes the instance half-way:
    it is updated once, at the commit, and its version goes up by one per action."""
    engine = rt.engine
    timers = engine.waiting_timers(wf)
    opened = _sync_human_tasks(rt, s, inst, wf, timers, now, new)
    _sync_timers(s, inst, timers, new)
    data = engine.data(wf) if data is None else data
    units = set(inst.units or []) | {inst.initiator_unit}
    units |= {row.unit_code for row in opened}
    units |= _units_in(data, set(rt.unit_kinds(s)))
    recorded = set() if new else set(inst.units or [])
    ended = engine.is_completed(wf) and inst.status == "running"  # withdrawn/closed are ended by lifecycle
    title = str(data.get("title") or inst.title or "")[:255]
    if title != inst.title:
        inst.title = title  # the notices below read it (rare: a step that renames the case)
    for code in sorted(units - recorded):
        s.add(InstanceUnit(instance_id=inst.id, unit_code=code))
    if ended:
        end_names = _names_of(rt, s, inst, engine.reached_end_events(wf))
        s.add(AuditEntry(at=now, actor=SYSTEM, action="end", instance_id=inst.id,
                         element_id=engine.outcome(wf), detail="流程结束：" + "、".join(end_names)))
    note_deadline_bases(rt.calendar, s, inst, now)  # how its working-day deadlines were counted (holidays)
    record_notices(rt, s, inst, wf, opened, now)  # the outcomes this step tells, in the same transaction
    # The case's own columns last, after every read of this step: its UPDATE goes out once, at the commit,
    # with its version up by one and its audit chain's head (runner/audit.py) in the same statement.
    with s.no_autoflush:
        inst.state_json, inst.serializer_version = engine.dump_state(wf)
        inst.data_summary = _jsonable(data)
        if sorted(units) != list(inst.units or []):
            inst.units = sorted(units)
        if ended:
            inst.status = "completed"
            inst.ended_at = now
            inst.end_event = engine.outcome(wf)
            inst.end_events = engine.reached_end_events(wf)
    return opened


def _sync_human_tasks(rt, s, inst, wf, timers, now, new: bool = False) -> list[HumanTask]:
    engine = rt.engine
    ready = {t.id: t for t in engine.ready_user_tasks(wf)}
    # Not flushed first (a flush costs more than the read): a row this action completed still reads "open"
    # from the database, and is told apart by its status in memory.
    with s.no_autoflush:  # a case made in this transaction has no rows yet: nothing to read
        open_rows = {} if new else {row.id: row for row in s.scalars(
            select(HumanTask).where(HumanTask.instance_id == inst.id, HumanTask.status == "open"))
            if row.status == "open"}
    for task_id, row in open_rows.items():
        if task_id not in ready:
            row.status = "cancelled"
    opened = []
    for task_id, task in ready.items():
        if task_id in open_rows:
            continue
        props = task.properties
        if "unit" not in props or "role" not in props:
            raise Invalid(f"流程图错误：任务 {task.element_id} 未指定办理单位或角色（unit/role）")
        unit = engine.evaluate(wf, task_id, props["unit"], now)
        field = engine.evaluate(wf, task_id, props["field"], now) if props.get("field") else None
        _require_staff(rt, s, task.name, str(unit), props["role"], field)
        late_unit = engine.evaluate(wf, task_id, props["lateUnit"], now) if props.get("lateUnit") else None
        due = None
        if props.get("due"):
            due = datetime.fromisoformat(engine.evaluate(wf, task_id, props["due"], now))
        else:
            attached = [t.due_at for t in timers if task_id in t.host_task_ids]
            due = min(attached) if attached else None
        kind = props.get("taskKind", "task")
        row = HumanTask(
            id=task_id, instance_id=inst.id, process_key=inst.process_key, business_key=inst.business_key,
            title=inst.title, element_id=task.element_id, name=task.name, kind=kind, unit_code=str(unit),
            role=props["role"], field=str(field) if field else None, assignee=None,
            form_file=props.get("formJsonSchemaFilename"), rules=rule_ids(task.documentation),
            documentation=task.documentation, late_unit=str(late_unit) if late_unit else None, due_at=due,
            status="open", created_at=now)
        s.add(row)
        opened.append(row)
        if kind == "supervision":
            s.add(AuditEntry(at=now, actor=SYSTEM, action="escalate", instance_id=inst.id, task_id=task_id,
                             element_id=task.element_id,
                             detail=f"督办：{task.name}"
                             + (f"（逾期单位：{_unit_name(s, late_unit)}）" if late_unit else "")))
    for row in opened:  # after every row of this step exists: a late task may open in the same step
        if row.kind == "supervision":
            _record_late_task(rt, s, inst, row, ready[row.id].properties.get("lateTask", ""))
    return opened


def _record_late_task(rt: Runtime, s: Session, inst: ProcessInstance, row: HumanTask, late_elements: str) -> None:
    """Note on supervision task ROW which task of the late unit missed its deadline (the diagram's lateTask
    names the candidate elements), so the 督办 can say what was late, by when, and how long ago."""
    elements = [e.strip() for e in late_elements.split(",") if e.strip()]
    if not elements:
        return
    candidates = list(s.scalars(select(HumanTask).where(
        HumanTask.instance_id == inst.id, HumanTask.element_id.in_(elements), HumanTask.kind != "supervision")))
    own = [r for r in candidates if r.unit_code == row.late_unit] or candidates
    # the open one that is late, else the latest one of that unit
    own.sort(key=lambda r: (r.status == "open", r.due_at is not None, r.created_at))
    if own:
        row.late_task_name, row.late_due_at = own[-1].name, own[-1].due_at
    else:
        row.late_task_name = _element_names(rt, inst).get(elements[0], "")


class Unstaffed(Invalid):
    """A step would hand a task to a unit and role that no active account holds; an administrator is told."""


def _require_staff(rt: Runtime, s: Session, task_name: str, unit: str, role: str, field) -> None:
    """Refuse a step that hands a task to nobody: no active account of UNIT and ROLE (and FIELD for leaders).
    Read from the runtime's cached roster (Runtime.staff); a refusal reads the database again, so a stale
    roster can only let a step through that an account change of the last seconds would have refused."""
    def staffed(roster) -> bool:
        return any(field is None or str(field) in fields for fields in roster.get((unit, role), ()))

    if staffed(rt.staff(s)) or staffed(rt.staff(s, fresh=True)):
        return
    unit_name = s.scalar(select(Unit.name).where(Unit.code == unit)) or "未登记的单位"
    field_text = f"（{FIELDS.get(str(field), '未登记的领域')}）" if field else ""
    raise Unstaffed(f"无法交办「{task_name}」：{unit_name}没有在岗的{ROLES.get(role, '相应')}{field_text}账号。"
                    "已通知系统管理员，请开通账号后重试")


def _names_of(rt: Runtime, s: Session, inst: ProcessInstance, element_ids: list[str]) -> list[str]:
    """The diagram's names for ELEMENT_IDS (the audit text is read by people, not by the engine)."""
    names = _element_names(rt, inst)
    return [names.get(e, e) for e in element_ids]


_NAMES: dict[tuple, dict[str, str]] = {}


def _element_names(rt: Runtime, inst: ProcessInstance) -> dict[str, str]:
    """The case's own version's element names, read from its XML once per process (by id and checksum)."""
    definition = inst.definition
    key = (definition.id, definition.checksum)
    if key not in _NAMES:
        _NAMES[key] = element_names(_xml_of(rt, inst))
    return _NAMES[key]


def _xml_of(rt: Runtime, inst: ProcessInstance) -> str:
    """The case's own version's XML, from the runtime's parsed copy (the row's column is not loaded)."""
    return rt.bundle_for(inst.definition).xml


def _unit_name(s: Session, code) -> str:
    unit = s.get(Unit, str(code))
    return unit.name if unit else str(code)


def _sync_timers(s, inst, timers, new: bool = False) -> None:
    with s.no_autoflush:  # as for the open tasks: only this function changes timer rows in an action
        rows = {} if new else {row.id: row for row in s.scalars(
            select(Timer).where(Timer.instance_id == inst.id, Timer.status == "waiting")) if row.status == "waiting"}
    live = {t.id: t for t in timers}
    for timer_id, row in rows.items():
        if timer_id not in live:
            row.status = "done"
    for timer_id, t in live.items():
        if timer_id in rows:
            rows[timer_id].due_at = t.due_at
        else:
            s.add(Timer(id=timer_id, instance_id=inst.id, element_id=t.element_id, name=t.name,
                        due_at=t.due_at, status="waiting"))


def _units_in(data: dict, known: set[str]) -> set[str]:
    found = set()
    for key, value in data.items():
        if not (key.endswith("_unit") or key.endswith("_units")):
            continue
        values = value if isinstance(value, list) else [value]
        found |= {v for v in values if isinstance(v, str) and v in known}
    return found


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
