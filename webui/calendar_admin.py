"""The holiday schedule page (administrators only): upload or paste a year's State Council schedule, preview
its working days, confirm it, and see which waiting deadlines moved. Also the banner shown on every page
from weeks before the loaded schedule runs out."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.exc import SQLAlchemyError

from runner.access import deny
from runner.calendar import TZ, local_date
from runner.holidays import (
    ScheduleInvalid,
    load_schedule,
    loaded_list,
    package_years,
    parse_schedule,
    preview,
    schedule_due,
    year_of_package,
    year_schedule,
)
from webui.web import now, rt, viewer

log = logging.getLogger(__name__)
bp = Blueprint("calendar_admin", __name__, url_prefix="/admin/calendar")

# Who is told that next year's schedule is due: administrators, legal staff (法制审核) and the supervision
# office, whose deadlines depend on it.
BANNER_ROLES = frozenset({"admin", "legal_staff", "supervision_officer"})
MAX_TEXT = 200_000


@bp.app_context_processor
def _banner():
    def holiday_banner() -> dict | None:
        if not current_user.is_authenticated or viewer().role not in BANNER_ROLES:
            return None
        try:
            due = schedule_due(rt().calendar, local_date(now()))
        except SQLAlchemyError:  # a banner never turns a page (an error page, say) into a failure of its own
            log.exception("holiday schedule banner: loaded years could not be read")
            return None
        return {"year": due[0], "last": due[1], "admin": viewer().role == "admin"} if due else None
    return {"holiday_banner": holiday_banner}


@bp.before_request
@login_required
def _admins_only():
    if viewer().role != "admin":
        raise deny(rt(), viewer().username, "calendar", _("只有系统管理员可以管理节假日安排"), now())


@bp.get("/")
def index():
    return _form_page()


@bp.post("/preview")
def preview_schedule():
    text = request.form.get("schedule", "")[:MAX_TEXT]
    try:
        text = _submitted_text(text)
        schedule = parse_schedule(text)
    except ScheduleInvalid as exc:
        return _form_page(text, exc.errors), 400
    view = preview(rt().calendar, schedule)
    return render_template("calendar_admin/preview.html", view=view, text=_canonical(schedule),
                           replacing=year_schedule(rt(), schedule.year))


@bp.post("/confirm")
def confirm():
    text = request.form.get("schedule", "")[:MAX_TEXT]
    try:
        schedule = parse_schedule(text)
    except ScheduleInvalid as exc:
        return _form_page(text, exc.errors), 400
    load_schedule(rt(), viewer().username, schedule, now())
    return redirect(url_for("calendar_admin.result", year=schedule.year))


@bp.get("/<int:year>/result")
def result(year: int):
    row = next((y for y in loaded_list(rt()) if y.year == year), None)
    if row is None:
        abort(404)
    moves = [{**m, "old": datetime.fromisoformat(m["old"]), "new": datetime.fromisoformat(m["new"])}
             for m in row.moves]
    return render_template("calendar_admin/result.html", row=row, moves=moves)


@bp.get("/<int:year>")
def show(year: int):
    schedule = year_schedule(rt(), year)
    source = "loaded" if schedule else "package"
    schedule = schedule or year_of_package(rt().calendar, year)
    if schedule is None:
        abort(404)
    return render_template("calendar_admin/show.html", view=preview(rt().calendar, schedule), source=source)


def _form_page(text: str = "", errors: dict | None = None):
    first, last = package_years()
    return render_template("calendar_admin/index.html", years=loaded_list(rt()), first=first, last=last,
                           text=text, errors=errors or {}, this_year=local_date(now()).year, tz=TZ)


def _submitted_text(pasted: str) -> str:
    """The uploaded file's text if a file was chosen, else what was pasted."""
    upload = request.files.get("file")
    if not (upload and upload.filename):
        return pasted
    raw = upload.read(MAX_TEXT + 1)
    if len(raw) > MAX_TEXT:
        raise ScheduleInvalid({"file": [_("文件过大：一年的节假日安排不应超过 200 KB")]})
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ScheduleInvalid({"file": [_("文件应为 UTF-8 编码的 JSON 或 YAML 文本")]}) from None


def _canonical(schedule) -> str:
    import json

    return json.dumps(schedule.as_json(), ensure_ascii=False, indent=1)
