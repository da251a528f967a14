"""Documents of a case (issue, read, print, PDF, sign for) and evidence corrections added from the case page."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from runner import catalogue, evidence
from runner import documents as docs
from runner.errors import Invalid
from runner.queries import instance_summary
from webui.uploads import save_upload, upload_errors
from webui.web import now, rt, viewer

bp = Blueprint("documents", __name__)

# The kinds' names as the pages show them (the issued document itself stays as written, in Chinese).
KIND_TITLES = {
    "transfer_letter": _l("涉嫌违法案件移送函"),
    "linkage_plan": _l("联动执法方案"),
    "county_notice": _l("关于开展联动执法的通知"),
    "query_request": _l("执法信息查询函"),
    "query_answer": _l("执法信息查询答复函"),
    "supervision_notice": _l("督办通知"),
    "meeting_minutes": _l("联动执法联席会议纪要"),
}


def kind_title(kind: str) -> str:
    """KIND's name in the page's language (its Chinese title where no translation is known)."""
    return str(KIND_TITLES[kind]) if kind in KIND_TITLES else docs.KINDS[kind].title if kind in docs.KINDS else kind


@bp.app_context_processor
def _case_panels():
    """The case page's documents and evidence panels read through these (the case view stays as it was)."""
    return {"kind_title": kind_title,
            "case_documents": lambda instance_id: docs.documents_of(rt(), viewer(), instance_id),
            "case_evidence": lambda instance_id: evidence.files_of(rt(), instance_id),
            "form_documents": _form_documents,
            "documents_to_sign": lambda instance_id: [d for d in docs.documents_of(rt(), viewer(), instance_id)
                                                      if d.may_acknowledge and not d.superseded_by]}


def _form_documents(instance_id: int, schema: dict | None) -> list[dict]:
    """The documents a task's form takes fields from, each with its latest issue and the fields it fills
    (for the task page, which shows a refusal about those fields in the document's panel)."""
    fields: dict[str, list[str]] = {}
    for name, prop in ((schema or {}).get("properties") or {}).items():
        if isinstance(prop, dict) and prop.get("x-from-document"):
            fields.setdefault(str(prop["x-from-document"]).split(".")[0], []).append(name)
    may = {k.key for k in docs.issuable(rt(), viewer(), instance_id)}
    return [{"kind": k, "title": kind_title(k), "latest": docs.latest(rt(), instance_id, k), "may": k in may,
             "fields": names} for k, names in sorted(fields.items()) if k in docs.KINDS]


def _upload_dir() -> Path:
    return Path(current_app.config["UPLOAD_DIR"])


@bp.get("/instances/<int:instance_id>/documents")
@login_required
def index(instance_id: int, errors: dict | None = None, form: dict | None = None, status: int = 200):
    summary = instance_summary(rt(), viewer(), instance_id, now())  # 404/403 for a case one may not read
    return render_template("documents/index.html", inst=summary,
                           documents=docs.documents_of(rt(), viewer(), instance_id),
                           kinds=docs.issuable(rt(), viewer(), instance_id), errors=errors or {},
                           form=form or {}, files=evidence.files_of(rt(), instance_id)), status


@bp.post("/instances/<int:instance_id>/documents/<kind>")
@login_required
def issue(instance_id: int, kind: str):
    instance_summary(rt(), viewer(), instance_id, now())
    fields = {k: request.form.get(k, "") for k in ("contact", "phone", "legal_basis", "note", "opinion", "reply_by",
                                                   "correction")}
    supersedes = request.form.get("supersedes", "")
    try:
        doc_id = docs.issue_document(rt(), viewer().username, instance_id, kind[:32], now(), fields,
                                     int(supersedes) if supersedes.isdigit() else None, _upload_dir())
    except Invalid as exc:
        flash(exc.message, "error")
        return index(instance_id, exc.field_errors, fields | {"kind": kind}, 422)
    flash(_("文书已出具"), "success")
    back = request.form.get("next", "")
    if back.startswith("/tasks/"):
        return redirect(back)
    return redirect(url_for("documents.show", doc_id=doc_id))


@bp.get("/documents/templates")
@login_required
def templates():
    """The document templates, readable by legal staff, with the versions issued documents were written from."""
    return render_template("documents/templates.html", library=docs.template_library(rt()),
                           layout=docs.template_text("transfer_letter")[1])


@bp.get("/documents/<int:doc_id>")
@login_required
def show(doc_id: int):
    doc = docs.document(rt(), viewer(), doc_id, now())
    catalogue.audit_answer_letter_read(rt(), viewer(), doc_id, now(), "page")
    return render_template("documents/show.html", doc=doc)


@bp.get("/documents/<int:doc_id>/print")
@login_required
def printable(doc_id: int):
    """The stored HTML exactly as issued (its sha256 is in the audit log): print it from the browser."""
    doc = docs.document(rt(), viewer(), doc_id, now())
    catalogue.audit_answer_letter_read(rt(), viewer(), doc_id, now(), "print")
    return Response(doc.html, mimetype="text/html")


@bp.get("/documents/<int:doc_id>/pdf")
@login_required
def pdf(doc_id: int):
    doc = docs.document(rt(), viewer(), doc_id, now())
    body = docs.pdf_bytes(doc.html)
    catalogue.audit_answer_letter_read(rt(), viewer(), doc_id, now(), "pdf")
    filename = f"{doc.title}{doc.number}.pdf"
    resp = Response(body, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = f"inline; filename*=UTF-8''{_quote(filename)}"
    return resp


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


@bp.post("/documents/<int:doc_id>/receipt")
@login_required
def receipt(doc_id: int):
    doc = docs.document(rt(), viewer(), doc_id, now(), action="acknowledge")
    try:
        day = docs.acknowledge(rt(), viewer().username, doc_id, now())
    except Invalid as exc:
        flash(exc.message, "error")
        return render_template("documents/show.html", doc=doc), 422
    flash(_("已签收，收到日期 %(day)s", day=day), "success")
    return redirect(url_for("documents.show", doc_id=doc_id))


@bp.post("/instances/<int:instance_id>/evidence")
@login_required
def add_evidence(instance_id: int):
    """A correction or supplement: a new file beside the old one; nothing is replaced or deleted."""
    instance_summary(rt(), viewer(), instance_id, now())
    upload = request.files.get("file")
    value = save_upload(upload) if upload is not None and upload.filename else None
    errors = upload_errors()
    corrects = request.form.get("corrects", "")
    form = {"note": request.form.get("note", ""), "corrects": corrects}
    if value is None:
        errors.setdefault("file", _("请选择文件"))
        flash(_("请按提示修改后再提交"), "error")
        return index(instance_id, errors, form, 422)
    sha256, name = value[len("upload:"):].split("/", 1)
    try:
        evidence.add_correction(rt(), viewer().username, instance_id, (sha256, name), form["note"],
                                int(corrects) if corrects.isdigit() else None, now())
    except Invalid as exc:
        flash(exc.message, "error")
        return index(instance_id, exc.field_errors, form, 422)
    flash(_("已补充证据材料"), "success")
    return redirect(url_for("documents.index", instance_id=instance_id) + "#evidence")
