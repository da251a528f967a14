"""One task: its detail page (form, clauses, case data), with labels for process variables."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from runner.catalogue import audit_answer_read
from runner.errors import NotFound
from runner.models import HumanTask, ProcessInstance, Unit, User
from runner.queries.rows import TaskRow, _task_row, people_names
from runner.queries.viewer import Viewer, _deny, can_act, may_read
from runner.runtime import Runtime, spec_for


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
    variables: dict[str, dict] = field(default_factory=dict)
    form_data: dict = field(default_factory=dict)  # what the form opens with: this step's own earlier answer
    own_collection: str | None = None  # the per-unit list this step fills (not shown on its own page)


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
        bundle = rt.bundle_for(definition)  # the case's own version: its labels, forms and variables
        forms, variables = data_labels(rt, bundle, dict(definition.forms or {}))
        use = _form_use(rt, bundle, r.element_id)
        wf = rt.engine.load_state(inst.state_json, spec_for(rt, definition), inst.serializer_version)
        detail = TaskDetail(
            row=_task_row(rt, r, viewer, names, now, people_names(s, [r.assignee])), form_file=r.form_file,
            schema=schema,
            documentation=r.documentation, clauses=clauses(rt, r.rules), instance_title=inst.title,
            instance_status=inst.status, data=dict(inst.data_summary or {}), forms=forms,
            readable=readable, people=people, variables=variables,
            form_data=_earlier_answer(rt, wf, r.id, use, schema), own_collection=use.collection if use else None)
        process_key = inst.process_key
    audit_answer_read(rt, viewer, process_key, detail.row.instance_id, detail.data, now)  # after our read closed
    return detail


def _form_use(rt: Runtime, bundle, element_id: str):
    return next((u for u in rt.engine.form_uses(bundle) if u.element_id == element_id), None) if bundle else None


def _earlier_answer(rt: Runtime, wf, task_id: str, use, schema: dict | None) -> dict:
    """The form's values from this same step's last answer for the same unit or field (an earlier round);
    empty the first time. Never the case data at large: another unit's or another branch's answer may
    sit there under the same name."""
    if use is None:
        return {}
    if use.variable:
        found = rt.engine.earlier_answer(wf, task_id, [use.variable]).get(use.variable)
        return dict(found) if isinstance(found, dict) else {}
    return rt.engine.earlier_answer(wf, task_id, list(((schema or {}).get("properties") or {}).keys()))


_STATUS_WORDS = {"completed": "办理完毕", "cancelled": "撤销"}


def data_labels(rt: Runtime, bundle, forms: dict[str, dict]) -> tuple[dict[str, dict], dict[str, dict]]:
    """How to label the case data, read from the diagram: (the forms whose fields are kept one by one at the
    top of the data, variable -> {label, schema, many}) for answers kept under a variable of their own.

    Each variable is labelled by the step that writes it and its fields by that step's own form, so the
    same field name in two forms (a decision, an opinion) keeps each form's meaning. A multi-instance
    step's output collection holds one answer per unit or field (`many`). BUNDLE: the case's own version."""
    top: dict[str, dict] = {}
    variables: dict[str, dict] = {}
    for use in rt.engine.form_uses(bundle) if bundle else []:
        schema = forms.get(use.form) or {}
        if use.variable:
            variables.setdefault(use.variable, {"label": use.name, "schema": schema, "many": False})
        elif use.item:
            answer = (schema.get("properties") or {}).get(use.item) or schema
            variables.setdefault(use.item, {"label": answer.get("title") or use.name, "schema": answer,
                                            "many": False})
            if use.collection:
                variables.setdefault(use.collection, {"label": use.name, "schema": answer, "many": True})
        else:
            top.setdefault(use.form, schema)
    return top, variables


def variable_labels(rt: Runtime, definition) -> dict[str, str]:
    """Process variable -> the name of the step whose answer it holds, in DEFINITION (a case's own version)."""
    bundle = rt.bundle_for(definition)
    _top, variables = data_labels(rt, bundle, dict(bundle.forms))
    return {name: v["label"] for name, v in variables.items()}


def clauses(rt: Runtime, rule_ids: list[str] | None) -> list[tuple[str, str, str]]:
    """(rule id, the original Chinese clause, the RULES.md restatement) for each cited rule."""
    return [(rid, rt.originals.get(rid, ""), rt.rules.get(rid, "（RULES.md 中没有该条）")) for rid in (rule_ids or [])]
