"""The enforcement information resource catalogue (执法信息资源目录, F4): each unit's published datasets, the
standing authorisations units grant each other, and the audited reads of shared information.

An information query names an entry of the target unit, or says why none fits. The system — never the
requester — decides whether the query runs under a standing authorisation: then the diagram skips the
authentication step (info_query.bpmn, gateway 是否已认证？) and the read is logged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from runner.access import deny
from runner.calendar import TZ
from runner.errors import Invalid, NotFound
from runner.models import AuditEntry, CatalogueEntry, StandingGrant, Unit, User

ANSWER_MODES = {"lookup": "即时查询", "copy": "提供文书复印件", "statistics": "提供统计数据"}
STAFF_ROLES = ("officer", "unit_head")


@dataclass
class EntryView:
    id: int
    unit_code: str
    unit_name: str
    name: str
    description: str
    fields: list
    answer_mode: str
    answer_mode_text: str
    restriction_basis: str
    grantees: list  # (grant id, unit name) of standing authorisations in force


def entries(rt, unit_code: str | None = None) -> list[EntryView]:
    with rt.session() as s:
        names = dict(s.execute(select(Unit.code, Unit.name)).all())
        query = select(CatalogueEntry).where(CatalogueEntry.active.is_(True)).order_by(CatalogueEntry.unit_code,
                                                                                       CatalogueEntry.id)
        if unit_code:
            query = query.where(CatalogueEntry.unit_code == unit_code)
        grants: dict[int, list] = {}
        for g in s.scalars(select(StandingGrant).where(StandingGrant.revoked_at.is_(None)).order_by(StandingGrant.id)):
            grants.setdefault(g.entry_id, []).append((g.id, names.get(g.grantee_unit, "")))
        return [EntryView(e.id, e.unit_code, names.get(e.unit_code, ""), e.name, e.description, list(e.fields or []),
                          e.answer_mode, ANSWER_MODES.get(e.answer_mode, ""), e.restriction_basis,
                          grants.get(e.id, [])) for e in s.scalars(query)]


def may_keep(user, unit_code: str) -> bool:
    """A unit's entries are kept by its own staff."""
    return user.unit_code == unit_code and user.role in STAFF_ROLES


def _check(form: dict) -> dict:
    errors, clean = {}, {}
    clean["name"] = (form.get("name") or "").strip()
    clean["description"] = (form.get("description") or "").strip()
    clean["restriction_basis"] = (form.get("restriction_basis") or "").strip()
    clean["fields"] = [f.strip() for f in re.split(r"[\n,，、;；]", form.get("fields") or "") if f.strip()]
    clean["answer_mode"] = form.get("answer_mode") or ""
    if not clean["name"] or len(clean["name"]) > 200:
        errors["name"] = "请填写数据集名称（不超过 200 字）"
    if len(clean["description"]) > 2000:
        errors["description"] = "不超过 2000 字"
    if not clean["fields"] or len(clean["fields"]) > 100 or any(len(f) > 100 for f in clean["fields"]):
        errors["fields"] = "请列出数据项（每行一项，至多 100 项）"
    if clean["answer_mode"] not in ANSWER_MODES:
        errors["answer_mode"] = "请选择答复方式"
    if len(clean["restriction_basis"]) > 2000:
        errors["restriction_basis"] = "不超过 2000 字"
    if errors:
        raise Invalid("请按提示修改后再保存", errors)
    return clean


def save_entry(rt, username: str, form: dict, now: datetime, entry_id: int | None = None) -> int:
    """Publish a new entry of the user's unit, or change one of its entries (audited either way)."""
    with rt.session() as s:
        user = s.scalars(select(User).where(User.username == username, User.active.is_(True))).one()
        unit = user.unit_code
        if entry_id is not None:
            entry = s.get(CatalogueEntry, entry_id)
            if entry is None:
                raise NotFound("目录条目不存在")
            unit = entry.unit_code
        if not may_keep(user, unit):
            raise deny(rt, username, "catalogue", "只有本单位执法人员可以维护本单位的执法信息资源目录", now)
    clean = _check(form)
    with rt.session() as s, s.begin():
        entry = s.get(CatalogueEntry, entry_id) if entry_id else CatalogueEntry(unit_code=unit)
        for key, value in clean.items():
            setattr(entry, key, value)
        entry.updated_by, entry.updated_at = username, now
        s.add(entry)
        s.flush()
        s.add(AuditEntry(at=now, actor=username, action="catalogue", detail=f"维护目录条目「{entry.name}」",
                         changes={"catalogue_entry": {"id": entry.id, **clean}}))
        return entry.id


def grant(rt, username: str, entry_id: int, grantee_unit: str, now: datetime) -> int:
    """The entry's unit grants GRANTEE_UNIT standing access to it."""
    with rt.session() as s:
        user = s.scalars(select(User).where(User.username == username, User.active.is_(True))).one()
        entry = s.get(CatalogueEntry, entry_id)
        if entry is None:
            raise NotFound("目录条目不存在")
        if not may_keep(user, entry.unit_code):
            raise deny(rt, username, "grant", "只有本单位执法人员可以授予本单位目录条目的查询授权", now)
        if s.get(Unit, grantee_unit) is None or grantee_unit == entry.unit_code:
            raise Invalid("请选择其他单位", {"grantee_unit": "请选择其他单位"})
    with rt.session() as s, s.begin():
        existing = s.scalar(select(StandingGrant.id).where(StandingGrant.entry_id == entry_id,
                                                           StandingGrant.grantee_unit == grantee_unit,
                                                           StandingGrant.revoked_at.is_(None)))
        if existing:
            raise Invalid("该单位已有此条目的常设授权", {"grantee_unit": "已授权"})
        row = StandingGrant(entry_id=entry_id, grantee_unit=grantee_unit, granted_by=username, granted_at=now)
        s.add(row)
        s.flush()
        names = dict(s.execute(select(Unit.code, Unit.name)).all())
        s.add(AuditEntry(at=now, actor=username, action="grant", detail=(
            f"授予{names.get(grantee_unit, '')}查询目录条目「{s.get(CatalogueEntry, entry_id).name}」的常设授权"),
            changes={"standing_grant": {"entry": entry_id, "grantee": grantee_unit}}))
        return row.id


def query_choice(rt, requester_unit: str, data: dict) -> tuple[dict, dict]:
    """Check an information query's catalogue choice (an entry of its target unit, or a reason none fits)
    and set what the system decides: whether a standing authorisation covers it. Returns (data, errors)."""
    data = dict(data)
    data["standing_authorisation"] = False  # never what was posted
    data["answer_mode"] = ""  # nor this: the chosen entry's answer mode, which the answer form follows
    entry_id, reason = str(data.get("catalogue_entry") or ""), str(data.get("no_entry_reason") or "").strip()
    if not entry_id:
        if not reason:
            return data, {"catalogue_entry": "请选择被查询单位的目录条目，或说明没有合适条目的理由"}
        return data, {}
    with rt.session() as s:
        entry = s.get(CatalogueEntry, int(entry_id)) if entry_id.isdigit() else None
        if entry is None or not entry.active or entry.unit_code != data.get("target_unit"):
            return data, {"catalogue_entry": "所选条目不是被查询单位目录中的条目"}
        granted = s.scalar(select(StandingGrant.id).where(StandingGrant.entry_id == entry.id,
                                                          StandingGrant.grantee_unit == requester_unit,
                                                          StandingGrant.revoked_at.is_(None)))
    data["standing_authorisation"] = granted is not None
    data["answer_mode"] = entry.answer_mode
    return data, {}


def log_read(rt, username: str, instance_id: int, data: dict, now: datetime) -> None:
    """Every read of shared information is audited: who, which entry, for which case."""
    entry_id = str(data.get("catalogue_entry") or "")
    if not entry_id.isdigit():
        return
    with rt.session() as s, s.begin():
        entry = s.get(CatalogueEntry, int(entry_id))
        if entry is None:
            return
        standing = bool(data.get("standing_authorisation"))
        s.add(AuditEntry(at=now, actor=username, action="shared_read", instance_id=instance_id,
                         detail=f"依{'常设授权' if standing else '查询请求'}查询目录条目「{entry.name}」",
                         changes={"shared_read": {"entry": entry.id, "standing": standing}}))


# What an answer to an information query carries: reading any of it is a read of shared information.
ANSWER_KEYS = ("provided_info", "provided_items", "lookup_values", "copy_files", "statistics_figures")
ANSWER_READ = "查阅查询答复"


def audit_answer_read(rt, viewer, process_key: str, instance_id: int, data: dict, now: datetime) -> bool:
    """Audit a read of a query's answer (case page, task page, API) by anyone but the answering unit: who,
    which entry, which case. Once per reader, case and (local) day, so a page refresh is not a new entry.
    Returns whether an entry was written."""
    data = data or {}
    if process_key != "info_query" or data.get("answer_decision") != "provide":
        return False
    if not any(data.get(k) for k in ANSWER_KEYS) or viewer.unit_code == data.get("target_unit"):
        return False
    local = now.astimezone(TZ)
    day_start = datetime.combine(local.date(), datetime.min.time(), TZ)
    entry_id = str(data.get("catalogue_entry") or "")
    with rt.session() as s, s.begin():
        seen = s.scalar(select(AuditEntry.id).where(
            AuditEntry.action == "shared_read", AuditEntry.actor == viewer.username,
            AuditEntry.instance_id == instance_id, AuditEntry.detail.like(f"{ANSWER_READ}%"),
            AuditEntry.at >= day_start, AuditEntry.at < day_start + timedelta(days=1)).limit(1))
        if seen is not None:
            return False
        entry = s.get(CatalogueEntry, int(entry_id)) if entry_id.isdigit() else None
        what = f"目录条目「{entry.name}」" if entry else "（未对应目录条目）"
        s.add(AuditEntry(at=now, actor=viewer.username, action="shared_read", instance_id=instance_id,
                         detail=f"{ANSWER_READ}：{what}",
                         changes={"shared_read": {"entry": entry.id if entry else None, "answer": True}}))
    return True


def entry_choices(rt) -> list[dict]:
    """Every active entry as a choice for the query form (the unit's name first)."""
    return [{"const": str(e.id), "title": f"{e.unit_name}：{e.name}（{e.answer_mode_text}）"} for e in entries(rt)]


def entry_of(rt, data: dict) -> EntryView | None:
    """The catalogue entry an information query chose (for the answering unit's task page)."""
    entry_id = str((data or {}).get("catalogue_entry") or "")
    if not entry_id.isdigit():
        return None
    with rt.session() as s:
        entry = s.get(CatalogueEntry, int(entry_id))
        unit = entry.unit_code if entry else None
    return next((e for e in entries(rt, unit) if e.id == int(entry_id)), None) if unit else None


LETTER_READ = "查阅查复函"
LETTER_VIA = {"page": "文书页", "print": "打印页", "pdf": "PDF"}


def audit_answer_letter_read(rt, viewer, doc_id: int, now: datetime, how: str) -> bool:
    """Every opening of an issued answer letter (查复函: its page, print view or PDF) by anyone but the
    answering unit is a read of shared information: audited each time (who, which entry, which letter, which
    case). Returns whether an entry was written. The caller has checked that VIEWER may read the case."""
    from runner.models import Document, ProcessInstance

    with rt.session() as s, s.begin():
        doc = s.get(Document, doc_id)
        if doc is None or doc.kind != "query_answer" or viewer.unit_code == doc.unit_code:
            return False
        data = s.get(ProcessInstance, doc.instance_id).data_summary or {}
        entry_id = str(data.get("catalogue_entry") or "")
        entry = s.get(CatalogueEntry, int(entry_id)) if entry_id.isdigit() else None
        what = f"目录条目「{entry.name}」" if entry else "（未对应目录条目）"
        s.add(AuditEntry(at=now, actor=viewer.username, action="shared_read", instance_id=doc.instance_id,
                         detail=f"{LETTER_READ} {doc.number}（{LETTER_VIA[how]}）：{what}",
                         changes={"shared_read": {"entry": entry.id if entry else None, "answer": True,
                                                  "document": doc.number, "via": how}}))
    return True


def entry_rows(rt, schema: dict | None, case: dict | None) -> dict:
    """What the answer form offers from the chosen catalogue entry: a list field marked
    `"x-rows-from-entry": "fields"` (the lookup answer's 查询到的数据项) opens with one row per field the entry
    publishes, the field's name filled in, its value left for the answering officer. Empty when the case
    names no entry, or the form (as this case shows it) has no such field."""
    props = (schema or {}).get("properties") or {}
    wanted = [name for name, prop in props.items()
              if isinstance(prop, dict) and prop.get("x-rows-from-entry") == "fields"]
    entry = entry_of(rt, case or {}) if wanted else None
    if entry is None or not entry.fields:
        return {}
    out = {}
    for name in wanted:
        limit = props[name].get("maxItems") or len(entry.fields)
        out[name] = [{"field": str(f), "value": ""} for f in entry.fields[:limit]]
    return out
