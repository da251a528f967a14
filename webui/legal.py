"""Legal staff's pages: the version library, a version read as diagram and text, the successor form, the draft's
scenarios, the activation gate, upload and download, and the traceability report.

Everyone signed in may read these pages; only legal staff and administrators change anything (the services
check it, and audit a refusal)."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from runner import access
from runner.engine import rule_ids
from runner.errors import Invalid
from runner.procedure_text import procedure_text
from runner.trace import trace
from runner.versions import (
    STATUS_WORDS,
    GateRefused,
    activate,
    create_successor,
    delete_scenario,
    get_version,
    import_bytes,
    list_versions,
    save_scenario,
    version_problems,
)
from webui.web import now, rt, units, viewer

bp = Blueprint("legal", __name__, url_prefix="/legal")
MAX_KEY = 64


def may_edit() -> bool:
    return access.is_admin(viewer())


@bp.app_context_processor
def _legal_globals():
    return {"may_edit_versions": lambda: access.is_admin(viewer()), "status_words": STATUS_WORDS,
            "scenario_title": scenario_title}


def scenario_title(text: str, name: str) -> str:
    """The scenario's own Chinese name (its `name:`), else its key."""
    import yaml

    try:
        doc = yaml.safe_load(text or "")
    except yaml.YAMLError:
        return name
    return str(doc.get("name") or name) if isinstance(doc, dict) else name


def _procedure(key: str):
    """The procedure KEY from the library (404 when unknown)."""
    return list_versions(rt(), now(), key[:MAX_KEY])[0]


@bp.get("/")
@login_required
def library():
    return render_template("legal/library.html", procedures=list_versions(rt(), now()), today=now())


def _diagram_payload(xml: str, deadlines: dict[str, str] | None = None) -> dict:
    """What static/instance.js reads: the XML, the clauses it cites, a deadline per element; no states."""
    r = rt()
    rules = {rid: r.originals.get(rid) or r.rules.get(rid, "") for rid in rule_ids(xml) if rid in r.rules}
    return {"xml": xml, "states": {}, "rules": rules, "timers": deadlines or {}, "late": {}}


@bp.get("/<key>/<int:version>")
@login_required
def read(key: str, version: int):
    row = get_version(rt(), key[:MAX_KEY], version)
    r = rt()
    text = procedure_text(row.bpmn_xml, row.forms or {}, units(), r.rules, r.originals, r.engine.config)
    problems = version_problems(r, row) if row.status == "draft" else []
    return render_template("legal/read.html", row=row, text=text, problems=problems,
                           proc=_procedure(key), payload=_diagram_payload(row.bpmn_xml, text.deadlines))


@bp.get("/<key>/<int:version>/download")
@login_required
def download(key: str, version: int):
    row = get_version(rt(), key[:MAX_KEY], version)
    return Response(row.bpmn_xml.encode("utf-8"), mimetype="application/xml", headers={
        "Content-Disposition": f'attachment; filename="{row.process_key}-v{row.version}.bpmn"'})


@bp.route("/<key>/successor", methods=["GET", "POST"])
@login_required
def successor(key: str):
    proc = _procedure(key)
    form = {k: (request.form.get(k) or "").strip() for k in ("start", "end", "basis_number", "basis_title",
                                                            "comment")}
    if request.method == "GET":
        return render_template("legal/successor.html", proc=proc, form=form, errors={})
    try:
        row = create_successor(rt(), proc.process_key, form["start"], form["end"] or None, form["basis_number"],
                               form["basis_title"], form["comment"][:2000], viewer().username, now(),
                               user=viewer())
    except Invalid as exc:
        return render_template("legal/successor.html", proc=proc, form=form, errors=exc.field_errors,
                               message=exc.message), exc.status
    flash(_("已建立第 %(v)s 版草稿。请检查其场景，然后运行检验并启用。", v=row.version), "success")
    return redirect(url_for("legal.read", key=row.process_key, version=row.version))


@bp.route("/<key>/<int:version>/scenarios", methods=["GET", "POST"])
@login_required
def scenarios(key: str, version: int):
    row = get_version(rt(), key[:MAX_KEY], version)
    chosen = (request.values.get("name") or "").strip()[:200]
    if request.method == "POST":
        if request.form.get("delete"):
            delete_scenario(rt(), row.process_key, version, chosen, viewer(), now())
            flash(_("已删除该场景"), "success")
            return redirect(url_for("legal.scenarios", key=row.process_key, version=version))
        original = (request.form.get("original") or "").strip()[:200] or None
        text = request.form.get("text") or ""
        try:
            row = save_scenario(rt(), row.process_key, version, chosen, text, viewer(), now(), original)
        except Invalid as exc:
            return render_template("legal/scenarios.html", row=row, chosen=chosen, original=original,
                                   text=text, errors=exc.field_errors, message=exc.message), exc.status
        flash(_("场景已保存"), "success")
        return redirect(url_for("legal.scenarios", key=row.process_key, version=version, name=chosen))
    if chosen and chosen not in (row.scenarios or {}) and request.args.get("new") is None:
        return render_template("legal/scenarios.html", row=row, chosen="", original=None, text="", errors={},
                               message=_("没有该场景")), 404
    text = (row.scenarios or {}).get(chosen, "")
    return render_template("legal/scenarios.html", row=row, chosen=chosen, original=chosen or None, text=text,
                           errors={})


@bp.route("/<key>/<int:version>/activate", methods=["GET", "POST"])
@login_required
def activate_page(key: str, version: int):
    row = get_version(rt(), key[:MAX_KEY], version)
    reason = (request.form.get("reason") or "").strip()[:2000]
    if request.method == "GET":
        return render_template("legal/activate.html", row=row, reason="", gate=None, errors={})
    try:
        row, gate = activate(rt(), row.process_key, version, viewer().username, reason, now(), user=viewer())
    except GateRefused as exc:
        return render_template("legal/activate.html", row=row, reason=reason, gate=exc.gate, errors={},
                               message=_("未通过场景检验，未启用")), 422
    except Invalid as exc:
        return render_template("legal/activate.html", row=row, reason=reason, gate=None,
                               errors=exc.field_errors, message=exc.message), exc.status
    flash(_("已启用第 %(v)s 版：%(n)s 个场景全部通过", v=row.version, n=len(gate.passed)), "success")
    return render_template("legal/activate.html", row=row, reason=reason, gate=gate, errors={}, done=True)


@bp.route("/import", methods=["GET", "POST"])
@login_required
def upload():
    if request.method == "GET":
        return render_template("legal/import.html", report=None, errors={})
    if not may_edit():
        access.deny(rt(), viewer().username, "导入流程图", "只有法制审核人员或管理员可以更改流程版本", now())
        return render_template("legal/import.html", report=None, errors={},
                               message=_("只有法制审核人员或管理员可以导入流程图")), 403
    file = request.files.get("file")
    if file is None or not file.filename:
        return render_template("legal/import.html", report=None, errors={"file": _("请选择一个 .bpmn 文件")},
                               message=_("没有收到文件")), 422
    try:
        data = file.read()
    finally:
        file.close()  # a large upload is spooled to a temporary file; let it go now
    filename = file.filename[:200]
    from runner.validate import import_report

    report = import_report(data, filename, engine=rt().engine, rules=rt().rules)
    xml = _shown_xml(data) if report.shown else None
    if report.shown and not report.blockers:
        try:
            row = import_bytes(rt(), data, filename, viewer(), now(), (request.form.get("comment") or "")[:2000])
        except Invalid as exc:
            return _refused(report, xml, exc.message, exc.status)
        flash(_("已导入为第 %(v)s 版草稿", v=row.version), "success")
        return redirect(url_for("legal.read", key=row.process_key, version=row.version))
    return _refused(report, xml, _("该流程图不能在此运行，未保存；以下是逐项说明"), 422)


def _shown_xml(data: bytes) -> str | None:
    from runner.diagram_io import DiagramRefused, load_diagram

    try:
        return load_diagram(data).text
    except DiagramRefused:
        return None


def _refused(report, xml, message: str, status: int):
    payload = _diagram_payload(xml) if xml else None
    return render_template("legal/import.html", report=report, payload=payload, errors={},
                           message=message), status


@bp.get("/trace")
@login_required
def trace_page():
    return render_template("legal/trace.html", report=trace(rt(), now()))
