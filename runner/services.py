"""Write-side services: each takes its dependencies and owns exactly one transaction."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.exc import StaleDataError

from runner.access import (
    can_act,
    check_effective,
    deny,
    is_head,
    may_reassign_to,
    may_start,
    oversees,
    record_denial,  # noqa: F401  (re-exported: callers and tests import it from here)
)
from runner.audit import hold
from runner.calendar import TZ, CalendarError
from runner.engine import EngineError, FieldRefused, session_bound
from runner.errors import Conflict, Forbidden, Invalid, NotFound
from runner.forms import check_unit_roles, validate_form
from runner.holidays import REVISION_READ, revision_column
from runner.models import (
    AuditEntry,
    BusinessKeyCounter,
    HumanTask,
    ProcessDefinition,
    ProcessInstance,
    Timer,
    Unit,
    Upload,
    User,
)
from runner.runtime import Runtime, active_definition, spec_for
from runner.sync import SYSTEM, Unstaffed, sync_instance

_RETRIES = 3
log = logging.getLogger(__name__)


def _user(s: Session, username: str) -> User:
    user = s.scalars(select(User).where(User.username == username, User.active.is_(True))).first()
    if user is None:
        raise Forbidden(f"未知或已停用的用户：{username}")
    return user


def _user_and_task(s: Session, username: str, task_id: str) -> tuple[User, HumanTask | None]:
    """The active user USERNAME and task TASK_ID (None when there is none), in one round trip."""
    found = s.execute(select(User, HumanTask).outerjoin(HumanTask, HumanTask.id == task_id)
                      .where(User.username == username, User.active.is_(True))).first()
    if found is None:
        raise Forbidden(f"未知或已停用的用户：{username}")
    return found[0], found[1]


def _unit_codes(rt: Runtime, s: Session) -> set[str]:
    return set(rt.unit_kinds(s))


def _unit_kinds(rt: Runtime, s: Session) -> dict[str, str]:
    return rt.unit_kinds(s)


def _guard(run):
    """Map engine and calendar failures to domain errors, and retry when another action won the race.

    A lost race shows as a stale version, a duplicate row, or (PostgreSQL) a serialization failure or
    deadlock; each attempt runs in a fresh session, so a retry sees the winner's committed state."""
    for attempt in range(_RETRIES):
        try:
            return run()
        except (StaleDataError, IntegrityError, DBAPIError) as exc:
            if isinstance(exc, DBAPIError) and not isinstance(exc, IntegrityError) and not _transient(exc):
                raise
            if attempt == _RETRIES - 1:
                raise Conflict("该案件刚被他人更新，请刷新后重试") from exc
        except FieldRefused as exc:  # a diagram's check on one field: the message goes beside that field
            raise Invalid(exc.message, {exc.field: exc.message}) from exc
        except (EngineError, CalendarError) as exc:
            raise Invalid(str(exc)) from exc
    raise AssertionError("unreachable")


# SQLSTATEs PostgreSQL uses for a transaction that lost to a concurrent one: worth running again.
_TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03"}


def _transient(exc: DBAPIError) -> bool:
    if getattr(exc.orig, "sqlstate", None) in _TRANSIENT_SQLSTATES:
        return True
    return "database is locked" in str(exc.orig)


def lock_instance(s: Session, instance_id: int, task: HumanTask | None = None) -> ProcessInstance | None:
    """Serialise actions on one case: take its row lock first, then (re)load it with the winner's state.

    PostgreSQL: SELECT ... FOR UPDATE of the instance row alone, in the same statement that loads it. SQLite
    has no row locks, but a write takes the database's write lock until commit, and pysqlite runs earlier
    reads outside the transaction: so a no-op UPDATE as the first write makes every later read in this
    transaction see the latest committed state. The definition comes with it without its large columns
    (XML, spec, forms): the runtime's caches hold those, keyed by definition id and checksum.
    TASK: a task of the case read before the lock; it is read again in the same statement (and on PostgreSQL
    locked with the case), so the caller sees whether another action completed or claimed it meanwhile."""
    # The holiday schedule's revision comes along: the step's deadlines are checked against it (holidays.py).
    stmt = (select(ProcessInstance, revision_column()) if task is None else
            select(ProcessInstance, revision_column(), HumanTask)
            .join(HumanTask, HumanTask.instance_id == ProcessInstance.id).where(HumanTask.id == task.id))
    stmt = (stmt.where(ProcessInstance.id == instance_id)
            .options(joinedload(ProcessInstance.definition).load_only(*_DEFINITION_HEAD))
            .execution_options(populate_existing=True))
    if s.get_bind().dialect.name == "sqlite":
        s.execute(text("UPDATE process_instances SET lock_version = lock_version WHERE id = :id"),
                  {"id": instance_id})
    else:
        stmt = stmt.with_for_update(of=[ProcessInstance] if task is None else [ProcessInstance, HumanTask])
    found = s.execute(stmt).first()
    inst = found[0] if found is not None else None
    if inst is not None:
        s.info[REVISION_READ] = found[1]
        hold(s, inst)  # the case's audit entries go on its own chain, whose head this lock guards
    return inst


# What an action reads of its definition row; the rest is parsed once per process (Runtime caches).
_DEFINITION_HEAD = (ProcessDefinition.id, ProcessDefinition.process_key, ProcessDefinition.version,
                    ProcessDefinition.name, ProcessDefinition.checksum, ProcessDefinition.status)


def _telling_admin(rt: Runtime, username: str, now: datetime, task_id: str | None, run):
    """Run RUN; when its step would hand a task to nobody (no active account), the refusal is also written
    to the audit log as a notice for administrators, in its own transaction (the step changed nothing)."""
    try:
        return run()
    except Unstaffed as exc:
        with rt.session() as s, s.begin():
            row = s.get(HumanTask, task_id) if task_id else None
            s.add(AuditEntry(at=now, actor=username, action="admin_notice", task_id=task_id,
                             instance_id=row.instance_id if row else None, detail=exc.message))
        raise


# -- start -------------------------------------------------------------------------------------
def start_process(rt: Runtime, username: str, process_key: str, data: dict, now: datetime,
                  uploads: Iterable[tuple[str, str]] = ()) -> int:
    """Start PROCESS_KEY as USERNAME with the start form DATA; return the new instance id.

    UPLOADS: the (sha256, name) files this submission carried, recorded as the new case's own."""
    return _telling_admin(rt, username, now, None, lambda: _guard(
        lambda: _start(rt, username, process_key, copy.deepcopy(dict(data or {})), now, uploads)))


def _start(rt, username, process_key, data, now, uploads=()) -> int:
    with rt.session() as s, s.begin():
        user = _user(s, username)
        # The version in force on the start date; when none is, the newest says why (V1) in check_effective.
        definition = active_definition(s, process_key, now)
        if definition is None:
            raise NotFound(f"没有名为 {process_key} 的流程")
        check_effective(definition, now)
        bundle = rt.bundle_for(definition)
        if not may_start(bundle, user):
            raise deny(rt, username, "start", f"{user.display_name} 无权发起「{bundle.name}」", now)
        schema = definition.forms.get(bundle.start_form) if bundle.start_form else {"type": "object",
                                                                                     "additionalProperties": False}
        validate_form(schema, data, _unit_codes(rt, s), today=now, calendar=rt.calendar)
        check_unit_roles(schema, data, _unit_kinds(rt, s), user.unit_code)
        business_key = _next_business_key(s, bundle.properties.get("businessKeyPrefix", "LD"), now)
        local_now = now.astimezone(TZ)
        seed = {**data, "initiator": user.username, "initiator_unit": user.unit_code,
                "initiator_unit_kind": user.unit.kind, "started_at": local_now.isoformat(),
                "business_key": business_key}
        wf = rt.engine.new_workflow(bundle, seed)
        with session_bound(s):
            rt.engine.advance(wf, now)
        inst = ProcessInstance(  # its state is written by sync_instance below, in the same transaction
            definition_id=definition.id, process_key=process_key, business_key=business_key,
            title=str(data.get("title") or bundle.name)[:255], status="running", initiator=user.username,
            initiator_unit=user.unit_code, units=[user.unit_code], started_at=now,
            serializer_version=rt.engine.serializer.VERSION, state_json="", data_summary={})
        s.add(inst)
        s.flush()  # a duplicate key (only possible against keys made by hand) is retried by _guard
        hold(s, inst)
        s.add(AuditEntry(at=now, actor=user.username, action="start", instance_id=inst.id,
                         detail=f"发起「{bundle.name}」{business_key}", changes=_jsonable_changes({}, data)))
        sync_instance(rt, s, inst, wf, now, new=True)
        _record_uploads(s, inst.id, None, user.username, uploads, now)
        return inst.id


def _next_business_key(s: Session, prefix: str, now: datetime) -> str:
    """The next key of the day for PREFIX, from its counter row (made on the day's first start, from the
    highest key already given that day, so a database from before the counters keeps counting on)."""
    stem = f"{prefix}-{now.astimezone(TZ):%Y%m%d}-"
    bump = (update(BusinessKeyCounter).where(BusinessKeyCounter.stem == stem)
            .values(last=BusinessKeyCounter.last + 1).returning(BusinessKeyCounter.last))
    number = s.scalar(bump)
    if number is None:
        # A range, not LIKE: under a non-C collation LIKE cannot use the index on business_key.
        highest = s.scalar(select(func.max(ProcessInstance.business_key))
                           .where(ProcessInstance.business_key >= stem, ProcessInstance.business_key <= stem + "9999"))
        number = _sequence_number(highest, stem) + 1
        try:
            with s.begin_nested():  # another start may make the row first: then take the next from it
                s.add(BusinessKeyCounter(stem=stem, last=number))
        except IntegrityError:
            number = s.scalar(bump)
    return f"{stem}{number:04d}"


def _sequence_number(key: str | None, stem: str) -> int:
    tail = (key or "").removeprefix(stem)
    return int(tail) if tail.isdigit() else 0


# -- complete ----------------------------------------------------------------------------------
def complete_task(rt: Runtime, username: str, task_id: str, data: dict, now: datetime,
                  uploads: Iterable[tuple[str, str]] = ()) -> int:
    """Complete human task TASK_ID with form DATA; return the instance id.

    Posting to a task that is already closed is a replay: refused (403) and audited. Losing a race
    against a simultaneous completion of the same task is a conflict (409). UPLOADS: the (sha256, name)
    files this submission carried, recorded as the case's own in the same transaction.
    """
    attempts = {"n": 0}

    def run():
        attempts["n"] += 1
        # A fresh copy per attempt: the diagram's post-script changes the submitted data in place.
        return _complete(rt, username, str(task_id), copy.deepcopy(dict(data or {})), now, uploads,
                         raced=attempts["n"] > 1)

    return _telling_admin(rt, username, now, str(task_id), lambda: _guard(run))


def _complete(rt, username, task_id, data, now, uploads=(), raced: bool = False) -> int:
    with rt.session() as s, s.begin():
        user, row = _user_and_task(s, username, task_id)
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
        # Refusals above are audited in their own transaction, so they come before the lock is held.
        inst = lock_instance(s, row.instance_id, task=row)  # ROW read again with the case
        if row.status != "open":
            raise Conflict(f"任务「{row.name}」已{_STATUS_WORDS.get(row.status, row.status)}（他人刚刚办理了该任务）")
        if not can_act(user, row):
            raise Conflict(f"任务「{row.name}」刚被他人签收，请刷新后查看")
        definition = inst.definition
        bundle = rt.bundle_for(definition)  # the case's own version, never the newest file
        if row.form_file:
            schema = bundle.forms.get(row.form_file)
            if schema is None:
                raise Invalid(f"流程图引用的表单 {row.form_file} 不存在")
            _case_values(schema, data, inst.data_summary)
            validate_form(schema, data, _unit_codes(rt, s), today=now, context=inst.data_summary,
                          calendar=rt.calendar)
            check_unit_roles(schema, data, _unit_kinds(rt, s), user.unit_code)
        elif data:
            raise Invalid("该任务没有表单，不应提交数据")
        case = rt.open(inst, warm=True)  # the lock is held and the case is saved below
        before = case.data
        variable = case.form_variable(row.element_id)
        owned = [variable] if variable else form_names(bundle.forms.get(row.form_file) if row.form_file else None)
        with session_bound(s):
            own = case.complete(task_id, {variable: data} if variable else data, now, owned)
        row.status, row.completed_at, row.completed_by = "completed", now, user.username
        s.add(AuditEntry(at=now, actor=user.username, action="complete", instance_id=inst.id, task_id=task_id,
                         element_id=row.element_id, detail=f"办理「{row.name}」",
                         changes=_completion_changes(rt, bundle, before, case.data, own)))
        sync_instance(rt, s, inst, case.wf, now, data=case.data)
        _record_uploads(s, inst.id, task_id, user.username, uploads, now)
        if row.kind == "receipt":
            _sign_for_documents(s, inst.id, row.unit_code, user.username, now)
        return inst.id  # the commit flushes: a lost race raised there is still inside _guard


def _sign_for_documents(s: Session, instance_id: int, unit_code: str, username: str, now: datetime) -> None:
    """A receipt step (taskKind receipt, e.g. 签收查询请求) also signs for the case's documents addressed to
    UNIT_CODE not signed for yet (e.g. the query letter), on the same day: one receipt, one date."""
    from runner.documents import KINDS
    from runner.models import Document, Receipt

    day = now.astimezone(TZ).date().isoformat()
    signed = select(Receipt.document_id)
    with s.no_autoflush:  # a read: this action's rows are written once, at the commit
        docs = list(s.scalars(select(Document).where(Document.instance_id == instance_id,
                                                     Document.recipient_unit == unit_code,
                                                     Document.id.not_in(signed))))
    for doc in docs:
        if not KINDS[doc.kind].receipt:
            continue
        s.add(Receipt(document_id=doc.id, unit_code=unit_code, received_on=day, received_by=username, at=now))
        s.add(AuditEntry(at=now, actor=username, action="acknowledge", instance_id=instance_id,
                         detail=f"签收「{doc.title}」{doc.number}，收到日期 {day}",
                         changes={"receipt": {"number": doc.number, "received_on": day}}))


def _case_values(schema: dict, data: dict, case: dict) -> None:
    """A task form's `x-from-case` fields (readOnly) carry the case's value, never a posted one (e.g. the
    catalogue entry's answer mode, which decides what the answer must contain)."""
    for name, prop in (schema.get("properties") or {}).items():
        if isinstance(prop, dict) and prop.get("readOnly") and prop.get("x-from-case"):
            data.pop(name, None)
            if (case or {}).get(name) not in (None, ""):
                data[name] = case[name]


def _record_uploads(s: Session, instance_id: int, task_id: str | None, username: str,
                    uploads: Iterable[tuple[str, str]], now: datetime) -> None:
    """Record files uploaded into the case: only these are ever served from it (a value naming another
    case's file is not enough)."""
    if not uploads:
        return
    known = set(s.execute(select(Upload.sha256, Upload.name).where(Upload.instance_id == instance_id)).all())
    for sha256, name in sorted(set(uploads or ())):
        if (sha256, name) not in known:
            s.add(Upload(sha256=sha256, instance_id=instance_id, task_id=task_id, name=name[:255],
                         uploader=username, at=now))


_STATUS_WORDS = {"completed": "办理完毕", "cancelled": "撤销"}


def _form_variable(bundle, element_id: str) -> str | None:
    """The variable the step ELEMENT_ID keeps its form answer under, in BUNDLE (the case's own version)."""
    return bundle.form_variable(element_id)


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


def reassign_task(rt: Runtime, username: str, task_id: str, to_username: str, now: datetime) -> str:
    """As the head of the task's unit, hand open task TASK_ID to TO_USERNAME, a colleague of the unit; return
    the colleague's display name and unit, for the confirmation."""
    with rt.session() as s, s.begin():
        head = _user(s, username)
        row = s.get(HumanTask, str(task_id))
        if row is None:
            raise NotFound("任务不存在")
        if not oversees(head, row):
            why = "任务已结束" if row.status != "open" and is_head(head) else "只有本单位负责人可以改派本单位的任务"
            raise deny(rt, username, "reassign", f"{head.display_name} 无权改派任务「{row.name}」（{why}）", now,
                       row.instance_id, row.id)
        target = s.scalars(select(User).where(User.username == to_username)).first()
        if target is None or not may_reassign_to(head, target):
            message = "只能改派给本单位在职的同事"
            raise Invalid(message, {"to": message})
        if row.assignee == target.username:
            message = f"任务已由 {target.display_name} 办理，无需改派"
            raise Invalid(message, {"to": message})
        previous = s.scalars(select(User).where(User.username == row.assignee)).first() if row.assignee else None
        row.assignee = target.username
        who = f"{target.display_name}（{target.unit.name}）"
        before = f"，原由 {previous.display_name} 签收" if previous else "，原为待签收"
        s.add(AuditEntry(at=now, actor=head.username, action="reassign", instance_id=row.instance_id,
                         task_id=row.id, element_id=row.element_id, detail=f"将「{row.name}」改派给 {who}{before}"))
        return who


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
    """Fire every timer due at NOW, one transaction per case; return how many cases moved on.

    The worker's own rounds (runner/worker.py) in one go: what the simulation, the demo and the tests call. A
    failure on one case is counted against its timers (retried with backoff, parked after repeated failures)
    and does not stop the round."""
    from runner.worker import drain

    return drain(rt, now, batch=None).advanced


def _fire(rt, instance_id: int, now: datetime) -> bool:
    with rt.session() as s, s.begin():
        # The case first, then its timers: the same order as a completion, so the two cannot deadlock.
        inst = lock_instance(s, instance_id)
        due = list(s.scalars(select(Timer).where(Timer.instance_id == instance_id, Timer.status == "waiting",
                                                 Timer.due_at < now)))
        if inst is None or not due:
            return False
        wf = rt.engine.load_state(inst.state_json, spec_for(rt, inst.definition), inst.serializer_version,
                                  warm=True)  # the lock is held and the case is saved below
        with session_bound(s):
            rt.engine.advance(wf, now)
        for t in due:
            s.add(AuditEntry(at=now, actor=SYSTEM, action="timer", instance_id=instance_id, task_id=t.id,
                             element_id=t.element_id, detail=f"定时器到期：{t.name}"))
        sync_instance(rt, s, inst, wf, now)
        for t in due:  # sync marked the timers the engine no longer waits on; these ones fired
            if t.status == "done":
                t.status = "fired"
            t.claimed_by = t.claimed_until = None
        return True


def form_names(schema: dict | None) -> list[str]:
    """The names a form writes into the task's data (its top-level fields)."""
    return list(((schema or {}).get("properties") or {}).keys())


def _completion_changes(rt, bundle, before: dict, after: dict, own: dict) -> dict:
    """What a completion changed: the task's own answer, and what the steps it set off changed in the case.
    A multi-instance output collection is left out: it holds every unit's answer, and the audit entry of
    one unit must show only that unit's."""
    collected = set(rt.engine.collections(bundle)) if bundle else set()
    changes = {k: v for k, v in _jsonable_changes(before, after).items() if k not in collected}
    changes.update(_jsonable_changes({}, own))
    return changes


def _jsonable_changes(before: dict, after: dict) -> dict:
    out = {}
    for key, value in after.items():
        if key not in before or before[key] != value:
            out[key] = value if isinstance(value, str | int | float | bool | list | dict) or value is None \
                else str(value)
    return out


