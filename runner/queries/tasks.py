"""One task: its detail page (form, clauses, case data), with labels for process variables."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from runner.errors import NotFound
from runner.models import HumanTask, ProcessInstance, Unit, User
from runner.queries.rows import TaskRow, _task_row
from runner.queries.viewer import Viewer, _deny, can_act, may_read
from runner.runtime import Runtime


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
        if not readable and not can_act(viewer, r):
            # a task of a case the viewer may not read: say nothing about the case, the task or its state
            raise _deny(rt, viewer, action, "您无权办理该任务", now, r.instance_id, r.id)
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
