"""The instance page: coloured diagram (bpmn-js), current tasks, audit history, process data, files."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request, send_file
from flask_login import login_required

from runner.engine import rule_ids
from runner.queries import CaseFilters, cases, instance_detail, instance_summary
from webui.readable import Readable
from webui.uploads import references, upload_path
from webui.web import int_arg, now, rt, select_locale, units, viewer

bp = Blueprint("instances", __name__)


@bp.app_context_processor
def _rule_text():
    def rule_text(rid: str, text: str) -> str:
        """The Chinese restatement of a rule, or RULES.md's English one in the English locale."""
        return rt().rules_en.get(rid, text) if select_locale().startswith("en") else text
    return {"rule_text": rule_text}


def case_filters(args) -> CaseFilters:
    status = args.get("status", "")
    return CaseFilters(process_key=(args.get("process") or "")[:64],
                       status=status if status in ("running", "completed") else "",
                       q=(args.get("q") or "").strip()[:100], page=int_arg(args.get("page")))


@bp.get("/instances")
@login_required
def index():
    filters = case_filters(request.args)
    return render_template("instances/index.html", page=cases(rt(), viewer(), filters), filters=filters)


@bp.get("/instances/<int:instance_id>")
@login_required
def show(instance_id: int):
    detail = instance_detail(rt(), viewer(), instance_id, now())
    readable = Readable(detail.forms, units(), detail.people, detail.variables)
    overlay = {"states": detail.element_states,
               "rules": {rid: detail.rules[rid] for rid in rule_ids(detail.bpmn_xml) if rid in detail.rules},
               "timers": detail.timer_texts}
    return render_template("instances/show.html", inst=detail, case_items=readable.items(detail.data),
                           other_items=readable.others(detail.data),
                           overlay=overlay, people=detail.people, readable=readable, now=now())


@bp.get("/instances/<int:instance_id>/files/<sha256>/<path:name>")
@login_required
def download(instance_id: int, sha256: str, name: str):
    summary = instance_summary(rt(), viewer(), instance_id, now())
    path = upload_path(sha256)
    if path is None or not references(summary["data"], f"upload:{sha256}/{name}"):
        abort(404)
    return send_file(path, as_attachment=True, download_name=name)
