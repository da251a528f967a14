"""The task page: a server-rendered form from the task's JSON Schema, beside clauses, data and deadline."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from runner.catalogue import entry_rows
from runner.documents import fill_from_documents
from runner.errors import Invalid
from runner.forms import for_case
from runner.queries import TaskDetail, task_detail, units_by_kind
from runner.services import complete_task
from webui.dashboard import meeting_report
from webui.readable import Readable
from webui.schema_form import add_row, build_fields, parse_submission, properties, widget_of
from webui.uploads import received, save_upload, upload_errors
from webui.web import now, rt, units, viewer

bp = Blueprint("tasks", __name__)
_NO_PREFILL = ("radio", "select", "checkbox", "yesno", "file")


def prefill(schema: dict | None, data: dict) -> dict:
    """This step's own earlier answer for this form's fields (decisions are never prefilled, in a group of
    fields neither). DATA is the task's own (TaskDetail.form_data), never the case data: another unit's
    answer may sit there under the same name."""
    if not schema or not isinstance(data, dict):
        return {}
    out = {}
    for name, prop in properties(schema).items():
        if name not in data or not isinstance(prop, dict) or widget_of(prop) in _NO_PREFILL:
            continue
        out[name] = prefill(prop, data[name]) if widget_of(prop) == "group" else data[name]
    return out


def render_task(detail: TaskDetail, data: dict, errors: dict | None = None, message: str | None = None,
                status: int = 200, add: str | None = None):
    unit_list = units_by_kind(rt())
    schema = for_case(detail.schema, detail.data)  # e.g. the answer the chosen catalogue entry calls for
    fields = build_fields(schema, data, errors, unit_list, own_unit=viewer().unit_code)
    if add:
        add_row(fields, add, schema or {}, unit_list)
    readable = Readable(detail.forms, units(), detail.people, detail.variables)
    per_unit = readable.per_unit(detail.data, leave_out=detail.own_collection)
    shown = {item.key for item in per_unit}
    return render_template("tasks/task.html", task=detail, fields=fields, errors=errors or {}, message=message,
                           per_unit=per_unit, now=now(), report=meeting_report(detail),
                           case_items=[i for i in readable.items(detail.data)
                                       if i.key not in shown and i.key != detail.own_collection]), status


@bp.get("/tasks/<task_id>")
@login_required
def show(task_id: str):
    detail = task_detail(rt(), viewer(), task_id, now())
    # a lookup answer opens with the chosen catalogue entry's fields; the step's own earlier answer wins
    offered = entry_rows(rt(), for_case(detail.schema, detail.data), detail.data)
    return render_task(detail, offered | prefill(detail.schema, detail.form_data))


@bp.post("/tasks/<task_id>")
@login_required
def submit(task_id: str):
    detail = task_detail(rt(), viewer(), task_id, now(), action="complete")
    remove = request.form.get("_remove")
    data = parse_submission(detail.schema, request.form, request.files, save_upload, drop=remove)
    if request.form.get("_add") or remove:
        return render_task(detail, data, add=request.form.get("_add"))
    # A refused file must not pass as "no file": the form comes back at once, with the other files kept.
    if upload_errors():
        return render_task(detail, data, upload_errors(), _("请按提示修改后再提交"), 422)
    # Numbers and dates that come from an issued document; without it the (required) field stays empty, so
    # the step is refused below together with any other mistake, and the reason shown is this one.
    missing = fill_from_documents(rt(), detail.row.instance_id, detail.schema, data)
    try:
        instance_id = complete_task(rt(), viewer().username, detail.row.id, data, now(), uploads=received(data))
    except Invalid as exc:
        return render_task(detail, data, exc.field_errors | missing, exc.message, 422)
    flash(_("已办理「%(name)s」", name=detail.row.name), "success")
    return redirect(url_for("instances.show", instance_id=instance_id))
