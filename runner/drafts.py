"""Save a diagram edited in the browser (XML plus its JSON Schema forms) as a draft version.

Editing a draft updates that draft; editing an active or retired version creates a new draft from it. The
diagram is checked by runner.validate first: a diagram with problems is refused with every problem listed,
and nothing is stored. A change of layout only is recognised by the meaning digest.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from runner.engine import DiagramError, Problem
from runner.errors import Conflict, Invalid, NotFound
from runner.models import AuditEntry, ProcessDefinition
from runner.runtime import Runtime, meaning_digest, new_definition
from runner.validate import validate_bytes

# Form files are stored by name and written to a scratch folder for the validator: plain names only.
FORM_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,120}\.json$")
MAX_XML = 5 * 1024 * 1024
MAX_FORMS = 200
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


class DraftRefused(Invalid):
    """The edited diagram has problems; PROBLEMS lists them all (element id, line, Chinese message)."""

    def __init__(self, problems: list[Problem]):
        lines = [f"流程图有 {len(problems)} 处问题，未保存："] + [f"  {p}" for p in problems]
        super().__init__("\n".join(lines))
        self.problems = problems


@dataclass
class SaveResult:
    process_key: str
    version: int
    created: bool  # a new draft was made (from an active or retired version)
    layout_only: bool  # the draft's meaning did not change, only its layout
    notes: list[str] = field(default_factory=list)


def check_forms(forms) -> dict[str, dict]:
    """FORMS as {file name: JSON Schema object}; anything else is refused with a Chinese message."""
    if not isinstance(forms, dict):
        raise Invalid("表单应为“文件名 → JSON Schema”的对象", {"forms": "表单格式不对"})
    if len(forms) > MAX_FORMS:
        raise Invalid(f"表单过多（{len(forms)} 个，最多 {MAX_FORMS} 个）", {"forms": "表单过多"})
    out = {}
    for name, schema in forms.items():
        if not isinstance(name, str) or not FORM_NAME.match(name) or ".." in name:
            raise Invalid(f"表单文件名不合规：{name!r}（只能用英文字母、数字、下划线、点和连字符，以 .json 结尾）",
                          {"forms": "表单文件名不合规"})
        if not isinstance(schema, dict):
            raise Invalid(f"表单 {name} 不是 JSON 对象", {name: "不是 JSON 对象"})
        out[name] = schema
    return out


def validate_edit(rt: Runtime, key: str, xml: str, forms: dict[str, dict]) -> list[Problem]:
    """Every problem of XML with FORMS, as `liandong validate` reports them for bpmn/KEY.bpmn."""
    with tempfile.TemporaryDirectory(prefix="liandong-draft-") as tmp:
        forms_dir = Path(tmp) / "forms"
        forms_dir.mkdir()
        for name, schema in forms.items():
            (forms_dir / name).write_text(json.dumps(schema, ensure_ascii=False), encoding="utf-8")
        return validate_bytes(xml.encode("utf-8"), f"{key}.bpmn", rt.engine, rt.rules, forms_dir=forms_dir,
                              file_stem=key)


def _row(s, key: str, version: int, lock: bool = False) -> ProcessDefinition:
    q = select(ProcessDefinition).where(ProcessDefinition.process_key == key, ProcessDefinition.version == version)
    row = s.scalars(q.with_for_update() if lock else q).first()
    if row is None:
        raise NotFound(f"流程 {key} 没有第 {version} 版")
    return row


# Attributes whose value is the BPMN default: bpmn-js leaves them out when it saves, so an unchanged diagram
# round-tripped through the modeler would otherwise look like a change of meaning.
DEFAULT_ATTRIBUTES = {"cancelActivity": "true", "isInterrupting": "true", "parallelMultiple": "false",
                      "isForCompensation": "false", "startQuantity": "1", "completionQuantity": "1",
                      "isClosed": "false", "instantiate": "false", "isSequential": "false",
                      "triggeredByEvent": "false", "gatewayDirection": "Unspecified", "processType": "None",
                      "isImmediate": "true"}


def modeler_digest(xml: str, forms: dict) -> str:
    """runtime.meaning_digest of XML with attributes at their BPMN default left out (as bpmn-js saves them)."""
    from lxml import etree

    raw = re.sub(r"^\s*<\?xml[^>]*\?>", "", xml).encode("utf-8")
    root = etree.fromstring(raw, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    for el in root.iter(f"{{{BPMN_NS}}}*"):
        for name, default in DEFAULT_ATTRIBUTES.items():
            if el.get(name) == default:
                del el.attrib[name]
    return meaning_digest(etree.tostring(root, encoding="unicode"), forms)


def _same_meaning(s, key: str, digest: str, except_id: int | None) -> ProcessDefinition | None:
    q = select(ProcessDefinition).where(ProcessDefinition.process_key == key)
    if except_id is not None:
        q = q.where(ProcessDefinition.id != except_id)
    for row in s.scalars(q.order_by(ProcessDefinition.version)):
        if row.checksum == digest or modeler_digest(row.bpmn_xml, row.forms or {}) == digest:
            return row
    return None


def _audit(s, now, author, action, row, detail, comment) -> None:
    s.add(AuditEntry(at=now, actor=author, action=action, detail=detail, changes={
        "process_key": row.process_key, "version": row.version, "status": row.status,
        "effective_from": row.effective_from, "effective_to": row.effective_to,
        "basis_number": row.basis_number, "basis_title": row.basis_title, "checksum": row.checksum,
        "reason": comment}))


def save_draft(rt: Runtime, key: str, base_version: int, xml: str, forms, author: str, now: datetime,
               comment: str = "") -> SaveResult:
    """Save XML + FORMS edited from version BASE_VERSION of KEY. A draft is updated in place; an active or
    retired version gives a new draft. Refused (nothing stored): problems found (DraftRefused), a diagram of
    another procedure, or a new draft that means the same as an existing version."""
    if not isinstance(xml, str) or not xml.strip():
        raise Invalid("没有收到流程图", {"xml": "流程图为空"})
    if len(xml.encode("utf-8")) > MAX_XML:
        raise Invalid("流程图过大（超过 5 MB）", {"xml": "流程图过大"})
    forms = check_forms(forms)
    with rt.session() as s:
        _row(s, key, base_version)  # a missing base is "not found", before any checking
    problems = validate_edit(rt, key, xml, forms)
    if problems:
        raise DraftRefused(problems)
    try:
        bundle = rt.engine.parse_text(xml, forms, f"{key}.bpmn")
    except DiagramError as exc:  # the validator passed it; the engine is the last word all the same
        raise DraftRefused(exc.problems) from exc
    if bundle.process_key != key:
        raise Invalid(f"流程图中的流程编号是 {bundle.process_key}，不是本流程 {key}", {"xml": "流程编号不符"})
    digest = modeler_digest(bundle.xml, bundle.forms)
    unused = sorted(set(forms) - set(bundle.forms))
    notes = [f"未被流程图引用的表单未保存：{'、'.join(unused)}"] if unused else []
    with rt.session() as s, s.begin():
        base = _row(s, key, base_version, lock=True)
        if base.status == "draft":
            return _update_draft(rt, s, base, bundle, digest, author, now, comment, notes)
        return _new_draft(rt, s, base, bundle, digest, author, now, comment, notes)


def _update_draft(rt, s, row, bundle, digest, author, now, comment, notes) -> SaveResult:
    twin = _same_meaning(s, row.process_key, digest, row.id)
    if twin is not None:
        raise Conflict(f"修改后与第 {twin.version} 版含义相同，未保存；如不需要此草稿，可不再使用")
    layout_only = digest == modeler_digest(row.bpmn_xml, row.forms or {})
    if layout_only and bundle.xml == row.bpmn_xml and (comment or "") in ("", row.comment):
        return SaveResult(row.process_key, row.version, False, True, notes + ["没有任何改动"])
    fresh = new_definition(rt, bundle, row.version, "draft", now, author, comment or row.comment)
    for column in ("name", "checksum", "bpmn_xml", "forms", "spec_json", "effective_from", "effective_to",
                   "basis_number", "basis_title"):
        setattr(row, column, getattr(fresh, column))
    row.author, row.comment = author, comment or row.comment
    rt._bundle_cache.pop(row.id, None)
    rt._spec_cache.pop(row.id, None)
    what = "只调整了版式（含义未变）" if layout_only else "修改了内容"
    _audit(s, now, author, "version_draft_edit", row, f"编辑「{row.name}」第 {row.version} 版草稿：{what}", comment)
    if layout_only:
        notes = notes + ["只调整了版式，流程含义未变"]
    return SaveResult(row.process_key, row.version, False, layout_only, notes)


def _new_draft(rt, s, base, bundle, digest, author, now, comment, notes) -> SaveResult:
    twin = _same_meaning(s, base.process_key, digest, None)
    if twin is not None:
        raise Conflict(f"与第 {twin.version} 版含义相同（只有版式或缩进不同），未建立新版本")
    from runner.versions import _next_version

    row = new_definition(rt, bundle, _next_version(s, base.process_key), "draft", now, author,
                         comment or f"由第 {base.version} 版编辑而来")
    if hasattr(ProcessDefinition, "scenarios"):  # versions carry their scenarios (issue 8, runner/versions.py)
        row.scenarios = dict(base.scenarios or {})
    s.add(row)
    s.flush()
    _audit(s, now, author, "version_draft", row,
           f"由「{base.name}」第 {base.version} 版编辑，建立第 {row.version} 版草稿", comment)
    return SaveResult(row.process_key, row.version, True, False, notes)


# -- what the editor offers: assignment, start permissions, forms, variables for the timer helper ------------
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
UNIT_KINDS = {"department": "县直部门", "town": "镇", "street": "街道", "zone": "经济开发区", "office": "县级机关"}
ASSIGNED = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*=(?!=)", re.M)
DATE_NAME = re.compile(r"date|day|time|due|_at$")


def _schema_fields(forms: dict[str, dict]):
    """(form file, form title, field name, field schema) for each top-level field of each form."""
    for name, schema in sorted(forms.items()):
        props = schema.get("properties") if isinstance(schema, dict) else None
        for field_name, prop in (props or {}).items():
            if isinstance(prop, dict):
                yield name, schema.get("title") or name, field_name, prop


def _is_date(prop: dict) -> bool:
    return prop.get("format") in ("date", "date-time") or prop.get("x-widget") == "date"


def editor_choices(xml: str, forms: dict[str, dict], units: list[tuple[str, str]], roles: dict[str, str]) -> dict:
    """The lists the properties panel chooses from, each value with the Chinese name a person reads."""
    from lxml import etree

    try:
        root = etree.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", xml).encode("utf-8"),
                                parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        root = None
    unit_options = [{"value": "initiator_unit", "label": "发起单位（发起人所在单位）"}]
    seen = {"initiator_unit"}
    for _form, title, field_name, prop in _schema_fields(forms):
        if prop.get("x-options") in ("units", "enforcement_units") and field_name not in seen:
            seen.add(field_name)
            label = f"表单「{title}」中填写的「{prop.get('title') or '单位'}」"
            unit_options.append({"value": field_name, "label": label})
    variables = []
    for _form, title, field_name, prop in _schema_fields(forms):
        if _is_date(prop) and field_name not in {v["value"] for v in variables}:
            variables.append({"value": field_name, "label": f"表单「{title}」中的「{prop.get('title') or '日期'}」"})
    if root is not None:
        _diagram_choices(root, unit_options, seen, variables)
    unit_options += [{"value": f'"{code}"', "label": name} for code, name in units]
    form_options = [{"value": name, "label": (schema.get("title") if isinstance(schema, dict) else None) or name}
                    for name, schema in sorted(forms.items())]
    return {"units": unit_options, "roles": [{"value": k, "label": v} for k, v in roles.items()],
            "unitKinds": [{"value": k, "label": v} for k, v in UNIT_KINDS.items()],
            "variables": variables, "forms": form_options, "conditionFields": condition_fields(forms)}


def _options(prop: dict) -> list[dict]:
    """A field's answers a gateway condition can test: yes/no, or its listed options (as the form shows them)."""
    if prop.get("type") == "boolean":
        return [{"value": "True", "label": "是"}, {"value": "False", "label": "否"}]
    for key in ("oneOf", "anyOf"):
        alts = prop.get(key) or []
        if alts and all(isinstance(a, dict) and "const" in a for a in alts):
            return [{"value": f'"{a["const"]}"', "label": str(a.get("title") or a["const"])} for a in alts]
    names = prop.get("x-enumNames") or []
    return [{"value": f'"{v}"', "label": str(names[i] if i < len(names) else v)}
            for i, v in enumerate(prop.get("enum") or [])]


def condition_fields(forms: dict[str, dict]) -> list[dict]:
    """Form fields with fixed answers, for the condition helper: `field == value` without typing code."""
    out, seen = [], set()
    for _form, title, field_name, prop in _schema_fields(forms):
        options = _options(prop)
        if options and field_name not in seen:
            seen.add(field_name)
            out.append({"value": field_name, "label": f"表单「{title}」中的「{prop.get('title') or '选项'}」",
                        "options": options})
    return out


def _diagram_choices(root, unit_options, seen, variables) -> None:
    """Units computed in the diagram (a script or a multi-instance variable) and dates its scripts record."""
    names = {}
    for el in root.iter(f"{{{BPMN_NS}}}*"):
        if el.get("id"):
            names[el.get("id")] = el.get("name") or ""
    for task in root.iter(f"{{{BPMN_NS}}}scriptTask"):
        script = task.findtext(f"{{{BPMN_NS}}}script") or ""
        for var in dict.fromkeys(ASSIGNED.findall(script)):
            if DATE_NAME.search(var) and var not in {v["value"] for v in variables}:
                variables.append({"value": var, "label": f"「{task.get('name') or '脚本'}」记录的日期"})
    for prop in root.iter(f"{{{SPIFF_NS}}}property"):
        if prop.get("name") in ("unit", "lateUnit"):
            value = prop.get("value") or ""
            if value and value not in seen and not value.startswith('"'):
                seen.add(value)
                owner = prop.getparent().getparent().getparent()
                unit_options.append({"value": value,
                                     "label": f"流程中确定的单位（同「{owner.get('name') or '某环节'}」）"})


def compare_base(rt: Runtime, key: str, version: int) -> int | None:
    """The version to compare VERSION of KEY with: the newest active one other than itself, else the one before."""
    with rt.session() as s:
        rows = s.execute(select(ProcessDefinition.version, ProcessDefinition.status)
                         .where(ProcessDefinition.process_key == key, ProcessDefinition.version != version)
                         .order_by(ProcessDefinition.version.desc())).all()
    active = next((v for v, status in rows if status == "active"), None)
    return active or next((v for v, _status in rows if v < version), None)
