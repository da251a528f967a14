"""The start page: the procedures this user may start, each with its validity window and start form."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from runner import catalogue
from runner.errors import Invalid
from runner.queries import Procedure, first_task_for, procedure, startable, units_by_kind
from runner.services import start_process
from webui.schema_form import add_row, build_fields, parse_submission
from webui.uploads import received, save_upload, upload_errors
from webui.web import now, rt, units, viewer

bp = Blueprint("start", __name__)


@bp.get("/start")
@login_required
def index():
    return render_template("start/index.html", procedures=startable(rt(), viewer(), now()), now=now())


def render_start(proc: Procedure, data: dict, errors: dict | None = None, message: str | None = None,
                 status: int = 200, add: str | None = None):
    unit_list = units_by_kind(rt())
    schema = with_catalogue_choices(proc.schema)
    fields = build_fields(schema, data, errors, unit_list, own_unit=viewer().unit_code)
    if add:
        add_row(fields, add, proc.schema or {}, unit_list)
    return render_template("start/form.html", proc=proc, fields=fields, errors=errors or {},
                           message=message or proc.refusal), status


def with_catalogue_choices(schema: dict | None) -> dict | None:
    """The query form offers the published catalogue entries (they change, the stored form does not)."""
    if not schema or "catalogue_entry" not in (schema.get("properties") or {}):
        return schema
    choices = catalogue.entry_choices(rt())
    schema = {**schema, "properties": dict(schema["properties"])}
    schema["properties"]["catalogue_entry"] = {**schema["properties"]["catalogue_entry"], "oneOf": choices} \
        if choices else schema["properties"]["catalogue_entry"]
    return schema


def _field_errors(proc: Procedure, data: dict) -> dict:
    """The form's own errors for DATA, without starting anything."""
    from runner.forms import validate_form

    try:
        validate_form(proc.schema, data, set(units()), today=now(), context={}, calendar=rt().calendar)
    except Invalid as exc:
        return exc.field_errors
    return {}


@bp.get("/start/<key>")
@login_required
def form(key: str):
    return render_start(procedure(rt(), viewer(), key[:64], now()), {})


@bp.post("/start/<key>")
@login_required
def submit(key: str):
    proc = procedure(rt(), viewer(), key[:64], now())
    remove = request.form.get("_remove")
    data = parse_submission(proc.schema, request.form, request.files, save_upload, drop=remove)
    if request.form.get("_add") or remove:
        return render_start(proc, data, add=request.form.get("_add"))
    if upload_errors():
        return render_start(proc, data, upload_errors(), _("请按提示修改后再提交"), 422)
    choice_errors = {}
    if "catalogue_entry" in ((proc.schema or {}).get("properties") or {}):
        data, choice_errors = catalogue.query_choice(rt(), viewer().unit_code, data)
    try:
        if choice_errors:  # still validated, so every mistake shows at once
            data_without = {k: v for k, v in data.items() if k not in choice_errors}
            raise Invalid(_("请按提示修改后再提交"), choice_errors | _field_errors(proc, data_without))
        instance_id = start_process(rt(), viewer().username, proc.key, data, now(), uploads=received(data))
    except Invalid as exc:
        return render_start(proc, data, exc.field_errors, exc.message, 422)
    catalogue.log_read(rt(), viewer().username, instance_id, data, now())
    flash(_("已发起「%(name)s」", name=proc.name), "success")
    task_id = first_task_for(rt(), viewer(), instance_id)
    if task_id:
        return redirect(url_for("tasks.show", task_id=task_id))
    return redirect(url_for("instances.show", instance_id=instance_id))
