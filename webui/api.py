"""A small JSON API with the UI's operations, authorisation and errors ({"error", "fields"} with 4xx).

Authentication is the same session cookie as the UI; every POST carries the CSRF token in the
X-CSRFToken header (GET /api/csrf hands one out).
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _
from flask_login import login_required, logout_user
from flask_wtf.csrf import generate_csrf

from runner import catalogue
from runner.calendar import TZ
from runner.documents import fill_from_documents
from runner.errors import Invalid
from runner.lifecycle import close_instance, withdraw_instance
from runner.notices import mark_read
from runner.queries import (
    first_task_for,
    history,
    inbox,
    instance_summary,
    procedure,
    startable,
    task_detail,
    unit_work,
)
from runner.queries.notices import notices, reminders, unread_notices
from runner.services import claim_task, complete_task, delegate_task, reassign_task, release_task, start_process
from webui.auth import attempt_login, start_session
from webui.errors import error_response
from webui.inbox import PER_PAGE, filters_from, page_arg, scope_from
from webui.lateness import late_completion_text, referral_text, supervision_text
from webui.web import now, rt, viewer

bp = Blueprint("api", __name__, url_prefix="/api")


def jsonable(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.astimezone(TZ).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def task_json(row) -> dict:
    """A task row with its lateness in words: 督办 text, and "逾期 N 个工作日办结" for a late completion."""
    return {**jsonable(row), "supervision_text": supervision_text(row), "late_text": late_completion_text(row),
            "referral_text": referral_text(row)}


class BadBody(Exception):
    pass


def body() -> dict:
    if not request.is_json:
        raise BadBody(_("请求体须为 JSON（Content-Type: application/json）"))
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadBody(_("请求体须为 JSON 对象"))
    return data


@bp.errorhandler(BadBody)
def _bad_body(exc: BadBody):
    return error_response(str(exc), 400)


def _me():
    v = viewer()
    return {"username": v.username, "display_name": v.display_name, "unit": v.unit_code, "unit_name": v.unit_name,
            "role": v.role, "fields": list(v.fields)}


@bp.get("/csrf")
def csrf():
    return jsonify({"csrf_token": generate_csrf()})


@bp.post("/login")
def login():
    data = body()
    username = str(data.get("username") or "").strip()[:64]
    found, error, status = attempt_login(username, str(data.get("password") or ""))
    if found is None:
        return error_response(error, status)
    start_session(found)
    return jsonify({"user": {"username": found.username, "display_name": found.display_name},
                    "csrf_token": generate_csrf()})


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    return jsonify({"ok": True})


@bp.get("/me")
@login_required
def me():
    return jsonify(_me())


@bp.get("/tasks")
@login_required
def my_tasks():
    filters = filters_from(request.args)
    filters.scope = scope_from(request.args)
    if filters.scope == "unit":
        return _unit_tasks(filters)
    page = inbox(rt(), viewer(), filters, now())
    return jsonify({"tasks": [task_json(r) for r in page.rows], "total": page.total, "page": page.page,
                    "pages": page.pages})


def _unit_tasks(filters):
    """A unit head's view: every open task of the unit, who holds it (by name) and how many are late."""
    work = unit_work(rt(), viewer(), filters, now())
    tasks = [{**task_json(r), "assignee_name": work.people.get(r.assignee) if r.assignee else None}
             for r in work.page.rows]
    return jsonify({"tasks": tasks, "total": work.page.total, "page": work.page.page, "pages": work.page.pages,
                    "overdue": work.overdue})


@bp.get("/history")
@login_required
def my_history():
    page = history(rt(), viewer(), page_arg(request.args), PER_PAGE, now())
    return jsonify({"tasks": [task_json(r) for r in page.rows], "total": page.total, "page": page.page,
                    "pages": page.pages})


@bp.get("/tasks/<task_id>")
@login_required
def task(task_id: str):
    d = task_detail(rt(), viewer(), task_id, now())
    return jsonify({"task": task_json(d.row), "form": d.schema, "documentation": d.documentation,
                    "clauses": [{"id": rid, "original": original, "text": text}
                                for rid, original, text in d.clauses],
                    "instance": {"id": d.row.instance_id, "title": d.instance_title, "status": d.instance_status},
                    "data": d.data, "form_data": d.form_data})


@bp.post("/tasks/<task_id>/complete")
@login_required
def complete(task_id: str):
    data = body()
    detail = task_detail(rt(), viewer(), task_id, now(), action="complete")  # refuses replays, foreign tasks
    if isinstance(data, dict):  # numbers and dates that come from an issued document are never the client's
        missing = fill_from_documents(rt(), detail.row.instance_id, detail.schema, data)
        if missing:
            raise Invalid(_("请先出具文书，文号和日期由系统生成"), missing)
    instance_id = complete_task(rt(), viewer().username, task_id[:36], data, now())
    return jsonify({"instance_id": instance_id, "next_task": first_task_for(rt(), viewer(), instance_id)})


@bp.post("/tasks/<task_id>/claim")
@login_required
def claim(task_id: str):
    claim_task(rt(), viewer().username, task_id[:36], now())
    return jsonify({"ok": True})


@bp.post("/tasks/<task_id>/release")
@login_required
def release(task_id: str):
    release_task(rt(), viewer().username, task_id[:36], now())
    return jsonify({"ok": True})


@bp.post("/tasks/<task_id>/delegate")
@login_required
def delegate(task_id: str):
    data = body()
    delegate_task(rt(), viewer().username, task_id[:36], str(data.get("to") or "")[:64], now())
    return jsonify({"ok": True})


@bp.post("/tasks/<task_id>/reassign")
@login_required
def reassign(task_id: str):
    data = body()
    who = reassign_task(rt(), viewer().username, task_id[:36], str(data.get("to") or "")[:64], now())
    return jsonify({"ok": True, "assignee": who})


@bp.get("/processes")
@login_required
def processes():
    procs = startable(rt(), viewer(), now())
    return jsonify({"processes": [{"key": p.key, "name": p.name, "description": p.documentation,
                                   "effective_from": p.effective_from, "effective_to": p.effective_to,
                                   "expired": p.expired, "message": p.refusal, "form": p.schema} for p in procs]})


@bp.post("/processes/<key>/start")
@login_required
def start(key: str):
    data = body()
    proc = procedure(rt(), viewer(), key[:64], now())
    if "catalogue_entry" in ((proc.schema or {}).get("properties") or {}) and isinstance(data, dict):
        # whether a standing authorisation covers the query is the system's to say, never the client's
        data, choice_errors = catalogue.query_choice(rt(), viewer().unit_code, data)
        if choice_errors and (data.get("catalogue_entry") or data.get("no_entry_reason")):
            raise Invalid(_("请按提示修改后再提交"), choice_errors)
    instance_id = start_process(rt(), viewer().username, proc.key, data, now())
    catalogue.log_read(rt(), viewer().username, instance_id, data, now())
    return jsonify({"instance_id": instance_id, "next_task": first_task_for(rt(), viewer(), instance_id)}), 201


@bp.get("/instances/<int:instance_id>")
@login_required
def instance(instance_id: int):
    return jsonify(jsonable(instance_summary(rt(), viewer(), instance_id, now())))


@bp.post("/instances/<int:instance_id>/withdraw")
@login_required
def withdraw(instance_id: int):
    instance_summary(rt(), viewer(), instance_id, now())
    withdraw_instance(rt(), viewer().username, instance_id, str(body().get("reason") or ""), now())
    return jsonify({"instance_id": instance_id, "status": "withdrawn"})


@bp.post("/instances/<int:instance_id>/close")
@login_required
def close(instance_id: int):
    instance_summary(rt(), viewer(), instance_id, now())
    close_instance(rt(), viewer().username, instance_id, str(body().get("reason") or ""), now())
    return jsonify({"instance_id": instance_id, "status": "closed"})


@bp.get("/notices")
@login_required
def my_notices():
    """The notices told to the viewer's unit, unread first; ?unread=1 for the unread ones only."""
    unread_only = request.args.get("unread") in ("1", "true")
    rows = notices(rt(), viewer(), unread_only=unread_only, limit=200)
    return jsonify({"notices": jsonable(rows), "unread": unread_notices(rt(), viewer())})


@bp.post("/notices/<int:notice_id>/read")
@login_required
def read_notice(notice_id: int):
    row = mark_read(rt(), viewer().username, notice_id, now())
    return jsonify({"id": row.id, "read_at": jsonable(row.read_at), "read_by": row.read_by})


@bp.get("/reminders")
@login_required
def my_reminders():
    """The open tasks of the viewer's unit inside their procedure's reminder window."""
    return jsonify({"tasks": [task_json(r) for r in reminders(rt(), viewer(), now())]})
