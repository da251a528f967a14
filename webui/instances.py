"""The instance page: coloured diagram (bpmn-js), current tasks, audit history, process data, files."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import login_required

from runner import access
from runner.engine import rule_ids
from runner.errors import Invalid
from runner.lifecycle import close_instance, withdraw_instance
from runner.queries import CaseFilters, Page, cases, instance_detail, instance_summary, procedure_names
from runner.queries.dashboard import MEASURES, period_for
from webui.dashboard import measure_names
from webui.inputs import MAX_PAGE, QueryArgs, bad_query
from webui.lateness import late_days_text
from webui.readable import Readable
from webui.uploads import case_file
from webui.web import now, rt, select_locale, units, viewer

bp = Blueprint("instances", __name__)


@bp.app_context_processor
def _rule_text():
    def rule_text(rid: str, text: str) -> str:
        """The Chinese restatement of a rule, or RULES.md's English one in the English locale."""
        return rt().rules_en.get(rid, text) if select_locale().startswith("en") else text
    return {"rule_text": rule_text}


def case_filters(args) -> tuple[CaseFilters, dict[str, str]]:
    """The case-list filters, and an error per parameter whose value is unknown (these used to be ignored).

    unit, show and quarter are the dashboard's drill-down: the matters behind one of its numbers."""
    qa = QueryArgs(args)
    filters = CaseFilters(process_key=qa.choice("process", dict(procedure_names(rt()))),
                          status=qa.choice("status", ("running", "completed")), q=qa.text("q"),
                          page=qa.number("page", 1, 1, MAX_PAGE),
                          unit=qa.choice("unit", units()), show=qa.choice("show", MEASURES))
    quarter = qa.text("quarter", 10)
    if quarter or filters.show:
        try:
            filters.period = period_for(quarter, now())
        except ValueError:
            qa.error("quarter", _("季度应写成 2026Q1 这样的形式，且不晚于本季度"))
    return filters, qa.errors


@bp.get("/instances")
@login_required
def index():
    filters, errors = case_filters(request.args)
    page = Page([], 0, 1, filters.per_page) if errors else cases(rt(), viewer(), filters)
    return render_template("instances/index.html", page=page, filters=filters, filter_errors=errors,
                           measure_names=measure_names(), unit_choices=sorted(units().items(), key=lambda u: u[1]),
                           filter_message=bad_query(errors).message if errors else None), 400 if errors else 200


@bp.get("/instances/<int:instance_id>")
@login_required
def show(instance_id: int):
    detail = instance_detail(rt(), viewer(), instance_id, now())
    readable = Readable(detail.forms, units(), detail.people, detail.variables)
    overlay = {"states": detail.element_states,
               "rules": {rid: detail.rules[rid] for rid in rule_ids(detail.bpmn_xml) if rid in detail.rules},
               "timers": detail.timer_texts,
               "late": {element_id: late_days_text(days) for element_id, days in detail.late.items()}}
    me = viewer()
    running = detail.status == "running"
    may_withdraw = running and access.may_withdraw(me, detail.initiator, detail.initiator_unit)
    may_close = running and access.may_close(me)
    return render_template("instances/show.html", inst=detail, case_items=readable.items(detail.data),
                           other_items=readable.others(detail.data),
                           overlay=overlay, people=detail.people, readable=readable, now=now(),
                           may_withdraw=may_withdraw, may_close=may_close)


@bp.post("/instances/<int:instance_id>/withdraw")
@login_required
def withdraw(instance_id: int):
    return _end_matter(instance_id, withdraw_instance, _("已撤回"))


@bp.post("/instances/<int:instance_id>/close")
@login_required
def close(instance_id: int):
    return _end_matter(instance_id, close_instance, _("已督查结案"))


def _end_matter(instance_id: int, service, done: str):
    """Withdraw or close with the reason typed on the case page; a refusal is shown there (422)."""
    instance_summary(rt(), viewer(), instance_id, now())  # 404 for a case the viewer may not read
    try:
        service(rt(), viewer().username, instance_id, request.form.get("reason", ""), now())
    except Invalid as exc:
        flash(exc.message, "error")
        return show(instance_id), 422
    flash(done, "success")
    return redirect(url_for("instances.show", instance_id=instance_id))


@bp.get("/instances/<int:instance_id>/files/<sha256>/<path:name>")
@login_required
def download(instance_id: int, sha256: str, name: str):
    summary = instance_summary(rt(), viewer(), instance_id, now())
    path = case_file(rt(), instance_id, sha256, name, summary["data"])
    return send_file(path, as_attachment=True, download_name=name)
