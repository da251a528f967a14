"""Numbered documents written from the case: 移送函, 联动执法方案, 通知, 查询函 and its answer, 督办通知, 会议纪要.

A document is issued in one transaction: the issuing unit's counter row for (kind, year) is locked with
SELECT ... FOR UPDATE and bumped, so two documents issued at once get consecutive numbers and a refused
issue leaves no gap; the date is the injected clock's county-local date; the HTML is rendered from the
current version of the kind's Jinja2 template (runner/document_templates/, one row per version in
`document_templates`), hashed, stored, and the number and hash go to the audit log. Rows are never changed
(models refuse it); a correction is a new document whose `supersedes_id` names the old one.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import filetype
from jinja2 import ChainableUndefined, DictLoader, Environment, select_autoescape
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from runner.access import deny, may_read
from runner.calendar import TZ
from runner.errors import Forbidden, Invalid, NotFound
from runner.models import (
    AuditEntry,
    Document,
    DocumentCounter,
    DocumentTemplate,
    HumanTask,
    ProcessInstance,
    Receipt,
    Unit,
    Upload,
    User,
)
from runner.runtime import Runtime

TEMPLATE_DIR = Path(__file__).parent / "document_templates"
LAYOUT = "_layout.html"


@dataclass(frozen=True)
class Kind:
    key: str
    title: str  # the document's name, printed as its heading
    word: str  # the character(s) in its number: 县市场监管局移〔2026〕第3号
    processes: tuple[str, ...]  # procedures whose cases carry it
    receipt: bool = False  # the recipient acknowledges it (签收)


KINDS = {k.key: k for k in (
    Kind("transfer_letter", "涉嫌违法案件移送函", "移", ("case_transfer",), receipt=True),
    Kind("linkage_plan", "联动执法方案", "联方", ("joint_enforcement",)),
    Kind("county_notice", "关于开展联动执法的通知", "联通", ("joint_enforcement",)),
    Kind("query_request", "执法信息查询函", "查", ("info_query",), receipt=True),
    Kind("query_answer", "执法信息查询答复函", "查复", ("info_query",)),
    Kind("supervision_notice", "督办通知", "督", ("case_transfer", "info_query", "joint_enforcement")),
    Kind("meeting_minutes", "联动执法联席会议纪要", "纪", ("quarterly_meeting",)),
)}

TRANSFER_REASONS = {"not_jurisdiction": "该案件不属于本单位管辖",
                    "penalty_power_transferred": "该案件属于本单位日常监管，但处罚权已划转至你单位"}
REFUSAL_GROUNDS = {"state_secret_law": "涉及国家秘密，依照《中华人民共和国保守国家秘密法》不得提供",
                   "law_prohibits": "法律、行政法规禁止提供",
                   "criminal_investigation": "涉及正在进行的刑事侦查，依法不得提供",
                   "personal_information": "涉及个人信息，依照《中华人民共和国个人信息保护法》不得提供",
                   "other_statutory": "其他法定事由"}
POLICY = "《关于推行行政执法联动机制的意见》（源政办发〔2021〕19号）"


# -- templates: one stored version per distinct text ------------------------------------------------
def template_text(kind: str) -> tuple[str, str]:
    return ((TEMPLATE_DIR / f"{kind}.html").read_text(encoding="utf-8"),
            (TEMPLATE_DIR / LAYOUT).read_text(encoding="utf-8"))


def _bundle(source: str, layout: str) -> str:
    return source + "\n{#- layout -#}\n" + layout


def current_template(rt: Runtime, kind: str, now: datetime) -> DocumentTemplate:
    """The stored version of KIND's template as it reads on disk now; a changed text becomes a new version."""
    source, layout = template_text(kind)
    digest = hashlib.sha256(_bundle(source, layout).encode("utf-8")).hexdigest()
    for _attempt in range(3):
        try:
            with rt.session() as s, s.begin():
                found = s.scalars(select(DocumentTemplate).where(DocumentTemplate.name == kind,
                                                                 DocumentTemplate.sha256 == digest)).first()
                if found is None:
                    last = s.scalar(select(func.max(DocumentTemplate.version)).where(DocumentTemplate.name == kind))
                    found = DocumentTemplate(name=kind, version=(last or 0) + 1, sha256=digest,
                                             source=_bundle(source, layout), created_at=now)
                    s.add(found)
                    s.flush()
                s.expunge(found)
                return found
        except IntegrityError:
            continue  # another process stored this version first: read theirs
    raise RuntimeError("文书模板版本登记失败")


def render(source_bundle: str, context: dict) -> str:
    source, _sep, layout = source_bundle.partition("\n{#- layout -#}\n")
    env = Environment(loader=DictLoader({"doc": source, LAYOUT: layout}), autoescape=select_autoescape(default=True),
                      undefined=ChainableUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["cn_date"] = lambda day: cn_date(day) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(day or "")) else day
    return env.get_template("doc").render(**context)


def pdf_bytes(html: str) -> bytes:
    """The document as PDF (WeasyPrint), its Chinese fonts (fonts-noto-cjk, installed with the system)
    embedded as subsets. Rendered from the stored, hashed HTML, so every copy says the same."""
    from weasyprint import HTML  # imported here: slow to import, and only documents need it

    return HTML(string=html).write_pdf()


# -- numbering -------------------------------------------------------------------------------------
def _next_seq(s: Session, unit_code: str, kind: str, year: int) -> int:
    """The next number of UNIT_CODE's KIND in YEAR, holding the counter row's lock until commit."""
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    s.execute(insert(DocumentCounter).values(unit_code=unit_code, kind=kind, year=year, last=0)
              .on_conflict_do_nothing(index_elements=["unit_code", "kind", "year"]))
    counter = s.scalars(select(DocumentCounter).where(
        DocumentCounter.unit_code == unit_code, DocumentCounter.kind == kind, DocumentCounter.year == year)
        .with_for_update()).one()
    s.refresh(counter)  # the value another transaction committed while we waited for the lock
    counter.last += 1
    return counter.last


def format_number(unit_name: str, kind: Kind, year: int, seq: int) -> str:
    return f"{unit_name}{kind.word}〔{year}〕第{seq}号"


def cn_date(day: str) -> str:
    y, m, d = (int(p) for p in day.split("-"))
    return f"{y}年{m}月{d}日"


# -- what each document says -------------------------------------------------------------------------
def _pick(data: dict, key: str, *inside: str):
    """DATA[KEY], or DATA[c][KEY] for the first container C that has it (forms with a data variable)."""
    if key in data and data[key] not in (None, ""):
        return data[key]
    for c in inside:
        if isinstance(data.get(c), dict) and data[c].get(key) not in (None, ""):
            return data[c][key]
    return None


def _page_count(path: Path | None) -> int | None:
    """Pages of a stored file for the materials list: a PDF's page objects, an image is one page."""
    if path is None or not path.is_file():
        return None
    mime = filetype.guess_mime(str(path))
    if mime == "application/pdf":
        count = len(re.findall(rb"/Type\s*/Page(?!s)", path.read_bytes()))
        return count or None
    if mime and mime.startswith("image/"):
        return 1
    return None


def case_files(s: Session, instance_id: int, upload_dir: Path | None) -> list[dict]:
    rows = s.execute(select(Upload, HumanTask.name).outerjoin(HumanTask, HumanTask.id == Upload.task_id)
                     .where(Upload.instance_id == instance_id).order_by(Upload.at, Upload.id)).all()
    return [{"name": u.name, "sha256": u.sha256, "step": step or "",
             "pages": _page_count(upload_dir / u.sha256 if upload_dir else None), "note": u.note or ""}
            for u, step in rows]


def issuer_of(kind: str, inst: ProcessInstance, data: dict) -> str:
    """The unit that issues KIND for this case (the policy says who writes what)."""
    if kind == "query_answer":
        return str(data.get("target_unit") or "")
    if kind == "supervision_notice":
        return "supervision_office"
    if kind in ("county_notice", "meeting_minutes"):
        return "government_office"
    if kind == "linkage_plan":
        return str(data.get("lead_unit") or data.get("designated_lead_unit") or inst.initiator_unit)
    return inst.initiator_unit


def _recipients(kind: str, inst: ProcessInstance, data: dict, s: Session) -> list[str]:
    if kind == "transfer_letter":
        return [data.get("receiver_unit")] if data.get("receiver_unit") else []
    if kind == "query_request":
        return [data.get("target_unit")] if data.get("target_unit") else []
    if kind == "query_answer":
        return [inst.initiator_unit]
    if kind == "supervision_notice":
        late = s.scalars(select(HumanTask.late_unit).where(HumanTask.instance_id == inst.id,
                                                          HumanTask.kind == "supervision",
                                                          HumanTask.late_unit.is_not(None))
                         .order_by(HumanTask.created_at.desc())).first()
        return [late] if late else []
    if kind in ("county_notice", "linkage_plan"):
        return [u for u in (data.get("participant_units") or []) if isinstance(u, str)]
    if kind == "meeting_minutes":
        return [u for u in (_pick(data, "attendee_units", "meeting") or []) if isinstance(u, str)]
    return []


def _facts(kind: str, s: Session, inst: ProcessInstance, data: dict, names: dict, extra: dict,
           upload_dir: Path | None) -> dict:
    facts: dict = {"case_title": inst.title, "business_key": inst.business_key}
    if kind == "transfer_letter":
        evidence = [{"name": e.get("name", ""), "description": e.get("description", "")}
                    for e in (data.get("evidence") or []) + (data.get("preliminary_evidence") or [])
                    if isinstance(e, dict)]
        facts |= {"party": data.get("party") or "", "basic_facts": data.get("basic_facts") or "",
                  "fact_statement": data.get("fact_statement") or "",
                  "reason": TRANSFER_REASONS.get(data.get("transfer_reason"), ""),
                  "notice_date": data.get("notice_date") or "",
                  "legal_basis": extra.get("legal_basis") or (
                      f"依照《中华人民共和国行政处罚法》关于管辖的规定和{POLICY}第三部分第（三）项"),
                  "evidence": evidence, "files": case_files(s, inst.id, upload_dir)}
    elif kind in ("linkage_plan", "county_notice"):
        facts |= {k: data.get(k) or "" for k in ("basic_facts", "necessity", "tasks", "time_limit", "safeguards",
                                                 "duties_division", "area", "summary")}
        facts |= {"lead": names.get(data.get("lead_department") or "", data.get("lead_department") or ""),
                  "participants": [names.get(u, u) for u in data.get("participant_units") or []],
                  "extent": {"area": "特定区域", "county_wide": "全县范围"}.get(data.get("extent"), ""),
                  "fields": data.get("fields") or [], "notice_summary": _pick(data, "notice_summary", "notice") or ""}
    elif kind in ("query_request", "query_answer"):
        facts |= {k: data.get(k) or "" for k in ("title", "query_content", "purpose", "legal_basis", "urgent_reason",
                                                 "provided_info", "refusal_legal_article", "refusal_explanation")}
        facts |= {"urgent": bool(data.get("urgent")), "target": names.get(data.get("target_unit") or "", ""),
                  "requester": names.get(inst.initiator_unit, ""),
                  "refused": data.get("answer_decision") == "refuse",
                  "refusal_ground": REFUSAL_GROUNDS.get(data.get("refusal_ground"), ""),
                  "provided_items": [i.get("name", "") if isinstance(i, dict) else str(i)
                                     for i in data.get("provided_items") or []],
                  "request_number": _latest_number(s, inst.id, "query_request"),
                  # the diagram's clock (签收查询请求) first; a signed-for query letter otherwise
                  "received_on": data.get("received_date") or _received_on(s, inst.id, "query_request")}
    elif kind == "supervision_notice":
        row = s.scalars(select(HumanTask).where(HumanTask.instance_id == inst.id, HumanTask.kind == "supervision")
                        .order_by(HumanTask.created_at.desc())).first()
        facts |= {"late_task": row.late_task_name if row else "",
                  "late_due": row.late_due_at.astimezone(TZ).strftime("%Y-%m-%d") if row and row.late_due_at else "",
                  "opinion": extra.get("opinion") or data.get("supervision_opinion") or "",
                  "reply_by": extra.get("reply_by") or ""}
    elif kind == "meeting_minutes":
        facts |= {k: _pick(data, k, "meeting") or "" for k in ("meeting_date", "work_summary",
                                                               "problems_and_measures", "minutes")}
        facts["attendees"] = [names.get(u, u) for u in _pick(data, "attendee_units", "meeting") or []]
    facts |= {"contact": extra.get("contact") or "", "phone": extra.get("phone") or "",
              "note": extra.get("note") or ""}
    return facts


def _latest_number(s: Session, instance_id: int, kind: str) -> str:
    return s.scalar(select(Document.number).where(Document.instance_id == instance_id, Document.kind == kind)
                    .order_by(Document.id.desc()).limit(1)) or ""


def _received_on(s: Session, instance_id: int, kind: str) -> str:
    return s.scalar(select(Receipt.received_on).join(Document, Document.id == Receipt.document_id)
                    .where(Document.instance_id == instance_id, Document.kind == kind)
                    .order_by(Receipt.id.desc()).limit(1)) or ""


# -- issuing ---------------------------------------------------------------------------------------
_EXTRA_LIMITS = {"contact": 50, "phone": 30, "legal_basis": 500, "note": 1000, "opinion": 3000, "reply_by": 10,
                 "correction": 500}


def check_extra(extra: dict) -> dict:
    """The few things typed when issuing (contact person, phone...): plain text within limits."""
    clean, errors = {}, {}
    for key, limit in _EXTRA_LIMITS.items():
        value = (extra.get(key) or "").strip()
        if len(value) > limit:
            errors[key] = f"不超过 {limit} 个字"
        elif any(ord(c) < 32 and c not in "\n\t" for c in value):
            errors[key] = "含有不可见的控制字符"
        clean[key] = value
    if clean["phone"] and not re.fullmatch(r"[0-9+\-() ]{5,30}", clean["phone"]):
        errors["phone"] = "请填写电话号码（数字、空格、-）"
    if clean["reply_by"] and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", clean["reply_by"]):
        errors["reply_by"] = "请按 年-月-日 填写日期"
    if errors:
        raise Invalid("请按提示修改后再出具", errors)
    return clean


def may_issue(viewer, kind: str, inst: ProcessInstance, data: dict) -> bool:
    return inst.process_key in KINDS[kind].processes and viewer.unit_code == issuer_of(kind, inst, data)


def issue_document(rt: Runtime, username: str, instance_id: int, kind: str, now: datetime,
                   extra: dict | None = None, supersedes_id: int | None = None,
                   upload_dir: Path | None = None) -> int:
    """Issue KIND for case INSTANCE_ID as USERNAME's unit; return the new document's id."""
    if kind not in KINDS:
        raise NotFound("没有这种文书")
    extra = check_extra(extra or {})
    template = current_template(rt, kind, now)
    with rt.session() as s:
        user, inst = _user_and_case(rt, s, username, instance_id, now)
        if not may_issue(user, kind, inst, inst.data_summary or {}):
            message = f"{user.display_name} 所在单位不出具本案的「{KINDS[kind].title}」"
            raise deny(rt, username, "issue_document", message, now, instance_id)
    with rt.session() as s, s.begin():
        user, inst = _user_and_case(rt, s, username, instance_id, now)
        data = dict(inst.data_summary or {})
        old = _superseded(s, supersedes_id, inst.id, kind) if supersedes_id else None
        if old is not None and not extra["correction"]:
            raise Invalid("更正文书须说明更正的内容", {"correction": "请说明更正的内容"})
        names = dict(s.execute(select(Unit.code, Unit.name)).all())
        day = now.astimezone(TZ).date()
        seq = _next_seq(s, user.unit_code, kind, day.year)
        number = format_number(names[user.unit_code], KINDS[kind], day.year, seq)
        recipients = [u for u in _recipients(kind, inst, data, s) if u]
        facts = _facts(kind, s, inst, data, names, extra, upload_dir)
        facts |= {"issuer": user.display_name, "correction": extra["correction"],
                  "supersedes": old.number if old else "",
                  "contact": facts["contact"] or user.display_name}  # a letter always names whom to call
        doc_meta = {"title": KINDS[kind].title, "number": number, "date": day.isoformat(),
                    "date_cn": cn_date(day.isoformat()), "unit_name": names[user.unit_code],
                    "recipients": [names.get(u, u) for u in recipients]}
        html = render(template.source, {"doc": doc_meta, "f": facts})
        digest = hashlib.sha256(html.encode("utf-8")).hexdigest()
        doc = Document(instance_id=inst.id, kind=kind, unit_code=user.unit_code, year=day.year, seq=seq,
                       number=number, title=KINDS[kind].title, recipient_unit=recipients[0] if recipients else None,
                       issued_at=now, issued_on=day.isoformat(), issued_by=user.username, template_id=template.id,
                       facts=facts, html=html, sha256=digest, supersedes_id=old.id if old else None)
        s.add(doc)
        s.flush()
        detail = f"出具「{KINDS[kind].title}」{number}" + (f"（更正 {old.number}）" if old else "")
        s.add(AuditEntry(at=now, actor=user.username, action="issue_document", instance_id=inst.id,
                         detail=detail, changes={"document": {"number": number, "sha256": digest, "kind": kind,
                                                              "template_version": template.version,
                                                              "supersedes": old.number if old else None}}))
        return doc.id


def _user_and_case(rt, s: Session, username: str, instance_id: int, now: datetime):
    user = s.scalars(select(User).where(User.username == username, User.active.is_(True))).first()
    if user is None:
        raise Forbidden("未知或已停用的用户")
    inst = s.get(ProcessInstance, instance_id)
    if inst is None:
        raise NotFound("案件不存在")
    if not may_read(user, inst.units):
        raise deny(rt, username, "view", "无权查看该案件", now, instance_id)
    return user, inst


def _superseded(s: Session, doc_id: int, instance_id: int, kind: str) -> Document:
    old = s.get(Document, doc_id)
    if old is None or old.instance_id != instance_id or old.kind != kind:
        raise Invalid("要更正的文书不存在或不是本案的同类文书", {"supersedes": "请选择本案已出具的同类文书"})
    if s.scalar(select(Document.id).where(Document.supersedes_id == old.id).limit(1)) is not None:
        raise Invalid(f"{old.number} 已被更正，请更正最新的文书", {"supersedes": "已被更正"})
    return old


# -- reading ----------------------------------------------------------------------------------------
@dataclass
class DocumentView:
    id: int
    instance_id: int
    kind: str
    title: str
    number: str
    unit_name: str
    recipient_name: str
    issued_on: str
    issued_at: datetime
    issued_by: str
    sha256: str
    template_version: int
    supersedes: str
    superseded_by: str
    receipts: list
    may_acknowledge: bool
    html: str = ""


def documents_of(rt: Runtime, viewer, instance_id: int, with_html: bool = False) -> list[DocumentView]:
    """The case's documents, oldest first (the caller has checked that VIEWER may read the case)."""
    with rt.session() as s:
        docs = list(s.scalars(select(Document).where(Document.instance_id == instance_id).order_by(Document.id)))
        return [_view(s, d, viewer, with_html) for d in docs]


def document(rt: Runtime, viewer, doc_id: int, now: datetime, action: str = "view") -> DocumentView:
    """One document, if VIEWER may read its case (a refusal is audited, as for the case itself)."""
    with rt.session() as s:
        doc = s.get(Document, doc_id)
        if doc is None:
            raise NotFound("文书不存在")
        inst = s.get(ProcessInstance, doc.instance_id)
        if not may_read(viewer, inst.units):
            raise deny(rt, viewer.username, action, "无权查看该文书", now, inst.id)
        return _view(s, doc, viewer, True)


def _view(s: Session, doc: Document, viewer, with_html: bool) -> DocumentView:
    names = dict(s.execute(select(Unit.code, Unit.name)).all())
    people = dict(s.execute(select(User.username, User.display_name)).all())
    receipts = [{"unit": names.get(r.unit_code, ""), "received_on": r.received_on,
                 "by": people.get(r.received_by, r.received_by)}
                for r in s.scalars(select(Receipt).where(Receipt.document_id == doc.id).order_by(Receipt.id))]
    newer = s.scalar(select(Document.number).where(Document.supersedes_id == doc.id).limit(1)) or ""
    older = s.scalar(select(Document.number).where(Document.id == doc.supersedes_id)) if doc.supersedes_id else ""
    version = s.scalar(select(DocumentTemplate.version).where(DocumentTemplate.id == doc.template_id))
    may_ack = (KINDS[doc.kind].receipt and doc.recipient_unit == viewer.unit_code and not receipts
               and (doc.kind != "transfer_letter" or _letter_sent(s, doc.instance_id)))
    return DocumentView(doc.id, doc.instance_id, doc.kind, doc.title, doc.number, names.get(doc.unit_code, ""),
                        names.get(doc.recipient_unit or "", ""), doc.issued_on, doc.issued_at,
                        people.get(doc.issued_by, doc.issued_by), doc.sha256, version or 0, older or "", newer,
                        receipts, may_ack, doc.html if with_html else "")


def _letter_sent(s: Session, instance_id: int) -> bool:
    """Whether the transfer letter has gone out with 发出移送函并移送材料 (only then is it signed for)."""
    return bool((s.get(ProcessInstance, instance_id).data_summary or {}).get("letter_number"))


def issuable(rt: Runtime, viewer, instance_id: int) -> list[Kind]:
    with rt.session() as s:
        inst = s.get(ProcessInstance, instance_id)
        if inst is None:
            return []
        return [k for k in KINDS.values() if may_issue(viewer, k.key, inst, inst.data_summary or {})]


def latest(rt: Runtime, instance_id: int, kind: str) -> Document | None:
    """The newest document of KIND in the case (a correction replaces what it corrects)."""
    with rt.session() as s:
        doc = s.scalars(select(Document).where(Document.instance_id == instance_id, Document.kind == kind)
                        .order_by(Document.id.desc())).first()
        if doc is not None:
            s.expunge(doc)
        return doc


def fill_from_documents(rt: Runtime, instance_id: int, schema: dict | None, data: dict) -> dict[str, str]:
    """Set the fields a form takes from an issued document (`"x-from-document": "transfer_letter.number"`)
    in DATA; return an error per field whose document has not been issued yet."""
    errors = {}
    for name, prop in ((schema or {}).get("properties") or {}).items():
        source = prop.get("x-from-document") if isinstance(prop, dict) else None
        if not source:
            continue
        kind, _dot, attr = source.partition(".")
        doc = latest(rt, instance_id, kind)
        if doc is None:
            errors[name] = f"请先在本页出具「{KINDS[kind].title}」，文号和日期由系统生成"
            data.pop(name, None)
        else:
            data[name] = doc.number if attr == "number" else doc.issued_on
    return errors


# -- receipts (签收) ---------------------------------------------------------------------------------
def acknowledge(rt: Runtime, username: str, doc_id: int, now: datetime) -> str:
    """The recipient unit signs for document DOC_ID today; return the date recorded (its clock's day D)."""
    with rt.session() as s:  # refusals are audited in their own transaction, before ours takes locks
        user = s.scalars(select(User).where(User.username == username, User.active.is_(True))).first()
        doc = s.get(Document, doc_id)
        if user is None or doc is None:
            raise NotFound("文书不存在")
        if not KINDS[doc.kind].receipt or doc.recipient_unit != user.unit_code:
            raise deny(rt, username, "acknowledge", f"只有收文单位可以签收「{doc.title}」", now, doc.instance_id)
        step = s.scalars(select(HumanTask).where(HumanTask.instance_id == doc.instance_id, HumanTask.kind == "receipt",
                                                 HumanTask.status == "open",
                                                 HumanTask.unit_code == doc.recipient_unit)).first()
        inst = s.get(ProcessInstance, doc.instance_id)
        if step is None and doc.kind == "transfer_letter" and not _letter_sent(s, inst.id):
            # signed for before it is sent, the receipt's day would not be the day the receiving unit's own
            # clock (签收移送函 → review deadline) starts from
            raise Invalid(f"{doc.number} 尚未随「发出移送函并移送材料」发出，发出后再签收")
        forms = inst.definition.forms or {}
        schema = forms.get(step.form_file) if step and step.form_file else {}
        step_id = step.id if step else None
    if step_id is not None:
        # the diagram's receipt step (签收查询请求) is this receipt: completing it signs for the letter and
        # starts the clock (received_date) on the same day, in one transaction
        from runner.services import complete_task

        confirm = {k: True for k, p in ((schema or {}).get("properties") or {}).items()
                   if isinstance(p, dict) and p.get("const") is True}
        complete_task(rt, username, step_id, confirm, now)
        return now.astimezone(TZ).date().isoformat()
    with rt.session() as s, s.begin():
        doc = s.get(Document, doc_id)
        if s.scalar(select(Receipt.id).where(Receipt.document_id == doc.id)) is not None:
            raise Invalid(f"{doc.number} 已签收，不能重复签收")
        day = now.astimezone(TZ).date().isoformat()
        s.add(Receipt(document_id=doc.id, unit_code=doc.recipient_unit, received_on=day, received_by=username, at=now))
        s.add(AuditEntry(at=now, actor=username, action="acknowledge", instance_id=doc.instance_id,
                         detail=f"签收「{doc.title}」{doc.number}，收到日期 {day}",
                         changes={"receipt": {"number": doc.number, "received_on": day}}))
        return day



def template_library(rt) -> list[dict]:
    """Every kind's template as it reads now, with the versions documents were issued from (for legal staff)."""
    with rt.session() as s:
        rows = list(s.scalars(select(DocumentTemplate).order_by(DocumentTemplate.name, DocumentTemplate.version)))
        used = dict(s.execute(select(Document.template_id, func.count()).group_by(Document.template_id)).all())
    out = []
    for kind in KINDS.values():
        source, layout = template_text(kind.key)
        digest = hashlib.sha256(_bundle(source, layout).encode("utf-8")).hexdigest()
        versions = [{"version": r.version, "created_at": r.created_at, "documents": used.get(r.id, 0),
                     "current": r.sha256 == digest} for r in rows if r.name == kind.key]
        out.append({"kind": kind.key, "title": kind.title, "source": source, "versions": versions,
                    "changed": bool(versions) and not any(v["current"] for v in versions)})
    return out
