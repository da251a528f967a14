"""Outcome notices: the unit that started a matter is told what became of it, as the diagram declares.

The diagram is the spec. Properties (spiffworkflow:property) read here:

- on an end event, ``notice``: told when the end is reached;
- on a user task, ``notice`` (with an optional condition ``noticeWhen``): told when the task is completed and
  the condition, evaluated against the completed task's data, holds. Several outcomes of one task use
  suffixes: ``notice.accept`` with ``noticeWhen.accept``, ``notice.return`` with ``noticeWhen.return``...;
- on a user task, ``noticeOnOpen``: told when the task opens (e.g. the plan's approval reaching its lead);
- ``noticeTo`` (same suffix) names the variable holding the unit told; by default the initiating unit.

The text is Chinese with ``{name}`` placeholders: ``title``, ``business_key``, ``unit`` (the unit of the task),
or any variable of the case; a unit code reads as the unit's name.

Every 督办 (taskKind supervision) also tells the late unit it is raised against; no property needed.

Notices are written by `record_notices`, called from sync_instance, so inside the step's own transaction;
each has a source unique within its case, so a step run again never tells twice. Each is audited.
"""

from __future__ import annotations

import logging
import re
import string
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from runner.calendar import format_local
from runner.engine import EngineError
from runner.models import AuditEntry, HumanTask, Notice, ProcessInstance, Unit

log = logging.getLogger(__name__)

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_PROP = re.compile(r"^(notice|noticeWhen|noticeTo|noticeOnOpen)(?:\.([A-Za-z0-9_]+))?$")
SYSTEM = "system"


@dataclass(frozen=True)
class NoticeSpec:
    element_id: str
    key: str  # the suffix ("" for the plain property)
    text: str
    when: str | None = None
    to: str | None = None
    on_open: bool = False
    end_event: bool = False


@lru_cache(maxsize=64)
def notice_specs(xml: str) -> dict[str, tuple[NoticeSpec, ...]]:
    """Element id -> the notices the diagram XML declares on it."""
    root = etree.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", xml).encode("utf-8"),
                            parser=etree.XMLParser(resolve_entities=False, no_network=True))
    out: dict[str, tuple[NoticeSpec, ...]] = {}
    for el in root.iter(f"{{{BPMN}}}endEvent", f"{{{BPMN}}}userTask"):
        props: dict[tuple[str, str], str] = {}
        for prop in el.iterfind(f"{{{BPMN}}}extensionElements/{{{SPIFF}}}properties/{{{SPIFF}}}property"):
            match = _PROP.match(prop.get("name") or "")
            if match:
                props[(match.group(1), match.group(2) or "")] = prop.get("value") or ""
        end = etree.QName(el).localname == "endEvent"
        specs = []
        for (kind, key), text in sorted(props.items()):
            if kind not in ("notice", "noticeOnOpen") or not text.strip():
                continue
            specs.append(NoticeSpec(el.get("id"), key, text.strip(), props.get(("noticeWhen", key)) or None,
                                    props.get(("noticeTo", key)) or None, kind == "noticeOnOpen", end))
        if specs:
            out[el.get("id")] = tuple(specs)
    return out


class _Text(string.Formatter):
    """Fill {name} from the case's data; a unit code reads as its name, a missing name as nothing."""

    def __init__(self, values: dict, unit_names: dict[str, str]):
        super().__init__()
        self.values, self.unit_names = values, unit_names

    def get_value(self, key, args, kwargs):
        value = self.values.get(str(key), "")
        if isinstance(value, list):
            return "、".join(self.unit_names.get(v, str(v)) if isinstance(v, str) else str(v) for v in value)
        if isinstance(value, str):
            return self.unit_names.get(value, value)
        return "" if value is None else str(value)

    def get_field(self, field_name, args, kwargs):  # no attribute or index access from a diagram
        return self.get_value(field_name.split(".")[0].split("[")[0], args, kwargs), field_name


def render(template: str, values: dict, unit_names: dict[str, str]) -> str:
    try:
        return _Text(values, unit_names).format(template)
    except (ValueError, IndexError, KeyError):  # a stray brace: show the text as written
        return template


_SPECS: dict[tuple[int, str], dict] = {}


def _specs_of(definition) -> dict:
    """The notice specs of one stored version, read from its XML once per process (by id and checksum): an
    action does not load the diagram text (issue 10)."""
    key = (definition.id, definition.checksum)
    if key not in _SPECS:
        _SPECS[key] = notice_specs(definition.bpmn_xml)
    return _SPECS[key]


def record_notices(rt, s: Session, inst: ProcessInstance, wf, opened: list[HumanTask], now: datetime) -> None:
    """Write the notices this step gives (ends reached, tasks completed or opened, 督办 raised)."""
    specs = _specs_of(inst.definition) if inst.definition else {}
    supervisions = [r for r in opened if r.kind == "supervision" and r.late_unit]
    for row in supervisions:  # the how-many-th 督办 of this unit on this matter: a repeat proposes referral (S6)
        earlier = s.scalar(select(func.count()).select_from(HumanTask).where(
            HumanTask.instance_id == inst.id, HumanTask.kind == "supervision", HumanTask.late_unit == row.late_unit,
            HumanTask.id != row.id))
        row.late_repeat = (earlier or 0) + 1
    if not specs and not supervisions:
        return
    units = rt.unit_names(s)
    data = rt.engine.data(wf)
    base = {**data, "title": inst.title, "business_key": inst.business_key}
    # what this step would tell, under the source that says whether it was told before (read only if any)
    candidates: list[tuple[str, tuple[str, str, str, str, str]]] = []  # source, (source@unit, element, unit...)

    def tell(source: str, spec: NoticeSpec, values: dict) -> None:
        for unit in _recipients(spec, values, inst, units):
            candidates.append((source, (source if unit == inst.initiator_unit or not spec.to else f"{source}@{unit}",
                                        spec.element_id, unit, "outcome", render(spec.text, values, units))))

    ends = [e for e in specs if specs[e][0].end_event]
    if ends:
        reached = set(rt.engine.reached_end_events(wf))
        for element in ends:
            if element in reached:
                for spec in specs[element]:
                    tell(f"end:{element}:{spec.key}", spec, base)
    tasks = [e for e in specs if not specs[e][0].end_event]
    if tasks:
        # The tasks this step completed: only an action completes a task, and it holds the row in this session.
        # (A task completed by an earlier action at the same instant was told then, or its condition on its
        # own data did not hold.)
        done = sorted((o for o in s.identity_map.values() if isinstance(o, HumanTask) and o.instance_id == inst.id
                       and o.status == "completed" and o.completed_at == now and o.element_id in tasks),
                      key=lambda o: o.id)
        for row in done:
            for spec in specs[row.element_id]:
                if not spec.on_open and _holds(rt, wf, row, spec, now):
                    tell(f"task:{row.id}:{spec.key}", spec, {**base, **_task_data(rt, wf, row), "unit": row.unit_code})
        for row in opened:
            for spec in specs.get(row.element_id, ()):
                if spec.on_open:
                    tell(f"open:{row.id}:{spec.key}", spec, {**base, "unit": row.unit_code})
    for row in supervisions:
        source = f"supervision:{row.id}"
        text = _supervision_text(inst, row)
        candidates.append((source, (source, row.element_id, row.late_unit, "supervision", text)))
    if not candidates:
        return
    with s.no_autoflush:  # only this function adds notices, once per action: nothing pending to see first
        told = set(s.scalars(select(Notice.source).where(Notice.instance_id == inst.id)))
    pending = [notice for source, notice in candidates if source not in told]
    for source, element, unit, kind, text in pending:
        s.add(Notice(instance_id=inst.id, unit_code=unit, source=source[:80], element_id=element, kind=kind,
                     text=text, created_at=now))
        s.add(AuditEntry(at=now, actor=SYSTEM, action="notice", instance_id=inst.id, element_id=element,
                         detail=f"通知{units.get(unit, '未登记的单位')}：{text}"))
        told.add(source)


def _recipients(spec: NoticeSpec, values: dict, inst: ProcessInstance, units: dict[str, str]) -> list[str]:
    if not spec.to:
        return [inst.initiator_unit]
    value = values.get(spec.to)
    found = [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str) and v in units]
    return sorted(set(found))


def _task_data(rt, wf, row: HumanTask) -> dict:
    task = rt.engine.find_task(wf, row.id)
    return dict(task.data) if task is not None else {}


def _holds(rt, wf, row: HumanTask, spec: NoticeSpec, now: datetime) -> bool:
    if not spec.when:
        return True
    try:
        return bool(rt.engine.evaluate(wf, row.id, spec.when, now))
    except EngineError:
        # A wrong condition must not stop the officer's step; the validator and the scenarios catch it.
        log.warning("notice condition %r of %s could not be evaluated", spec.when, row.element_id)
        return False


def _supervision_text(inst: ProcessInstance, row: HumanTask) -> str:
    what = f"未按期办理「{row.late_task_name}」" if row.late_task_name else "逾期未办"
    due = f"（期限 {format_local(row.late_due_at)}）" if row.late_due_at else ""
    return f"县政府督查室就本单位{what}{due}督办：{inst.title or inst.business_key}（{inst.business_key}）"


# -- reading and marking read ----------------------------------------------------------------------
def mark_read(rt, username: str, notice_id: int, now: datetime) -> Notice:
    """Mark notice NOTICE_ID read for USERNAME's unit (a notice of another unit is not found)."""
    from runner.errors import NotFound
    from runner.services import _user

    with rt.session() as s, s.begin():
        user = _user(s, username)
        row = s.get(Notice, notice_id)
        if row is None or row.unit_code != user.unit_code:
            raise NotFound("通知不存在")
        if row.read_at is None:
            row.read_at, row.read_by = now, user.username
            s.add(AuditEntry(at=now, actor=user.username, action="notice_read", instance_id=row.instance_id,
                             element_id=row.element_id, detail=f"已阅通知：{row.text}"))
        s.flush()
        s.expunge(row)
        return row


# -- what the worker records as time passes -----------------------------------------------------------
def record_deadline_events(rt, now: datetime) -> int:
    """Audit each reminder and each referral proposal the first time it arises (the markers themselves are
    computed when read, runner/queries/deadlines.py), and tell the supervision office of each proposal.
    Return how many were recorded. One transaction; run by the worker every round."""
    from datetime import timedelta

    from runner.queries.deadlines import referral, reminder_due
    from runner.queries.workdays import days_late, days_left

    recorded = 0
    with rt.session() as s, s.begin():
        units = dict(s.execute(select(Unit.code, Unit.name)).all())
        soon = list(s.scalars(select(HumanTask).where(
            HumanTask.status == "open", HumanTask.kind != "supervision", HumanTask.due_at > now,
            HumanTask.due_at <= now + timedelta(days=31))))
        late = list(s.scalars(select(HumanTask).where(
            HumanTask.status == "open", HumanTask.kind == "supervision", HumanTask.late_due_at.is_not(None),
            HumanTask.late_due_at < now)))
        done = set(s.execute(select(AuditEntry.action, AuditEntry.task_id).where(
            AuditEntry.action.in_(("reminder", "referral_proposed")),
            AuditEntry.task_id.in_([r.id for r in soon + late] or [""]))).all())
        for row in soon:
            if ("reminder", row.id) in done or not reminder_due(rt, row.process_key, row.kind, row.status,
                                                                 row.due_at, now):
                continue
            s.add(AuditEntry(at=now, actor=SYSTEM, action="reminder", instance_id=row.instance_id, task_id=row.id,
                             element_id=row.element_id,
                             detail=f"期限提醒：{units.get(row.unit_code, '未登记的单位')}「{row.name}」期限 "
                                    f"{format_local(row.due_at)}，还剩 {days_left(rt, now, row.due_at)} 个工作日"))
            recorded += 1
        for row in late:
            ref = referral(rt, row.process_key, row.kind, row.status, row.late_repeat,
                           days_late(rt, now, row.late_due_at))
            if ref is None or ("referral_proposed", row.id) in done:
                continue
            why = "；".join(([f"第 {ref.repeat} 次逾期被督办"] if ref.repeat else [])
                           + ([f"逾期已达 {ref.late_days} 个工作日"] if ref.late_days is not None else []))
            text = (f"建议将{units.get(row.late_unit, '未登记的单位')}移送纪检监察机关追责（{why}）："
                    f"「{row.late_task_name or row.name}」，{row.title or row.business_key}（{row.business_key}）")
            s.add(AuditEntry(at=now, actor=SYSTEM, action="referral_proposed", instance_id=row.instance_id,
                             task_id=row.id, element_id=row.element_id, detail=text))
            if s.scalar(select(Notice.id).where(Notice.instance_id == row.instance_id,
                                                Notice.source == f"referral:{row.id}")) is None:
                s.add(Notice(instance_id=row.instance_id, unit_code=row.unit_code, source=f"referral:{row.id}",
                             element_id=row.element_id, kind="referral", text=text, created_at=now))
            recorded += 1
    return recorded
