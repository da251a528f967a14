"""The task inbox (home page) and a unit head's view of the unit's tasks, claim / release / delegate / reassign, and
the user's own history."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from runner.access import is_admin
from runner.calendar import local_date
from runner.errors import DomainError
from runner.queries import SCOPES, STATUSES, InboxFilters, colleagues, history, inbox, notified_cases, unit_work
from runner.services import claim_task, delegate_task, reassign_task, release_task
from webui.web import date_arg, int_arg, now, rt, safe_next, viewer

bp = Blueprint("inbox", __name__)
PER_PAGE = 20


def filters_from(args) -> InboxFilters:
    status = args.get("status", "")
    return InboxFilters(
        process_key=(args.get("process") or "")[:64], status=status if status in STATUSES else "",
        due_from=date_arg(args.get("due_from")), due_to=date_arg(args.get("due_to")),
        q=(args.get("q") or "").strip()[:100], page=int_arg(args.get("page")),
        per_page=int_arg(args.get("per_page"), PER_PAGE, 1, 100))


def scope_from(args) -> str:
    """The inbox's scope: "" (the viewer's own tasks) or "unit" (a unit head's view); anything else is a 400."""
    scope = args.get("scope") or ""
    if scope and scope not in SCOPES:
        raise DomainError(_("查看范围（scope）的取值无效"), {"scope": _("查看范围（scope）的取值无效")})  # 400
    return scope


@bp.get("/")
@login_required
def index():
    filters = filters_from(request.args)
    filters.scope = scope_from(request.args)
    if filters.scope == "unit":
        return _unit_view(filters)
    page = inbox(rt(), viewer(), filters, now())
    warning = rt().calendar.coverage_warning(local_date(now())) if is_admin(viewer()) else None
    return render_template("inbox/index.html", page=page, filters=filters, statuses=STATUSES,
                           colleagues=colleagues(rt(), viewer()), notified=notified_cases(rt(), viewer()), now=now(),
                           calendar_warning=warning)


def _unit_view(filters: InboxFilters):
    work = unit_work(rt(), viewer(), filters, now())
    members = [(viewer().username, viewer().display_name), *colleagues(rt(), viewer())]
    return render_template("inbox/index.html", page=work.page, filters=filters, statuses=STATUSES,
                           unit_view=work, members=members, colleagues=[], notified=[], now=now(),
                           calendar_warning=None)


@bp.get("/history")
@login_required
def my_history():
    page = history(rt(), viewer(), int_arg(request.args.get("page")), PER_PAGE, now())
    return render_template("inbox/history.html", page=page)


def _back():
    return redirect(safe_next(request.form.get("next"), url_for("inbox.index")))


@bp.post("/tasks/<task_id>/claim")
@login_required
def claim(task_id: str):
    claim_task(rt(), viewer().username, task_id[:36], now())
    flash(_("已签收"), "success")
    return _back()


@bp.post("/tasks/<task_id>/release")
@login_required
def release(task_id: str):
    release_task(rt(), viewer().username, task_id[:36], now())
    flash(_("已退回待签"), "success")
    return _back()


@bp.post("/tasks/<task_id>/delegate")
@login_required
def delegate(task_id: str):
    target = (request.form.get("to") or "").strip()[:64]
    delegate_task(rt(), viewer().username, task_id[:36], target, now())
    flash(_("已转办给 %(who)s", who=target), "success")
    return _back()


@bp.post("/tasks/<task_id>/reassign")
@login_required
def reassign(task_id: str):
    target = (request.form.get("to") or "").strip()[:64]
    who = reassign_task(rt(), viewer().username, task_id[:36], target, now())
    flash(_("已改派给 %(who)s", who=who), "success")
    return _back()
