"""Write-side services: each takes its dependencies and owns exactly one transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from runner.calendar import TZ, CalendarError
from runner.engine import EngineError, FieldRefused, session_bound
from runner.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from runner.forms import validate_form
from runner.models import AuditEntry, HumanTask, ProcessInstance, Timer, Unit, User
from runner.runtime import Runtime, active_definition, spec_for
from runner.sync import SYSTEM, sync_instance

_RETRIES = 3


def _user(s: Session, username: str) -> User:
    user = s.scalars(select(User).where(User.username == username, User.active.is_(True))).first()
    if user is None:
        raise Forbidden(f"未知或已停用的用户：{username}")
    return user


def _unit_codes(s: Session) -> set[str]:
    return set(s.scalars(select(Unit.code)))


def record_denial(rt: Runtime, username: str, action: str, detail: str, now: datetime,
                  instance_id: int | None = None, task_id: str | None = None) -> None:
    """Write a denied attempt to the audit log in its own transaction (the action itself changed nothing)."""
    with rt.session() as s, s.begin():
        s.add(AuditEntry(at=now, actor=username, action="denied", instance_id=instance_id, task_id=task_id,
                         detail=f"{action}：{detail}"))


def deny(rt, username, action, message, now, instance_id=None, task_id=None) -> Forbidden:
    """Audit a refused attempt and return the Forbidden error to raise."""
    record_denial(rt, username, action, message, now, instance_id, task_id)
    return Forbidden(message)


def can_act(user, row: HumanTask) -> bool:
    """Whether USER (a User or a read-side Viewer) may act on task ROW: its assignee if it has one,
    else anyone of the task's unit and role (and, for a leader in charge, of the task's field)."""
    if row.assignee:
        return row.assignee == user.username
    if user.unit_code != row.unit_code or user.role != row.role:
        return False
    return row.field is None or row.field in (user.fields or [])


def _guard(run):
    """Map engine and calendar failures to domain errors, and retry when another action won the race."""
    for attempt in range(_RETRIES):
        try:
            return run()
        except StaleDataError as exc:
            if attempt == _RETRIES - 1:
                raise Conflict("该案件刚被他人更新，请刷新后重试") from exc
        except FieldRefused as exc:  # a diagram's check on one field: the message goes beside that field
            raise Invalid(exc.message, {exc.field: exc.message}) from exc
        except (EngineError, CalendarError) as exc:
            raise Invalid(str(exc)) from exc
    raise AssertionError("unreachable")


# -- start -------------------------------------------------------------------------------------
def start_process(rt: Runtime, username: str, process_key: str, data: dict, now: datetime) -> int:
    """Start PROCESS_KEY as USERNAME with the start form DATA; return the new instance id."""
    return _guard(lambda: _start(rt, username, process_key, dict(data or {}), now))


def _start(rt, username, process_key, data, now) -> int:
    bundle = rt.bundle(process_key)
    with rt.session() as s, s.begin():
        user = _user(s, username)
        definition = active_definition(s, process_key)
        if bundle is None or definition is None:
            raise NotFound(f"没有名为 {process_key} 的流程")
        check_effective(definition, now)
        if not may_start(bundle, user):
            raise deny(rt, username, "start", f"{user.display_name} 无权发起「{bundle.name}」", now)
        schema = definition.forms.get(bundle.start_form) if bundle.start_form else {"type": "object",
                                                                                     "additionalProperties": False}
        validate_form(schema, data, _unit_codes(s))
        business_key = _next_business_key(s, bundle.properties.get("businessKeyPrefix", "LD"), now)
        local_now = now.astimezone(TZ)
        seed = {**data, "initiator": user.username, "initiator_unit": user.unit_code,
                "initiator_unit_kind": user.unit.kind, "started_at": local_now.isoformat(),
                "business_key": business_key}
        wf = rt.engine.new_workflow(bundle, seed)
        with session_bound(s):
            rt.engine.advance(wf, now)
        state, version = rt.engine.dump_state(wf)
        inst = ProcessInstance(
            definition_id=definition.id, process_key=process_key, business_key=business_key,
            title=str(data.get("title") or bundle.name)[:255], status="running", initiator=user.username,
            initiator_unit=user.unit_code, units=[user.unit_code], started_at=now, serializer_version=version,
            state_json=state, data_summary={})
        s.add(inst)
        try:
            s.flush()
        except IntegrityError as exc:
            raise Conflict("编号冲突，请重试") from exc
        s.add(AuditEntry(at=now, actor=user.username, action="start", instance_id=inst.id,
                         detail=f"发起「{bundle.name}」{business_key}", changes=_jsonable_changes({}, data)))
        sync_instance(rt, s, inst, wf, now)
        return inst.id


def may_start(bundle, user: User) -> bool:
    roles = [r.strip() for r in bundle.start_properties.get("starterRoles", "").split(",") if r.strip()]
    kinds = [k.strip() for k in bundle.start_properties.get("starterUnitKinds", "").split(",") if k.strip()]
    if not roles:
        return False
    return user.role in roles and (not kinds or user.unit.kind in kinds)


def check_effective(definition, now: datetime) -> None:
    """Refuse to start under a definition outside its policy's validity window (V1)."""
    today = now.astimezone(TZ).date().isoformat()
    if definition.effective_from and today < definition.effective_from:
        raise Invalid(f"「{definition.name}」依据的政策自 {definition.effective_from} 起施行，尚不能发起")
    if definition.effective_to and today > definition.effective_to:
        raise Invalid(f"「{definition.name}」依据的政策已于 {definition.effective_to} 失效（V1）；"
                      "须由法制审核人员启用依据新政策的流程版本后才能发起新的事项，已发起的事项可继续办理")


def _next_business_key(s: Session, prefix: str, now: datetime) -> str:
    stem = f"{prefix}-{now.astimezone(TZ):%Y%m%d}-"
    taken = s.scalar(select(func.count()).select_from(ProcessInstance)
                     .where(ProcessInstance.business_key.like(stem + "%"))) or 0
    return f"{stem}{taken + 1:04d}"


# -- complete ----------------------------------------------------------------------------------
def complete_task(rt: Runtime, username: str, task_id: str, data: dict, now: datetime) -> int:
    """Complete human task TASK_ID with form DATA; return the instance id.

    Posting to a task that is already closed is a replay: refused (403) and audited. Losing a race
    against a simultaneous completion of the same task is a conflict (409).
    """
    attempts = {"n": 0}

    def run():
        attempts["n"] += 1
        return _complete(rt, username, str(task_id), dict(data or {}), now, raced=attempts["n"] > 1)

    return _guard(run)


def _complete(rt, username, task_id, data, now, raced: bool = False) -> int:
    with rt.session() as s, s.begin():
        user = _user(s, username)
        row = s.get(HumanTask, task_id)
        if row is None:
            raise NotFound("任务不存在")
        if not can_act(user, row):
            raise deny(rt, username, "complete", f"{user.display_name} 无权办理任务「{row.name}」", now,
                          row.instance_id, task_id)
        if row.status != "open":
            message = f"任务「{row.name}」已{_STATUS_WORDS.get(row.status, row.status)}，不能重复提交"
            if raced:
                raise Conflict(message + "（他人刚刚办理了该任务）")
            raise deny(rt, username, "replay", message, now, row.instance_id, task_id)
        inst = s.get(ProcessInstance, row.instance_id)
        definition = inst.definition
        if row.form_file:
            schema = definition.forms.get(row.form_file)
            if schema is None:
                raise Invalid(f"流程图引用的表单 {row.form_file} 不存在")
            validate_form(schema, data, _unit_codes(s))
        elif data:
            raise Invalid("该任务没有表单，不应提交数据")
        wf = rt.engine.load_state(inst.state_json, spec_for(rt, definition), inst.serializer_version)
        before = rt.engine.data(wf)
        variable = _form_variable(rt, inst.process_key, row.element_id)
        with session_bound(s):
            rt.engine.complete(wf, task_id, {variable: data} if variable else data, now)
        row.status, row.completed_at, row.completed_by = "completed", now, user.username
        s.add(AuditEntry(at=now, actor=user.username, action="complete", instance_id=inst.id, task_id=task_id,
                         element_id=row.element_id, detail=f"办理「{row.name}」",
                         changes=_jsonable_changes(before, rt.engine.data(wf))))
        sync_instance(rt, s, inst, wf, now)
        s.flush()
        return inst.id


_STATUS_WORDS = {"completed": "办理完毕", "cancelled": "撤销"}


def _form_variable(rt: Runtime, process_key: str, element_id: str) -> str | None:
    bundle = rt.bundle(process_key)
    if bundle is None:
        return None
    # A multi-instance task has a container spec with the same element id but no extensions: skip it.
    specs = list(bundle.spec.task_specs.values()) + [
        ts for sub in bundle.subprocess_specs.values() for ts in sub.task_specs.values()]
    for spec in specs:
        props = (getattr(spec, "extensions", None) or {}).get("properties") or {}
        if spec.bpmn_id == element_id and props:
            return props.get("formDataVariable")
    return None


# -- claim, release, delegate -----------------------------------------------------------------
def claim_task(rt: Runtime, username: str, task_id: str, now: datetime) -> None:
    with rt.session() as s, s.begin():
        user, row = _open_task_for(rt, s, username, task_id, now, "claim")
        if row.assignee and row.assignee != user.username:
            raise Conflict(f"任务已由 {row.assignee} 签收")
        row.assignee = user.username
        s.add(AuditEntry(at=now, actor=user.username, action="claim", instance_id=row.instance_id,
                         task_id=row.id, element_id=row.element_id, detail=f"签收「{row.name}」"))


def release_task(rt: Runtime, username: str, task_id: str, now: datetime) -> None:
    with rt.session() as s, s.begin():
        user, row = _open_task_for(rt, s, username, task_id, now, "release")
        if row.assignee != user.username:
            raise Conflict("只能退回自己签收的任务")
        row.assignee = None
        s.add(AuditEntry(at=now, actor=user.username, action="release", instance_id=row.instance_id,
                         task_id=row.id, element_id=row.element_id, detail=f"退回待签「{row.name}」"))


def delegate_task(rt: Runtime, username: str, task_id: str, to_username: str, now: datetime) -> None:
    with rt.session() as s, s.begin():
        user, row = _open_task_for(rt, s, username, task_id, now, "delegate")
        target = s.scalars(select(User).where(User.username == to_username, User.active.is_(True))).first()
        if target is None:
            raise Invalid(f"未知的用户：{to_username}", {"to": "未知的用户"})
        if target.unit_code != user.unit_code:
            raise Invalid("只能转办给本单位的同事", {"to": "只能转办给本单位的同事"})
        row.assignee = target.username
        s.add(AuditEntry(at=now, actor=user.username, action="delegate", instance_id=row.instance_id,
                         task_id=row.id, element_id=row.element_id,
                         detail=f"将「{row.name}」转办给 {target.display_name}（{s.get(Unit, target.unit_code).name}）"
                         ))


def _open_task_for(rt, s, username, task_id, now, action):
    user = _user(s, username)
    row = s.get(HumanTask, str(task_id))
    if row is None:
        raise NotFound("任务不存在")
    if not can_act(user, row):
        raise deny(rt, username, action, f"{user.display_name} 无权操作任务「{row.name}」", now,
                      row.instance_id, row.id)
    if row.status != "open":
        raise Conflict(f"任务「{row.name}」已{_STATUS_WORDS.get(row.status, row.status)}")
    return user, row


# -- timers ------------------------------------------------------------------------------------
def fire_due_timers(rt: Runtime, now: datetime) -> int:
    """Advance every instance with a timer due at NOW; one transaction per instance. Return how many."""
    with rt.session() as s:
        ids = list(s.scalars(select(Timer.instance_id).where(Timer.status == "waiting", Timer.due_at < now)
                             .distinct().order_by(Timer.instance_id)))
    advanced = 0
    for instance_id in ids:
        try:
            if _guard(lambda iid=instance_id: _fire(rt, iid, now)):
                advanced += 1
        except DomainError as exc:
            record_denial(rt, SYSTEM, "timer", f"实例 {instance_id} 的定时器处理失败：{exc.message}", now,
                          instance_id)
    return advanced


def _fire(rt, instance_id: int, now: datetime) -> bool:
    with rt.session() as s, s.begin():
        due = list(s.scalars(select(Timer).where(Timer.instance_id == instance_id, Timer.status == "waiting",
                                                 Timer.due_at < now).with_for_update(skip_locked=True)))
        if not due:
            return False
        inst = s.get(ProcessInstance, instance_id)
        wf = rt.engine.load_state(inst.state_json, spec_for(rt, inst.definition), inst.serializer_version)
        with session_bound(s):
            rt.engine.advance(wf, now)
        for t in due:
            s.add(AuditEntry(at=now, actor=SYSTEM, action="timer", instance_id=instance_id, task_id=t.id,
                             element_id=t.element_id, detail=f"定时器到期：{t.name}"))
        sync_instance(rt, s, inst, wf, now)
        return True


def _jsonable_changes(before: dict, after: dict) -> dict:
    out = {}
    for key, value in after.items():
        if key not in before or before[key] != value:
            out[key] = value if isinstance(value, str | int | float | bool | list | dict) or value is None \
                else str(value)
    return out


