"""The enforcement information resource catalogue (执法信息资源目录) at /catalogue: every unit's entries; a
unit's staff publish and change their own, and grant other units standing access to an entry."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from runner import catalogue
from runner.errors import Invalid
from runner.queries import units_by_kind
from webui.web import now, rt, units, viewer

bp = Blueprint("catalogue", __name__)


@bp.app_context_processor
def _query_entry():
    """The task page shows the entry a query chose: the answer follows it (fields, mode, restriction)."""
    return {"query_entry": lambda data: catalogue.entry_of(rt(), data)}


def _page(errors: dict | None = None, form: dict | None = None, status: int = 200, edit: int | None = None):
    unit = request.args.get("unit", "")[:64]
    unit = unit if unit in units() else ""
    me = viewer()
    return render_template("catalogue/index.html", entries=catalogue.entries(rt(), unit or None), unit=unit,
                           modes=catalogue.ANSWER_MODES, may_keep=catalogue.may_keep(me, me.unit_code),
                           my_unit=me.unit_code, errors=errors or {}, form=form or {}, edit=edit,
                           unit_list=units_by_kind(rt())), status


@bp.get("/catalogue")
@login_required
def index():
    return _page()


@bp.post("/catalogue")
@login_required
def save():
    entry = request.form.get("entry", "")
    form = {k: request.form.get(k, "") for k in ("name", "description", "fields", "answer_mode", "restriction_basis")}
    try:
        catalogue.save_entry(rt(), viewer().username, form, now(), int(entry) if entry.isdigit() else None)
    except Invalid as exc:
        flash(exc.message, "error")
        return _page(exc.field_errors, form, 422, int(entry) if entry.isdigit() else None)
    flash(_("目录条目已保存"), "success")
    return redirect(url_for("catalogue.index", unit=viewer().unit_code))


@bp.post("/catalogue/<int:entry_id>/grant")
@login_required
def grant(entry_id: int):
    try:
        catalogue.grant(rt(), viewer().username, entry_id, request.form.get("grantee_unit", "")[:64], now())
    except Invalid as exc:
        flash(exc.message, "error")
        return _page(exc.field_errors, {}, 422)
    flash(_("已授予常设查询授权"), "success")
    return redirect(url_for("catalogue.index", unit=viewer().unit_code))
