"""Outcome notices (list, mark read) and, for administrators, the timers the worker could not fire."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from runner.notices import mark_read as mark_notice_read
from runner.queries.notices import notices, troubled_timers, unread_notices
from runner.worker import retry_timer
from webui.web import now, rt, safe_next, viewer

bp = Blueprint("notices", __name__)


@bp.get("/notices")
@login_required
def index():
    rows = notices(rt(), viewer(), limit=200)
    return render_template("notices/index.html", notices=rows, unread=unread_notices(rt(), viewer()))


@bp.post("/notices/<int:notice_id>/read")
@login_required
def mark_read(notice_id: int):
    mark_notice_read(rt(), viewer().username, notice_id, now())
    flash(_("已标为已读"), "success")
    return redirect(safe_next(request.form.get("next"), url_for("inbox.index")))


@bp.get("/admin/timers")
@login_required
def timers():
    return render_template("notices/timers.html", timers=troubled_timers(rt(), viewer(), now()), now=now())


@bp.post("/admin/timers/<timer_id>/retry")
@login_required
def retry(timer_id: str):
    name = retry_timer(rt(), viewer().username, timer_id[:36], now())
    flash(_("已重新排队：%(name)s", name=name), "success")
    return redirect(url_for("notices.timers"))
