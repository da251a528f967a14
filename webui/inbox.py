"""The task inbox (home page), claim / release / delegate, and the user's own history."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from runner.calendar import local_date
from runner.queries import STATUSES, InboxFilters, Page, colleagues, history, inbox, notified_cases, procedure_names
from runner.services import claim_task, delegate_task, release_task
from webui.inputs import MAX_PAGE, QueryArgs, bad_query
from webui.web import now, rt, safe_next, viewer

bp = Blueprint("inbox", __name__)
PER_PAGE = 20
ADMIN_ROLES = ("admin", "legal_staff")  # who can load the next year's holiday schedule


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


@bp.get("/")
@login_required
def index():
    filters, errors = parse_filters(request.args)
    # refused filters show no rows (not every row, as if they had been ignored) and the error beside them
    page = Page([], 0, 1, filters.per_page) if errors else inbox(rt(), viewer(), filters, now())
    warning = rt().calendar.coverage_warning(local_date(now())) if viewer().role in ADMIN_ROLES else None
    return render_template("inbox/index.html", page=page, filters=filters, statuses=STATUSES,
                           colleagues=colleagues(rt(), viewer()), notified=notified_cases(rt(), viewer()), now=now(),
                           calendar_warning=warning, filter_errors=errors,
                           filter_message=bad_query(errors).message if errors else None), 400 if errors else 200


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
