"""The version library: list, successor, import, activate (behind the scenario gate), export.

Each write is one transaction, audited with who, when, why and the basis. The diagram stays the spec:
a successor's window and basis are written into its XML's process properties, and the row's columns are
read back from them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from lxml import etree
from sqlalchemy import func, select

from runner.calendar import TZ
from runner.engine import DiagramError
from runner.errors import Conflict, Invalid, NotFound
from runner.models import AuditEntry, ProcessDefinition
from runner.queries.rows import people_names
from runner.runtime import Runtime, checksum, covers, new_definition, scenario_texts

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
SCENARIO_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}__[a-z0-9_]{1,80}$")
MAX_SCENARIO_CHARS = 200_000
STATUS_WORDS = {"draft": "草稿", "active": "已启用", "retired": "已停用"}


@dataclass
class VersionRow:
    process_key: str
    name: str
    version: int
    status: str
    effective_from: str | None
    effective_to: str | None
    basis_number: str
    basis_title: str
    approved_by: str | None
    approved_at: datetime | None = None
    author: str = ""
    created_at: datetime | None = None
    comment: str = ""
    scenario_count: int = 0
    author_name: str = ""  # display names, for pages (a username is an internal name)
    approver_name: str = ""


@dataclass
class Procedure:
    process_key: str
    name: str
    versions: list[VersionRow] = field(default_factory=list)
    in_force: int | None = None  # the version in force today
    next: int | None = None  # the active version whose window starts next


def _day(now: datetime) -> str:
    return now.astimezone(TZ).date().isoformat()


def window_text(row) -> str:
    return f"{row.effective_from or '不限'} 至 {row.effective_to or '不限'}"


# -- reading ------------------------------------------------------------------------------------
def list_versions(rt: Runtime, now: datetime, key: str | None = None) -> list[Procedure]:
    """Every procedure with its versions; which is in force on NOW's date and which comes next."""
    day = _day(now)
    with rt.session() as s:
        q = select(ProcessDefinition).order_by(ProcessDefinition.process_key, ProcessDefinition.version)
        if key:
            q = q.where(ProcessDefinition.process_key == key)
        rows = list(s.scalars(q))
        names = people_names(s, {r.author for r in rows} | {r.approved_by for r in rows if r.approved_by})
    names["system"] = "系统初始化"
    out: dict[str, Procedure] = {}
    for r in rows:
        proc = out.setdefault(r.process_key, Procedure(r.process_key, r.name))
        proc.name = r.name
        proc.versions.append(VersionRow(r.process_key, r.name, r.version, r.status, r.effective_from,
                                        r.effective_to, r.basis_number, r.basis_title, r.approved_by,
                                        r.approved_at, r.author, r.created_at, r.comment, len(r.scenarios or {}),
                                        names.get(r.author, r.author), names.get(r.approved_by or "", "")))
        if r.status == "active" and covers(r, day):
            proc.in_force = r.version
        if r.status == "active" and r.effective_from and r.effective_from > day:
            later = next((v for v in proc.versions if v.version == proc.next), None)
            if later is None or r.effective_from < (later.effective_from or ""):
                proc.next = r.version
    if key and not out:
        raise NotFound(f"没有名为 {key} 的流程")
    return list(out.values())


def _row(s, key: str, version: int) -> ProcessDefinition:
    row = s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == key,
                                                    ProcessDefinition.version == version)).first()
    if row is None:
        raise NotFound(f"流程 {key} 没有第 {version} 版")
    return row


def _next_version(s, key: str) -> int:
    return (s.scalar(select(func.max(ProcessDefinition.version)).where(ProcessDefinition.process_key == key))
            or 0) + 1


# -- writing the window and basis into the diagram ------------------------------------------------
def with_properties(xml: str, values: dict[str, str]) -> str:
    """XML with the process's spiffworkflow properties VALUES set (added when missing); layout kept."""
    raw = re.sub(r"^\s*<\?xml[^>]*\?>", "", xml).encode("utf-8")
    root = etree.fromstring(raw, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    process = root.find(f"{{{BPMN_NS}}}process")
    if process is None:
        raise Invalid("流程图中没有流程（bpmn:process）")
    ext = process.find(f"{{{BPMN_NS}}}extensionElements")
    if ext is None:
        ext = etree.Element(f"{{{BPMN_NS}}}extensionElements")
        docs = process.findall(f"{{{BPMN_NS}}}documentation")
        process.insert(len(docs), ext)
    props = ext.find(f"{{{SPIFF_NS}}}properties")
    if props is None:
        props = etree.SubElement(ext, f"{{{SPIFF_NS}}}properties")
    for name, value in values.items():
        found = next((p for p in props.findall(f"{{{SPIFF_NS}}}property") if p.get("name") == name), None)
        if found is None:
            found = etree.SubElement(props, f"{{{SPIFF_NS}}}property", name=name)
            found.tail = props[-2].tail if len(props) > 1 else None
        found.set("value", value)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + etree.tostring(root, encoding="unicode")


def _check_window(start: str | None, end: str | None) -> None:
    errors = {}
    for name, value in (("start", start), ("end", end)):
        if value and not _is_date(value):
            errors[name] = f"日期格式应为 YYYY-MM-DD：{value[:20]}"
    if not start:
        errors.setdefault("start", "须写明施行起始日")
    if not errors and start and end and end < start:
        errors["end"] = f"施行期间有误：止于 {end} 早于起始 {start}"
    if errors:
        raise Invalid("施行期间有误：" + "；".join(errors.values()), errors)


def _is_date(value: str) -> bool:
    from datetime import date

    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _audit(s, now, actor, action, row: ProcessDefinition, detail: str, reason: str = "") -> None:
    s.add(AuditEntry(at=now, actor=actor, action=action, detail=detail, changes={
        "process_key": row.process_key, "version": row.version, "status": row.status,
        "effective_from": row.effective_from, "effective_to": row.effective_to,
        "basis_number": row.basis_number, "basis_title": row.basis_title, "reason": reason}))


def _store_draft(rt, s, xml: str, forms: dict, now, author: str, comment: str, key: str | None = None,
                 scenarios: dict[str, str] | None = None, name: str | None = None):
    try:
        bundle = rt.engine.parse_text(xml, forms, name or key or "导入的流程图")
    except DiagramError as exc:
        raise Invalid("流程图未通过检查，未保存：\n" + "\n".join(f"  {p}" for p in exc.problems)) from exc
    if key and bundle.process_key != key:
        raise Invalid(f"流程图中的流程编号是 {bundle.process_key}，不是 {key}")
    same = s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == bundle.process_key,
                                                     ProcessDefinition.checksum == checksum(bundle))).first()
    if same is not None:
        raise Conflict(f"与第 {same.version} 版含义相同（只有版式或缩进不同），未建立新版本")
    row = new_definition(rt, bundle, _next_version(s, bundle.process_key), "draft", now, author, comment)
    # a draft carries its procedure's scenarios, so a change to them travels with the diagram change
    row.scenarios = dict(scenarios) if scenarios is not None else procedure_scenarios(s, bundle.process_key)
    s.add(row)
    s.flush()
    return row


def procedure_scenarios(s, key: str) -> dict[str, str]:
    """The scenarios a new version of KEY starts from: the newest active version's, else the newest
    version's, else the seed files (tests/scenarios/KEY__*.yaml)."""
    rows = s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == key)
                     .order_by(ProcessDefinition.version.desc())).all()
    for row in [r for r in rows if r.status == "active"] + list(rows):
        if row.scenarios:
            return dict(row.scenarios)
    return scenario_texts(key)


def create_successor(rt: Runtime, key: str, start: str, end: str | None, basis_number: str, basis_title: str,
                     comment: str, author: str, now: datetime, user=None) -> ProcessDefinition:
    """A draft copied from the version in force (or else the newest), with a new window and basis written
    into its diagram. USER, when given (the web), must be legal staff or an administrator."""
    if user is not None:
        _require_editor(rt, user, "建立后续版本", now)
    basis_number, basis_title = (basis_number or "").strip(), (basis_title or "").strip()
    errors = {}
    try:
        _check_window(start, end)
    except Invalid as exc:
        errors.update(exc.field_errors)
    if not basis_number:
        errors["basis_number"] = "须写明新版本依据的政策文件文号"
    elif len(basis_number) > 128:
        errors["basis_number"] = "文号过长（不超过 128 个字符）"
    if not basis_title:
        errors["basis_title"] = "须写明新版本依据的政策文件标题"
    elif len(basis_title) > 255:
        errors["basis_title"] = "标题过长（不超过 255 个字符）"
    if errors:
        message = "须写明新版本依据的政策文件文号和标题" if set(errors) <= {"basis_number", "basis_title"} \
            else "新版本的施行期间或依据有误"
        raise Invalid(message + "：" + "；".join(errors.values()), errors)
    with rt.session() as s, s.begin():
        base = s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == key,
                                                         ProcessDefinition.status == "active")
                         .order_by(ProcessDefinition.version.desc())).all()
        day = _day(now)
        source = next((r for r in base if covers(r, day)), None) or (base[0] if base else None)
        if source is None:
            source = s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == key)
                               .order_by(ProcessDefinition.version.desc())).first()
        if source is None:
            raise NotFound(f"没有名为 {key} 的流程")
        xml = with_properties(source.bpmn_xml, {"effectiveFrom": start, "effectiveTo": end or "",
                                                "basisNumber": basis_number.strip(),
                                                "basisTitle": basis_title.strip()})
        row = _store_draft(rt, s, xml, dict(source.forms or {}), now, author,
                           comment or f"由第 {source.version} 版复制，依据新政策", key,
                           scenarios=dict(source.scenarios) if source.scenarios else None)
        _audit(s, now, author, "version_draft", row,
               f"由「{row.name}」第 {source.version} 版建立第 {row.version} 版草稿，施行期间 {window_text(row)}，"
               f"依据 {row.basis_number}《{row.basis_title}》", comment)
        s.expunge(row)
        return row


def import_file(rt: Runtime, path: Path, author: str, now: datetime, key: str | None = None,
                comment: str = "") -> ProcessDefinition:
    """FILE (with the forms in forms/ beside it) as a draft; an invalid one is refused, nothing stored."""
    try:
        bundle = rt.engine.parse(Path(path))
    except DiagramError as exc:
        raise Invalid("流程图未通过检查，未保存：\n" + "\n".join(f"  {p}" for p in exc.problems)) from exc
    with rt.session() as s, s.begin():
        row = _store_draft(rt, s, bundle.xml, bundle.forms, now, author, comment or f"由文件 {Path(path).name} 导入",
                           key)
        _audit(s, now, author, "version_import", row, f"导入「{row.name}」第 {row.version} 版草稿（{Path(path).name}）",
               comment)
        s.expunge(row)
        return row


# -- the gate -----------------------------------------------------------------------------------
@dataclass
class ScenarioRun:
    name: str  # the scenario's key, e.g. case_transfer__accepted
    title: str  # its Chinese name
    ok: bool
    failures: list[str] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)


@dataclass
class GateResult:
    passed: list[str] = field(default_factory=list)
    failed: list[tuple[str, list[str]]] = field(default_factory=list)  # scenario name, failures
    runs: list[ScenarioRun] = field(default_factory=list)  # in order, with transcripts

    @property
    def ok(self) -> bool:
        return not self.failed and bool(self.runs)


class GateRefused(Invalid):
    """Activation refused because a scenario failed; GATE holds every scenario's transcript."""

    def __init__(self, message: str, gate: GateResult):
        super().__init__(message)
        self.gate = gate


def run_gate(row: ProcessDefinition) -> GateResult:
    """Run ROW's own scenarios against ROW (its window relaxed)."""
    from runner.simulate import ScenarioError, parse_scenario, run_scenario

    result = GateResult()
    override = {row.process_key: (row.bpmn_xml, dict(row.forms or {}))}
    for name, text in sorted((row.scenarios or {}).items()):
        title = name
        try:
            doc = parse_scenario(text, name)
            title = str(doc.get("name") or name)
            outcome = run_scenario(None, override=override, doc=doc)
        except (ScenarioError, DiagramError, Invalid) as exc:
            message = exc.message if isinstance(exc, Invalid) else str(exc)
            result.failed.append((name, [message]))
            result.runs.append(ScenarioRun(name, title, False, [message]))
            continue
        result.runs.append(ScenarioRun(name, title, outcome.ok, list(outcome.failures), list(outcome.transcript)))
        if outcome.ok:
            result.passed.append(name)
        else:
            result.failed.append((name, outcome.failures))
    return result


def get_version(rt: Runtime, key: str, version: int) -> ProcessDefinition:
    """One stored version (detached), or NotFound."""
    with rt.session() as s:
        row = _row(s, key, version)
        s.expunge(row)
        return row


def _require_editor(rt, user, action: str, now: datetime) -> None:
    """Only legal staff and administrators change versions; a refusal is audited."""
    from runner.access import deny, is_admin

    if user is None or not is_admin(user):
        raise deny(rt, getattr(user, "username", "?"), action, "只有法制审核人员或管理员可以更改流程版本", now)


def activate(rt: Runtime, key: str, version: int, by: str, reason: str, now: datetime,
             user=None) -> tuple[ProcessDefinition, GateResult]:
    """Put draft VERSION of KEY in force: refused when its window overlaps another active version's, or
    when any of the draft's own scenarios fails against it (GateRefused carries the transcript).
    USER, when given (the web), must be legal staff or an administrator."""
    if user is not None:
        _require_editor(rt, user, "启用流程版本", now)
    if not reason.strip():
        raise Invalid("须写明启用理由", {"reason": "须写明启用理由"})
    row = get_version(rt, key, version)
    if row.status != "draft":
        raise Conflict(f"第 {version} 版当前状态为「{STATUS_WORDS.get(row.status, row.status)}」，只有草稿可以启用")
    _refuse_overlap(rt, row)
    problems = version_problems(rt, row)
    if problems:  # validation is enforced: a diagram that fails `liandong validate` never goes in force
        raise Invalid(f"「{row.name}」第 {version} 版未通过流程图检查，不能启用：\n"
                      + "\n".join(f"  {p}" for p in problems))
    if not row.scenarios:
        raise Invalid(f"「{row.name}」第 {version} 版没有任何场景，无法检验，不能启用")
    gate = run_gate(row)
    if not gate.ok:
        lines = [f"「{row.name}」第 {version} 版未通过场景检验，不能启用："]
        for name, failures in gate.failed:
            lines.append(f"  场景 {name}：" + "；".join(failures))
        raise GateRefused("\n".join(lines), gate)
    with rt.session() as s, s.begin():
        row = _row(s, key, version)
        if row.status != "draft":
            raise Conflict(f"第 {version} 版刚被他人处理，请刷新后查看")
        _refuse_overlap(rt, row, s)
        row.status, row.approved_by, row.approved_at, row.deployed_at = "active", by, now, now
        _audit(s, now, by, "version_activate", row,
               f"启用「{row.name}」第 {version} 版，施行期间 {window_text(row)}，依据 {row.basis_number}"
               f"《{row.basis_title}》；通过场景 {len(gate.passed)} 个", reason)
        s.flush()
        s.expunge(row)
    return row, gate


# -- the draft's scenarios ------------------------------------------------------------------------
def save_scenario(rt: Runtime, key: str, version: int, name: str, text: str, user, now: datetime,
                  original: str | None = None) -> ProcessDefinition:
    """Add or replace scenario NAME of draft VERSION (renamed from ORIGINAL when given); only drafts change.
    A mistake in the YAML or its structure is refused with a Chinese message beside the field."""
    from runner.simulate import ScenarioError, parse_scenario

    _require_editor(rt, user, "修改场景", now)
    name, text = (name or "").strip(), (text or "").replace("\r\n", "\n")
    errors = {}
    if not SCENARIO_NAME.fullmatch(name) or not name.startswith(f"{key}__"):
        errors["name"] = f"场景编号须以「{key}__」开头，其后为小写英文字母、数字或下划线"
    if len(text) > MAX_SCENARIO_CHARS:
        errors["text"] = f"场景过长（不得超过 {MAX_SCENARIO_CHARS} 个字符）"
    elif not text.strip():
        errors["text"] = "场景内容不能为空"
    else:
        try:
            parse_scenario(text, "场景")
        except ScenarioError as exc:
            errors["text"] = str(exc).removeprefix("场景: ")
    if errors:
        raise Invalid("场景有误，未保存", errors)
    with rt.session() as s, s.begin():
        row = _row(s, key, version)
        _require_draft(row)
        scenarios = dict(row.scenarios or {})
        if original and original != name:
            if name in scenarios:
                raise Invalid("场景有误，未保存", {"name": "已有同名场景"})
            scenarios.pop(original, None)
        scenarios[name] = text
        row.scenarios = scenarios
        _audit(s, now, user.username, "version_scenarios", row,
               f"修改「{row.name}」第 {row.version} 版草稿的场景 {name}")
        s.flush()
        s.expunge(row)
        return row


def delete_scenario(rt: Runtime, key: str, version: int, name: str, user, now: datetime) -> None:
    _require_editor(rt, user, "删除场景", now)
    with rt.session() as s, s.begin():
        row = _row(s, key, version)
        _require_draft(row)
        if name not in (row.scenarios or {}):
            raise NotFound(f"第 {version} 版没有场景 {name}")
        row.scenarios = {k: v for k, v in row.scenarios.items() if k != name}
        _audit(s, now, user.username, "version_scenarios", row,
               f"删除「{row.name}」第 {row.version} 版草稿的场景 {name}")


def _require_draft(row: ProcessDefinition) -> None:
    if row.status != "draft":
        raise Conflict(f"第 {row.version} 版已{STATUS_WORDS.get(row.status, row.status)}，其场景不能再修改；"
                       "请建立新版本后修改")


# -- a diagram uploaded in the browser ------------------------------------------------------------
def import_bytes(rt: Runtime, data: bytes, filename: str, user, now: datetime, comment: str = "") -> ProcessDefinition:
    """DATA (any file name; encoding from its XML declaration) as a draft of the procedure its process id
    names. Forms it refers to come from that procedure's stored versions. Only a diagram that can run
    here is stored; anything else is refused (Invalid) and nothing is stored."""
    from runner.diagram_io import DiagramRefused, load_diagram

    _require_editor(rt, user, "导入流程图", now)
    try:
        loaded = load_diagram(data, filename)
    except DiagramRefused as exc:
        where = f"（第 {exc.line} 行）" if exc.line else ""
        raise Invalid(f"无法读取该文件{where}：{exc.message}；未保存") from exc
    key = loaded.process_id
    with rt.session() as s, s.begin():
        base = s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == (key or ""))
                         .order_by(ProcessDefinition.version.desc())).first()
        forms = {}
        if base is not None:
            forms = dict(base.forms or {})
        row = _store_draft(rt, s, loaded.text, forms, now, user.username,
                           comment or f"由上传的文件 {filename} 导入", name=filename)
        _audit(s, now, user.username, "version_import", row,
               f"上传导入「{row.name}」第 {row.version} 版草稿（{filename}，{loaded.encoding}）", comment)
        s.flush()
        s.expunge(row)
        return row


def _refuse_overlap(rt, row: ProcessDefinition, s=None) -> None:
    own = s is None
    s = s or rt.session()
    try:
        others = s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == row.process_key,
                                                           ProcessDefinition.status == "active",
                                                           ProcessDefinition.id != row.id))
        for other in others:
            if _overlaps(row, other):
                raise Conflict(f"第 {row.version} 版的施行期间（{window_text(row)}）与已启用的第 {other.version} 版"
                               f"（{window_text(other)}）重叠，不能启用；请调整施行期间")
    finally:
        if own:
            s.close()


def _overlaps(a, b) -> bool:
    lo = max(a.effective_from or "0000-00-00", b.effective_from or "0000-00-00")
    hi = min(a.effective_to or "9999-12-31", b.effective_to or "9999-12-31")
    return lo <= hi


# -- export -------------------------------------------------------------------------------------
def export_in_force(rt: Runtime, target: Path, now: datetime) -> list[str]:
    """Write the version in force of each procedure (else its newest active one) to TARGET as files."""
    target = Path(target)
    (target / "forms").mkdir(parents=True, exist_ok=True)
    written = []
    day = _day(now)
    with rt.session() as s:
        rows = list(s.scalars(select(ProcessDefinition).where(ProcessDefinition.status == "active")
                              .order_by(ProcessDefinition.process_key, ProcessDefinition.version.desc())))
    chosen: dict[str, ProcessDefinition] = {}
    for r in rows:
        if covers(r, day) or r.process_key not in chosen:
            if r.process_key not in chosen or (covers(r, day) and not covers(chosen[r.process_key], day)):
                chosen[r.process_key] = r
    for key, r in sorted(chosen.items()):
        (target / f"{key}.bpmn").write_text(r.bpmn_xml, encoding="utf-8")
        for name, schema in (r.forms or {}).items():
            (target / "forms" / name).write_text(json.dumps(schema, ensure_ascii=False, indent=2) + "\n",
                                                 encoding="utf-8")
        if r.scenarios:  # the version's scenarios, so tests/scenarios can follow as bpmn/ does
            (target / "scenarios").mkdir(exist_ok=True)
            for name, text in r.scenarios.items():
                (target / "scenarios" / f"{name}.yaml").write_text(text, encoding="utf-8")
        written.append(f"{key}.bpmn（第 {r.version} 版，{window_text(r)}）")
    return written


# -- checking a stored version -------------------------------------------------------------------
def version_problems(rt: Runtime, row: ProcessDefinition) -> list:
    """Every problem `liandong validate` finds in ROW's own XML and forms (written beside it for the check)."""
    import tempfile

    from runner.rules import load_rules
    from runner.validate import validate_bytes

    with tempfile.TemporaryDirectory() as tmp:
        forms_dir = Path(tmp) / "forms"
        forms_dir.mkdir()
        for name, schema in (row.forms or {}).items():
            if "/" not in name and "\\" not in name and not name.startswith("."):
                (forms_dir / name).write_text(json.dumps(schema, ensure_ascii=False), encoding="utf-8")
        return validate_bytes(row.bpmn_xml.encode("utf-8"), f"第 {row.version} 版", rt.engine,
                              load_rules(rt.settings.rules_file), forms_dir=forms_dir)
