"""The task inbox (home page) and a unit head's view of the unit's tasks, claim / release / delegate / reassign, and
the user's own history."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from runner.errors import DomainError
from runner.queries import (
    SCOPES,
    STATUSES,
    InboxFilters,
    Page,
    colleagues,
    history,
    inbox,
    notified_cases,
    procedure_names,
    unit_work,
)
from runner.queries.notices import notices, reminders, unread_notices
from runner.services import claim_task, delegate_task, reassign_task, release_task
from webui.inputs import MAX_PAGE, QueryArgs, bad_query
from webui.web import now, rt, safe_next, viewer

bp = Blueprint("inbox", __name__)
PER_PAGE = 20


def parse_filters(args) -> tuple[InboxFilters, dict[str, str]]:
    """The inbox filters from the query string, and an error per parameter whose value is unknown
    (an unknown status or procedure, an impossible date, a page out of range): these used to be ignored."""
    qa = QueryArgs(args)
    filters = InboxFilters(
        process_key=qa.choice("process", dict(procedure_names(rt()))), status=qa.choice("status", STATUSES),
        due_from=qa.day("due_from"), due_to=qa.day("due_to"), q=qa.text("q"),
        page=qa.number("page", 1, 1, MAX_PAGE), per_page=qa.number("per_page", PER_PAGE, 1, 100))
    if filters.due_from and filters.due_to and filters.due_from > filters.due_to:
        qa.error("due_to", _("不能早于「期限自」"))
    return filters, qa.errors


def filters_from(args) -> InboxFilters:
    """The inbox filters, or BadInput (400) naming each refused parameter."""
    filters, errors = parse_filters(args)
    if errors:
        raise bad_query(errors)
    return filters


def page_arg(args) -> int:
    qa = QueryArgs(args)
    page = qa.number("page", 1, 1, MAX_PAGE)
    qa.check()
    return page


def scope_from(args) -> str:
    """The inbox's scope: "" (the viewer's own tasks) or "unit" (a unit head's view); anything else is a 400."""
    scope = args.get("scope") or ""
    if scope and scope not in SCOPES:
        raise DomainError(_("查看范围的取值无效"), {"scope": _("查看范围的取值无效")})  # 400
    return scope


@bp.get("/")
@login_required
def index():
    filters, errors = parse_filters(request.args)
    filters.scope = scope_from(request.args)
    if filters.scope == "unit" and not errors:
        return _unit_view(filters)
    # refused filters show no rows (not every row, as if they had been ignored) and the error beside them
    page = Page([], 0, 1, filters.per_page) if errors else inbox(rt(), viewer(), filters, now())
    warning = None  # the holiday schedule's banner is on every page now (calendar_admin/_banner.html)
    told = _told()
    return render_template("inbox/index.html", page=page, filters=filters, statuses=STATUSES, **told,
                           colleagues=colleagues(rt(), viewer()), notified=notified_cases(rt(), viewer()), now=now(),
                           calendar_warning=warning, filter_errors=errors,
                           filter_message=bad_query(errors).message if errors else None), 400 if errors else 200


def _told() -> dict:
    """The reminders of the viewer's unit and its latest notices, shown above the inbox."""
    return {"reminders": reminders(rt(), viewer(), now()), "notices": notices(rt(), viewer(), limit=10),
            "unread_notices": unread_notices(rt(), viewer())}


def _unit_view(filters: InboxFilters):
    work = unit_work(rt(), viewer(), filters, now())
    members = [(viewer().username, viewer().display_name), *colleagues(rt(), viewer())]
    return render_template("inbox/index.html", page=work.page, filters=filters, statuses=STATUSES,
                           unit_view=work, members=members, colleagues=[], notified=[], now=now(),
                           calendar_warning=None)


@bp.get("/history")
@login_required
def my_history():
    page = history(rt(), viewer(), page_arg(request.args), PER_PAGE, now())
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
