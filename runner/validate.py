"""Check diagrams against docs/DIAGRAMS.md: parse errors, assignment, forms, rule citations, layout."""

from __future__ import annotations

import ast
import builtins
import json
import math
import re
import textwrap
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from lxml import etree

from runner.calendar import TZ
from runner.diagram_io import DiagramRefused, load_diagram, safe_parser, translate
from runner.engine import (
    Engine,
    Problem,
    SpiffBpmnParser,
    TimerEventDefinition,
    ValidationException,
    _first_line,
    clock_at,
    rule_ids,
)
from runner.forms import check_schema, limit_problems
from runner.org import ROLES

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
CJK = re.compile(r"[\u4e00-\u9fff]")
FEE = re.compile(r"(?i)(?<![a-z])fees?(?![a-z])|收费|费用|缴费")
FLOW_NODES = ("startEvent", "endEvent", "userTask", "scriptTask", "manualTask", "task", "serviceTask",
              "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "boundaryEvent",
              "intermediateCatchEvent", "intermediateThrowEvent", "subProcess", "callActivity", "sendTask",
              "receiveTask", "businessRuleTask")
NEEDS_DOC = ("userTask", "exclusiveGateway", "inclusiveGateway", "eventBasedGateway", "endEvent")
EXPRESSION_PROPS = ("unit", "field", "lateUnit", "due")
PROP_WORDS = {"unit": "办理单位", "field": "执法领域", "lateUnit": "逾期单位", "due": "办理期限"}


class Unchecked(Problem):
    """A file that could not be checked at all (missing, unreadable): `liandong validate` exits 2, not 1."""


SAFE_BUILTINS = {"len", "int", "str", "float", "bool", "any", "all", "min", "max", "sorted", "sum", "list", "dict",
                 "set", "tuple", "round", "abs", "isinstance", "range", "enumerate", "zip", "None", "True", "False"}
# what services._start seeds into every case beside the start form
START_DATA = {"initiator", "initiator_unit", "initiator_unit_kind", "started_at", "business_key"}
RUNTIME_ONLY = {"quarter_statistics", "open_task_units", "refuse"}  # need a database or a submitted form
# what scripts may also use (they run with Python's builtins; expressions are kept to SAFE_BUILTINS)
SCRIPT_BUILTINS = {"print", "str", "getattr", "hasattr", "map", "filter", "reversed", "next", "iter", "format",
                   "ValueError", "Exception", "NameError", "KeyError", "TypeError"}


def validate_files(paths: list[Path], engine: Engine, rules: dict[str, str]) -> list[Problem]:
    problems: list[Problem] = []
    for path in paths:
        problems += validate_file(Path(path), engine, rules)
    return problems


def validate_file(path: Path, engine: Engine, rules: dict[str, str]) -> list[Problem]:
    """All problems of the diagram at PATH; its process id must be its file name (the runtime finds it so)."""
    name = path.name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [Unchecked(name, "", "文件不存在")]
    except OSError:
        return [Unchecked(name, "", "文件无法读取（权限或磁盘问题）")]
    return validate_bytes(data, name, engine, rules, forms_dir=path.parent / "forms", file_stem=path.stem)


def validate_bytes(data: bytes, name: str, engine: Engine, rules: dict[str, str], forms_dir: Path | None = None,
                   file_stem: str | None = None) -> list[Problem]:
    """Every problem at once: XML, schema, engine, conventions, reachability, expressions, timers, layout."""
    try:
        loaded = load_diagram(data, name)
    except DiagramRefused as exc:
        return [Problem(name, "", exc.message, exc.line)]
    try:
        return _checks(loaded, engine, rules, forms_dir, file_stem)
    except (RecursionError, MemoryError):
        return [Problem(name, "", "流程图过于复杂（嵌套过深或表达式过长），无法检查")]


def _checks(loaded, engine, rules, forms_dir, file_stem) -> list[Problem]:
    name, root = loaded.name, loaded.root
    tree = root.getroottree()
    ids = _id_index(root)
    out = _schema_problems(name, root, engine, ids)
    engine_problems = _engine_problems(name, loaded, ids)
    out += engine_problems
    out += _semantic_checks(name, tree, rules, loaded, forms_dir, file_stem, engine)
    return _dedupe(out)


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        key = (p.element_id, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _id_index(root) -> dict:
    return {el.get("id"): el for el in root.iter() if isinstance(el.tag, str) and el.get("id")}


def _line_index(root) -> dict[int, object]:
    """Line -> the first element that starts on it (built once: a walk per schema error was quadratic)."""
    index: dict[int, object] = {}
    for el in root.iter():
        if isinstance(el.tag, str) and el.sourceline is not None:
            index.setdefault(el.sourceline, el)
    return index


def _schema_problems(name, root, engine, ids) -> list[Problem]:
    copy = etree.fromstring(etree.tostring(root), safe_parser())
    engine.validator.preprocess(copy)
    schema = engine.validator.validator
    if schema.validate(copy):
        return []
    out = []
    lines = _line_index(root)
    for err in schema.error_log:
        el = lines.get(err.line) if err.line else None
        owner = el
        while owner is not None and not owner.get("id"):
            owner = owner.getparent()
        out.append(Problem(name, owner.get("id") if owner is not None else "", translate_schema_error(err.message),
                           err.line))
    return out


def _engine_problems(name, loaded, ids) -> list[Problem]:
    """The engine stops at its first problem; it is wrapped, translated and placed."""
    if loaded.process_id is None:
        return [Problem(name, "", "文件中没有流程（process）", loaded.root.sourceline)]
    parser = SpiffBpmnParser(validator=None)
    try:
        parser.add_bpmn_xml(etree.fromstring(etree.tostring(loaded.root), safe_parser()), filename=name)
        parser.get_spec(loaded.process_id)
        parser.get_subprocess_specs(loaded.process_id)
    except ValidationException as exc:
        el_id = getattr(exc, "id", "") or ""
        line = getattr(exc, "line_number", None) or getattr(exc, "sourceline", None) or None
        if el_id and not line and el_id in ids:
            line = ids[el_id].sourceline
        return [Problem(name, el_id, translate_engine_error(_first_line(exc)), line or None)]
    except RecursionError:
        return [Problem(name, "", "流程过长或嵌套过深，引擎无法解析")]
    except Exception as exc:  # the engine's parser is not written for hostile input; never let it escape
        return [Problem(name, "", f"引擎无法解析此流程图（{_kind(exc)}）")]
    return []


def _kind(exc: BaseException) -> str:
    return {"KeyError": "引用了不存在的元素", "AttributeError": "缺少必需的元素或属性",
            "TypeError": "元素内容不完整", "ValueError": "取值不合法"}.get(type(exc).__name__, "内部错误")


SCHEMA_MESSAGES = [
    (re.compile(r"Element '([^']+)': This element is not expected"),
     lambda m: f"元素 {_local(m[1])} 不应出现在这里（位置或顺序不符合 BPMN 2.0 规范）"),
    (re.compile(r"Element '([^']+)', attribute '([^']+)': The attribute '[^']+' is not allowed"),
     lambda m: f"元素 {_local(m[1])} 不允许有属性 {_local(m[2])}"),
    (re.compile(r"Element '([^']+)': The attribute '([^']+)' is required but missing"),
     lambda m: f"元素 {_local(m[1])} 缺少必需的属性 {m[2]}"),
    (re.compile(r"Element '([^']+)': Missing child element"),
     lambda m: f"元素 {_local(m[1])} 缺少必需的子元素"),
    (re.compile(r"Element '([^']+)', attribute '([^']+)': '([^']*)' is not a valid value of the atomic type 'xs:ID'"),
     lambda m: f"元素 {_local(m[1])} 的 {m[2]}「{m[3]}」不是合法的标识（须以字母或下划线开头，不含空格）"),
    (re.compile(r"Element '([^']+)', attribute '([^']+)': '([^']*)' is not a valid value of the atomic type "
                r"'xs:(?:QName|IDREF)'"),
     lambda m: f"元素 {_local(m[1])} 的属性 {m[2]} 引用「{m[3]}」写法不合法"),
    (re.compile(r"Element '([^']+)', attribute '([^']+)': (?:\[facet '\w+'\] )?The value '([^']*)'"),
     lambda m: f"元素 {_local(m[1])} 的属性 {m[2]} 取值「{m[3]}」不在允许的范围内"),
    (re.compile(r"Element '([^']+)', attribute '([^']+)': '([^']*)' is not a valid value"),
     lambda m: f"元素 {_local(m[1])} 的属性 {m[2]} 取值「{m[3]}」不合法"),
    (re.compile(r"Element '([^']+)': '([^']*)' is not a valid value"),
     lambda m: f"元素 {_local(m[1])} 的内容「{m[2][:40]}」不合法"),
    (re.compile(r"Element '([^']+)': Character content other than whitespace is not allowed"),
     lambda m: f"元素 {_local(m[1])} 中不应有文字内容"),
    (re.compile(r"Element '([^']+)': No match found for key-sequence \['([^']*)'\]"),
     lambda m: f"元素 {_local(m[1])} 引用了不存在的元素「{m[2]}」"),
    (re.compile(r"Element '([^']+)': Duplicate key-sequence \['([^']*)'\]"),
     lambda m: f"标识「{m[2]}」重复（元素 {_local(m[1])}）"),
    (re.compile(r"Element '([^']+)': No matching global (?:element )?declaration"),
     lambda m: f"根元素 {_local(m[1])} 不是 BPMN 2.0 元素"),
    (re.compile(r"Element '([^']+)'"), lambda m: f"元素 {_local(m[1])} 不符合 BPMN 2.0 规范"),
]


def _local(qname: str) -> str:
    return qname.rsplit("}", 1)[-1]


def translate_schema_error(message: str) -> str:
    for pattern, make in SCHEMA_MESSAGES:
        m = pattern.search(message or "")
        if m:
            return make(m)
    return "不符合 BPMN 2.0 规范"


KIND_ZH = {"Message": "消息", "Signal": "信号", "Error": "错误", "Escalation": "升级", "Correlation": "关联"}
ENGINE_MESSAGES = [
    (re.compile(r"Process (\S+) is not executable"), lambda m: f"流程 {m[1]} 未标记为可执行（isExecutable）"),
    (re.compile(r"No start event found"), lambda m: "流程没有开始事件"),
    (re.compile(r"There is no support implemented for this task type"), lambda m: "本引擎不支持这种元素"),
    (re.compile(r"Non-default exclusive outgoing sequence flow without condition"),
     lambda m: "排他网关的非默认出口缺少条件"),
    (re.compile(r"Exactly one start event is required in a SubWorkflow"), lambda m: "子流程必须恰好有一个开始事件"),
    (re.compile(r"A SubWorkflow Must contain an End event"), lambda m: "子流程必须有结束事件"),
    (re.compile(r"No \"?calledElement\"? attribute"), lambda m: "调用活动没有指定被调用的流程（calledElement）"),
    (re.compile(r"Invalid Script Task"), lambda m: "脚本任务没有脚本"),
    (re.compile(r"Cannot resolve data(?:In|Out)putAssociation (\S+)"), lambda m: f"数据关联 {m[1]} 指向的数据不存在"),
    (re.compile(r"Data Store (?:with name (\S+) )?has no implementation|Data Store name is missing"),
     lambda m: "数据存储在本引擎中没有实现"),
    (re.compile(r"Duplicate process ID: (\S+)"), lambda m: f"流程标识 {m[1]} 重复"),
    (re.compile(r"The process '([^']+)' was not found"), lambda m: f"找不到流程 {m[1]}"),
    (re.compile(r"(Message|Signal|Error|Escalation|Correlation) identifier is missing"),
     lambda m: f"{KIND_ZH[m[1]]}定义缺少标识"),
    (re.compile(r"Could not find messageRef"), lambda m: "消息事件没有指向消息定义（messageRef）"),
    (re.compile(r"Unknown Time Specification|Time Specification Error"), lambda m: "定时器的时间设置无法识别"),
    (re.compile(r"Conditional event definition with missing condition"), lambda m: "条件事件缺少条件"),
    (re.compile(r"Sequential ordering for ad hoc"), lambda m: "不支持顺序执行的自由子流程"),
    (re.compile(r"Ad hoc subprocesses may not contain start or end"), lambda m: "自由子流程不能包含开始或结束事件"),
]


def translate_engine_error(message: str) -> str:
    return translate(ENGINE_MESSAGES, message, "流程引擎无法解析此元素")


def _semantic_checks(name, tree, rules, loaded, forms_dir, file_stem, engine) -> list[Problem]:
    out: list[Problem] = []

    def add(el, message, line=None):
        out.append(Problem(name, el.get("id", "") if el is not None else "", message,
                           line or (el.sourceline if el is not None else None)))

    processes = tree.xpath("/bpmn:definitions/bpmn:process", namespaces=NS)
    if len(processes) != 1:
        add(None, f"每个文件只能有一个流程（process），此文件有 {len(processes)} 个")
        if not processes:
            return out
    process = next((p for p in processes if p.get("id") == loaded.process_id), processes[0])
    if file_stem is not None and process.get("id") != file_stem:
        add(process, f"流程标识须与文件名一致：文件名为 {file_stem}，流程标识为 {process.get('id')}")
    nodes = [el for tag in FLOW_NODES for el in process.iter(f"{{{NS['bpmn']}}}{tag}")]
    flows = list(process.iter(f"{{{NS['bpmn']}}}sequenceFlow"))
    for el in nodes + flows + list(process.iter(f"{{{NS['bpmn']}}}lane")):
        if not SNAKE.match(el.get("id", "")):
            add(el, "id 须为英文 snake_case")
    forms = {}
    user_tasks = {el.get("id") for el in nodes if etree.QName(el).localname == "userTask"}
    for el in nodes:
        tag = etree.QName(el).localname
        label = el.get("name") or ""
        if tag not in ("parallelGateway", "exclusiveGateway", "inclusiveGateway") and not CJK.search(label):
            add(el, "元素名称须为中文")
        is_timer = el.find("bpmn:timerEventDefinition", NS) is not None
        if tag in NEEDS_DOC or is_timer:
            doc = el.findtext("bpmn:documentation", default="", namespaces=NS)
            cited = rule_ids(doc)
            if not cited:
                add(el, "documentation 须注明所依据的规则编号（如 P5）")
            elif rules:
                for rid in cited:
                    if rid not in rules:
                        add(el, f"规则编号 {rid} 不在 RULES.md 中")
        if is_timer:
            for expr in el.xpath("bpmn:timerEventDefinition/*", namespaces=NS):
                _check_expression(add, el, expr.text or "", "定时器表达式")
        if tag == "userTask":
            _check_user_task(forms_dir, el, add, forms, user_tasks)
        if tag == "startEvent" and _props(el).get("formJsonSchemaFilename"):
            _check_form(forms_dir, el, add, _props(el)["formJsonSchemaFilename"], forms)
    for gw in process.iter(f"{{{NS['bpmn']}}}eventBasedGateway"):
        add(gw, "暂不支持事件网关：其定时器不会进入定时器表，到期也不会触发；请改用边界定时器")
    for flow in flows:
        cond = flow.find("bpmn:conditionExpression", NS)
        if cond is not None:
            _check_expression(add, flow, cond.text or "", "条件表达式")
    by_source: dict[str, list] = {}
    for f in flows:
        by_source.setdefault(f.get("sourceRef"), []).append(f)
    for gw in process.iter(f"{{{NS['bpmn']}}}exclusiveGateway"):
        outgoing = by_source.get(gw.get("id"), [])
        if len(outgoing) > 1:
            for f in outgoing:
                if f.get("id") != gw.get("default") and f.find("bpmn:conditionExpression", NS) is None:
                    add(f, f"网关 {gw.get('id')} 的出口缺少条件")
    for rule in GRAPH_RULES:
        rule(process, nodes, flows, add)
    _check_names(process, nodes, flows, forms, engine, add)
    out += _check_layout(name, tree, process, nodes, flows)
    return out


# -- the graph: every element reachable from a start, every non-end element leads somewhere -------------------
def _is_compensation(el) -> bool:
    return el.get("isForCompensation") == "true"


def _has_def(el, kind: str) -> bool:
    return el.find(f"bpmn:{kind}EventDefinition", NS) is not None


def _check_reachable(process, nodes, flows, add) -> None:
    """Starts are start events, boundary events of reached hosts, link catches and compensation handlers;
    an expanded subprocess, once reached, reaches its own start events."""
    targets: dict[str, list[str]] = {}
    for f in flows:
        targets.setdefault(f.get("sourceRef"), []).append(f.get("targetRef"))
    by_id = {el.get("id"): el for el in nodes}
    boundary: dict[str, list[str]] = {}
    for el in nodes:
        if etree.QName(el).localname == "boundaryEvent":
            boundary.setdefault(el.get("attachedToRef"), []).append(el.get("id"))
    stack = [el.get("id") for el in nodes if _starts(el, process)]
    seen = set()
    while stack:
        nid = stack.pop()
        if nid in seen or nid not in by_id:
            continue
        seen.add(nid)
        el = by_id[nid]
        stack += targets.get(nid, []) + boundary.get(nid, [])
        if etree.QName(el).localname == "subProcess":
            stack += [c.get("id") for c in el if c.get("id") in by_id and _starts(c, el)]
    for el in nodes:
        if el.get("id") not in seen:
            add(el, "从开始事件无法到达此元素")


def _starts(el, container) -> bool:
    tag = etree.QName(el).localname
    if el.getparent() is not container:
        return False
    if tag == "startEvent" or _is_compensation(el):
        return True
    if tag == "subProcess" and el.get("triggeredByEvent") == "true":
        return True
    return tag == "intermediateCatchEvent" and _has_def(el, "link")


def _check_dead_ends(process, nodes, flows, add) -> None:
    """A watcher task (its boundary timer carries the flow, the task itself waits to be cancelled) is not a dead end."""
    sources = {f.get("sourceRef") for f in flows}
    hosts = {el.get("attachedToRef") for el in nodes if etree.QName(el).localname == "boundaryEvent"}
    for el in nodes:
        tag = etree.QName(el).localname
        if tag == "endEvent" or _is_compensation(el) or el.get("id") in sources or el.get("id") in hosts:
            continue
        if tag == "intermediateThrowEvent" and _has_def(el, "link"):
            continue
        if tag == "boundaryEvent" and _has_def(el, "compensate"):
            continue
        add(el, "此元素没有出口（不是结束事件，却没有流出的顺序流）")


GRAPH_RULES = [_check_reachable, _check_dead_ends]


# -- names in expressions: script globals, form fields, start data, variables scripts set ------------------------
def _assigned_names(process) -> set[str]:
    names: set[str] = set()
    for script in process.iter(f"{{{NS['bpmn']}}}script"):
        tree = _parse(script.text or "", "exec")
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
    for item in process.iter(f"{{{NS['bpmn']}}}inputDataItem", f"{{{NS['bpmn']}}}outputDataItem",
                             f"{{{NS['bpmn']}}}loopDataInputRef", f"{{{NS['bpmn']}}}loopDataOutputRef",
                             f"{{{NS['bpmn']}}}dataObject", f"{{{NS['bpmn']}}}dataObjectReference"):
        for value in (item.get("id"), item.get("name"), item.text):
            if value:
                names.add(value.strip())
    for prop in process.iter(f"{{{NS['spiffworkflow']}}}property"):
        if prop.get("name") in ("field", "variable", "collection", "outputVariable", "formDataVariable"):
            names.add(prop.get("value") or "")
    return names


def _parse(text: str, mode: str):
    try:
        return ast.parse(text.strip(), mode=mode)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _form_fields(forms: dict) -> dict[str, dict]:
    fields: dict[str, dict] = {}
    for schema in forms.values():
        if isinstance(schema, dict):
            for key, spec in (schema.get("properties") or {}).items():
                fields[key] = spec if isinstance(spec, dict) else {}
    return fields


def _check_names(process, nodes, flows, forms, engine, add) -> None:
    fields = _form_fields(forms)
    script_globals = _sample_globals(engine)
    known = set(script_globals) | SAFE_BUILTINS | START_DATA | set(fields) | _assigned_names(process)
    if any(not isinstance(f, dict) for f in forms.values()) or None in forms.values():
        return  # a form we could not read: we do not know its fields, so we do not guess
    for el, what, text in _expressions(process, nodes, flows):
        tree = _parse(text, "eval")
        if tree is not None:  # syntax errors are reported by _check_expression
            _unknown_names(tree, known, el, what, add)
    for task, script in _scripts(process):
        tree, first_line = _parse_script(task, script, add)
        if tree is not None:
            _unknown_names(tree, known | SCRIPT_BUILTINS, task, "脚本", add, first_line)
    sample = {**{k: _sample(v) for k, v in fields.items()}, "started_at": SAMPLE_DAY.isoformat(),
              "business_key": "LD-2026-0001", "initiator": "示例", "initiator_unit": "示例"}
    assigned = _sample_script_values(process, sample, script_globals)
    for el in nodes:
        for expr in el.xpath("bpmn:timerEventDefinition/bpmn:timeDate|bpmn:timerEventDefinition/bpmn:timeDuration",
                             namespaces=NS):
            _check_timer(el, etree.QName(expr).localname, expr.text or "", sample, script_globals, add, assigned)


def _unknown_names(tree, known: set[str], el, what: str, add, first_line: int | None = None) -> None:
    """Every name TREE reads that is neither known nor bound inside it, once each; linear in TREE's size."""
    nodes = list(ast.walk(tree))
    local = {n.arg for n in nodes if isinstance(n, ast.arg)}
    local |= {t.id for n in nodes if isinstance(n, ast.comprehension) for t in ast.walk(n.target)
              if isinstance(t, ast.Name)}
    called = {id(n.func) for n in nodes if isinstance(n, ast.Call)}
    reported: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in known \
                and node.id not in local and node.id not in reported:
            reported.add(node.id)
            line = first_line + node.lineno - 1 if first_line else None
            add(el, f"{what}中使用了未知的{'函数' if id(node) in called else '变量'} {node.id}", line)


def _scripts(process):
    for script in process.iter(f"{{{NS['bpmn']}}}script"):
        task = script.getparent()
        if (script.text or "").strip():
            yield task, script


def _script_source(text: str) -> tuple[str, int]:
    """The script without the blank lines and common indentation the XML gave it; how many lines went."""
    lines = text.split("\n")
    skipped = 0
    while lines and not lines[0].strip():
        lines.pop(0)
        skipped += 1
    return textwrap.dedent("\n".join(lines)).rstrip(), skipped


def _parse_script(task, script, add):
    """The script's syntax tree and the file line of its first line; a syntax error is reported at its line."""
    source, skipped = _script_source(script.text or "")
    first_line = (script.sourceline or task.sourceline or 1) + skipped
    try:
        return ast.parse(source, mode="exec"), first_line
    except SyntaxError as exc:
        add(task, f"脚本语法错误：第 {exc.lineno or 1} 行「{(exc.text or '').strip()[:60]}」附近",
            first_line + (exc.lineno or 1) - 1)
    except (RecursionError, MemoryError, ValueError):
        add(task, "脚本过于复杂，无法检查")
    return None, first_line


def _sample_globals(engine) -> dict:
    """The engine's script globals, with the configured limits read as sample values (a check runs without the
    service's settings; a limit it does not know is taken to be two hours)."""
    script_globals = dict(engine.script_globals())
    config = dict(getattr(engine, "config", {}) or {})

    def config_sample(name):
        return config.get(str(name)) or "PT2H"

    script_globals["config"] = config_sample
    return script_globals


def _expressions(process, nodes, flows):
    for f in flows:
        cond = f.find("bpmn:conditionExpression", NS)
        if cond is not None and (cond.text or "").strip():
            yield f, "条件表达式", cond.text
    for el in nodes:
        for expr in el.xpath("bpmn:timerEventDefinition/*", namespaces=NS):
            if (expr.text or "").strip():
                yield el, "定时器表达式", expr.text
        props = _props(el)
        for key in EXPRESSION_PROPS:
            if props.get(key):
                yield el, f"{PROP_WORDS[key]}（{key}）的表达式", props[key]


SAMPLE_DAY = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)


def _sample(spec: dict, depth: int = 0):
    """A value the form could submit for SPEC: its first option, a date for a date, a number within its bounds,
    an object with a sample of each property, a list of one sample item."""
    if not isinstance(spec, dict) or depth > 8:
        return "示例"
    options = [o.get("const") for o in spec.get("oneOf") or [] if isinstance(o, dict) and "const" in o]
    options = list(spec.get("enum") or []) + options if isinstance(spec.get("enum") or [], list) else options
    if options:
        return options[0]
    kind = spec.get("type")
    if kind == "string":
        if spec.get("format") == "date":
            return "2026-03-02"
        if spec.get("format") == "date-time":
            return SAMPLE_DAY.isoformat()
        return "示例"
    if kind in ("integer", "number"):
        low = spec.get("minimum", spec.get("exclusiveMinimum", 0))
        value = max(1, low + 1 if "exclusiveMinimum" in spec else low) if isinstance(low, int | float) else 1
        return int(value) if kind == "integer" else float(value)
    if kind == "object":
        return {k: _sample(v, depth + 1) for k, v in (spec.get("properties") or {}).items()}
    if kind == "array":
        items = spec.get("items")
        return [_sample(items, depth + 1)] if isinstance(items, dict) and items else []
    return {"boolean": True}.get(kind, "示例")


# operations that can make a huge value or a long loop out of a short expression: an uploaded diagram is
# someone else's code, so a sample evaluation never runs them (the check then says nothing about the timer)
UNSAFE_NODES = (ast.Pow, ast.Mult, ast.LShift, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
                ast.Lambda, ast.NamedExpr, ast.Starred)
MAX_EVALUATED_NODES = 200


def _evaluable(tree, sample, script_globals) -> bool:
    """Only expressions whose every name has a sample or is one of our functions, with no private attribute and
    no huge number, are run: an uploaded diagram is someone else's code, and we do not guess what scripts compute."""
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return not _unsafe(tree) and not names & RUNTIME_ONLY and \
        names <= set(sample) | set(script_globals) | SAFE_BUILTINS


def _unsafe(tree) -> bool:
    nodes = list(ast.walk(tree))
    return len(nodes) > MAX_EVALUATED_NODES or any(
        isinstance(n, UNSAFE_NODES) or (isinstance(n, ast.Attribute) and n.attr.startswith("_"))
        or (isinstance(n, ast.Constant) and isinstance(n.value, int) and abs(n.value) > 100_000) for n in nodes)


def _run(tree, sample, script_globals):
    env = {"__builtins__": {n: getattr(builtins, n) for n in SAFE_BUILTINS if hasattr(builtins, n)},
           **script_globals}
    with clock_at(SAMPLE_DAY):
        return eval(compile(tree, "<sample>", "eval"), env, dict(sample))  # noqa: S307 - _evaluable checked it


def _sample_script_values(process, sample, script_globals) -> dict[str, list]:
    """Sample values of variables that scripts set by a plain assignment (notice_date = today()); every
    expression each such variable is assigned, so that a timer reading it is tried on each of them."""
    assigned: dict[str, list] = {}
    for script in process.iter(f"{{{NS['bpmn']}}}script"):
        tree = _parse(_script_source(script.text or "")[0], "exec")
        for stmt in tree.body if tree is not None else []:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                assigned.setdefault(stmt.targets[0].id, []).append(stmt.value)
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name) \
                    and stmt.targets[0].id not in sample:
                expr = ast.Expression(stmt.value)
                if _evaluable(expr, sample, script_globals):
                    try:
                        sample[stmt.targets[0].id] = _run(ast.fix_missing_locations(expr), sample, script_globals)
                    except Exception:  # a script that fails on samples is not this check's finding
                        continue
    return assigned


def _check_timer(el, kind, text, sample, script_globals, add, assigned=None) -> None:
    """Evaluate the timer on sample data when every name in it has a sample: each branch of a conditional and
    each expression a script assigns to the variable it reads (urgent or not, both deadlines must compute)."""
    tree = _parse(text, "eval")
    if tree is None:
        return
    if _unsafe(tree):
        add(el, "定时器表达式过长或含有乘方、乘法、推导式等运算，无法在示例数据上试算，请改用期限函数："
            f"{text.strip()[:80]}")
        return
    for branch in _branches(tree.body, assigned or {}, 0):
        expr = ast.fix_missing_locations(ast.Expression(branch))
        if not _evaluable(expr, sample, script_globals):
            continue  # an unknown name is reported by _check_names; a database function cannot be tried here
        try:
            value = _run(expr, sample, script_globals)
            if kind == "timeDate":
                datetime.fromisoformat(str(value))
            else:
                TimerEventDefinition.parse_iso_duration(str(value))
        except Exception:  # any failure on sample data is the finding itself
            part = ast.unparse(branch)
            where = "" if part == text.strip() else f"（其中 {part[:80]}）"
            what = "时间" if kind == "timeDate" else "时长"
            add(el, f"定时器表达式在示例数据上无法算出{what}：{text.strip()[:80]}{where}")


def _branches(node, assigned: dict[str, list], depth: int):
    if depth > 8:
        yield node
    elif isinstance(node, ast.IfExp):
        yield from _branches(node.body, assigned, depth + 1)
        yield from _branches(node.orelse, assigned, depth + 1)
    elif isinstance(node, ast.Name) and assigned.get(node.id):
        for value in assigned[node.id]:
            yield from _branches(value, assigned, depth + 1)
    else:
        yield node


def _check_expression(add, el, text: str, what: str) -> None:
    try:
        compile(text.strip(), "<diagram>", "eval")
    except SyntaxError as exc:
        add(el, f"{what}语法错误：「{text.strip()[:80]}」（第 {exc.offset or 1} 个字符附近）")
    except (RecursionError, MemoryError, ValueError):
        add(el, f"{what}过于复杂，无法检查")


def _props(el) -> dict[str, str]:
    return {p.get("name"): p.get("value") for p in
            el.xpath("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", namespaces=NS)}


def _check_user_task(forms_dir, el, add, forms, user_tasks: set[str]) -> None:
    props = _props(el)
    if props.get("role") not in ROLES:
        add(el, f"用户任务须指定有效角色 role（现为 {props.get('role')!r}）")
    if not props.get("unit"):
        add(el, "用户任务须指定办理单位 unit")
    for key in EXPRESSION_PROPS:
        if props.get(key):
            _check_expression(add, el, props[key], f"{PROP_WORDS[key]}（{key}）的表达式")
    if props.get("taskKind") == "supervision":
        _check_supervision(el, props, add, user_tasks)
    form = props.get("formJsonSchemaFilename")
    if not form:
        add(el, "用户任务须引用表单 formJsonSchemaFilename")
        return
    _check_form(forms_dir, el, add, form, forms)


def _check_supervision(el, props: dict[str, str], add, tasks: set[str]) -> None:
    """A 督办 must say which unit was late and at which task, so that it can name them and the deadline."""
    if not props.get("lateUnit"):
        add(el, "督办任务须指定逾期单位 lateUnit")
    named = [e.strip() for e in (props.get("lateTask") or "").split(",") if e.strip()]
    if not named:
        add(el, "督办任务须以 lateTask 指明逾期未办的任务（用户任务 id，多个用逗号分隔）")
    for element_id in named:
        if element_id not in tasks:
            add(el, f"lateTask 所指的 {element_id} 不是本流程的用户任务")


def _check_form(forms_dir, el, add, form: str, forms: dict) -> None:
    if form in forms:
        return
    forms[form] = None
    if forms_dir is None or "/" in form or "\\" in form or form.startswith("."):
        add(el, f"表单 {form} 不在随流程图提供的表单中")
        return
    try:
        schema = json.loads((Path(forms_dir) / form).read_text(encoding="utf-8"))
    except FileNotFoundError:
        add(el, f"表单 {form} 不存在")
        return
    except (OSError, ValueError):
        add(el, f"表单 {form} 无法读取（不是合法的 JSON）")
        return
    forms[form] = schema
    error = check_schema(schema)
    if error:
        add(el, f"表单 {form} 不是合法的 JSON Schema：{error}")
    if FEE.search(json.dumps(schema, ensure_ascii=False)):
        add(el, f"表单 {form} 含收费字段（P9 不得收取费用）")
    # unbounded answers once grew the database 40-fold; scripts/form_limits.py adds sensible bounds
    for key, title, what in limit_problems(schema):
        add(el, f"表单 {form} 的字段「{title}」（{key}）缺少{what}，请运行 scripts/form_limits.py 补充")


def _check_layout(name, tree, process, nodes, flows) -> list[Problem]:
    out: list[Problem] = []
    shapes = {}
    for shape in tree.iter(f"{{{NS['bpmndi']}}}BPMNShape"):
        b = shape.find("dc:Bounds", NS)
        if b is not None:
            try:
                box = tuple(float(b.get(k)) for k in ("x", "y", "width", "height"))
            except (TypeError, ValueError):
                out.append(Problem(name, shape.get("bpmnElement") or "", "图形的位置或大小不是数字", shape.sourceline))
                continue
            if all(math.isfinite(v) for v in box):
                shapes[shape.get("bpmnElement")] = box
    edges = {e.get("bpmnElement") for e in tree.iter(f"{{{NS['bpmndi']}}}BPMNEdge")}
    for el in nodes:
        if el.get("id") not in shapes:
            out.append(Problem(name, el.get("id"), "缺少图形（BPMNShape）", el.sourceline))
    for f in flows:
        if f.get("id") not in edges:
            out.append(Problem(name, f.get("id"), "缺少连线（BPMNEdge）", f.sourceline))
    hosts = {el.get("id"): el.get("attachedToRef") for el in nodes if etree.QName(el).localname == "boundaryEvent"}
    placed = [el for el in nodes if el.get("id") in shapes]
    for a, b in _overlapping_pairs(placed, shapes):
        ia, ib = a.get("id"), b.get("id")
        if hosts.get(ia) == ib or hosts.get(ib) == ia or _contains(a, b) or _contains(b, a):
            continue
        out.append(Problem(name, ia, f"图形与 {ib} 重叠", a.sourceline))
    for lane in process.iter(f"{{{NS['bpmn']}}}lane"):
        box = shapes.get(lane.get("id"))
        for ref in lane.findall("bpmn:flowNodeRef", NS):
            node = shapes.get(ref.text)
            if box and node and ref.text not in hosts and not _inside(node, box):
                out.append(Problem(name, ref.text, f"图形不在泳道 {lane.get('id')} 内", ref.sourceline))
    return out


GRID = 200.0  # about one task wide: most shapes fall in 1-4 cells, so the check stays linear in the shapes


def _overlapping_pairs(placed, shapes):
    """Pairs of overlapping shapes, in document order, found through a uniform grid (the old all-pairs loop took
    250 s for 12,000 shapes). A shape spanning very many cells (a large subprocess) is compared directly."""
    cells: dict[tuple[int, int], list[int]] = {}
    big: list[int] = []
    for i, el in enumerate(placed):
        x, y, w, h = shapes[el.get("id")]
        span = _cells(x, y, w, h)
        if span is None:
            big.append(i)
            continue
        for cell in span:
            cells.setdefault(cell, []).append(i)
    found: set[tuple[int, int]] = set()
    for members in cells.values():
        for k, i in enumerate(members):
            for j in members[k + 1:]:
                found.add((i, j))
    for i in big:
        found.update((min(i, j), max(i, j)) for j in range(len(placed)) if j != i)
    for i, j in sorted(found):
        a, b = placed[i], placed[j]
        if _overlap(shapes[a.get("id")], shapes[b.get("id")]):
            yield a, b


def _cells(x, y, w, h):
    x0, y0, x1, y1 = int(x // GRID), int(y // GRID), int((x + max(w, 0)) // GRID), int((y + max(h, 0)) // GRID)
    if (x1 - x0 + 1) * (y1 - y0 + 1) > 64:
        return None
    return [(cx, cy) for cx in range(x0, x1 + 1) for cy in range(y0, y1 + 1)]


def _contains(outer, inner) -> bool:
    """An expanded subprocess draws its children inside itself."""
    if etree.QName(outer).localname != "subProcess":
        return False
    return any(parent is outer for parent in inner.iterancestors())


def _overlap(a, b) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def _inside(inner, outer) -> bool:
    ix, iy, iw, ih = inner
    ox, oy, ow, oh = outer
    return ix >= ox and iy >= oy and ix + iw <= ox + ow and iy + ih <= oy + oh


# -- diagrams from other tools ------------------------------------------------------------------------------------
SUPPORTED_EVENTS = {"timer", "signal", "terminate"}
EVENT_ZH = {"message": "消息", "error": "错误", "escalation": "升级", "compensate": "补偿", "conditional": "条件",
            "link": "链接", "cancel": "取消", "signal": "信号", "timer": "定时", "terminate": "终止"}
NO_IMPLEMENTATION = {"serviceTask": "服务任务", "sendTask": "发送任务", "receiveTask": "接收任务",
                     "businessRuleTask": "业务规则任务"}
IGNORED_DATA = {"dataStoreReference": "数据存储", "dataStore": "数据存储", "dataObject": "数据对象",
                "dataObjectReference": "数据对象", "dataInput": "数据输入", "dataOutput": "数据输出"}


@dataclass
class Report:
    """What an imported diagram holds (COUNTS), what keeps it from running here (BLOCKERS), then the findings
    against our conventions (FINDINGS). SHOWN: the XML could be read, so the viewer can draw it."""

    name: str
    shown: bool
    counts: dict[str, int] = field(default_factory=dict)
    blockers: list[Problem] = field(default_factory=list)
    findings: list[Problem] = field(default_factory=list)

    @property
    def problems(self) -> list[Problem]:
        return self.blockers + self.findings

    def text(self) -> str:
        counts = "，".join(f"{k} {v}" for k, v in self.counts.items() if v)
        lines = [f"== {self.name}：{'可以显示' if self.shown else '无法显示'}" + (f"（{counts}）" if counts else "")]
        if self.blockers:
            lines.append(f"无法在此运行的原因（{len(self.blockers)} 项）：")
            lines += [f"  {p}" for p in self.blockers]
        if self.findings:
            lines.append(f"不符合本系统规范之处（{len(self.findings)} 项）：")
            lines += [f"  {p}" for p in self.findings]
        if not self.problems:
            lines.append("未发现问题，可以在此运行")
        return "\n".join(lines)


def _label(el) -> str:
    name = (el.get("name") or "").strip().replace("\n", " ")
    return f"「{name}」" if name else ""


def import_report(data: bytes, name: str, engine: Engine | None = None, rules: dict | None = None) -> Report:
    """The report for a diagram drawn in another tool; its file name does not matter."""
    if engine is None:
        from runner.calendar import WorkingCalendar

        engine = Engine(WorkingCalendar.load())
    if rules is None:
        from runner.config import ROOT
        from runner.rules import load_rules

        rules = load_rules(ROOT / "policy" / "RULES.md")
    try:
        loaded = load_diagram(data, name)
    except DiagramRefused as exc:
        return Report(name, False, blockers=[Problem(name, "", exc.message, exc.line)])
    report = Report(name, True)
    try:
        report.counts = _counts(loaded.root)
        report.blockers = _blockers(name, loaded)
        seen = {(p.element_id, p.message) for p in report.blockers}
        report.findings = [p for p in validate_bytes(data, name, engine, rules)
                           if (p.element_id, p.message) not in seen]
    except (RecursionError, MemoryError):
        report.findings.append(Problem(name, "", "流程图过于复杂（嵌套过深或表达式过长），无法检查"))
    return report


def _counts(root) -> dict[str, int]:
    def n(*tags):
        return sum(1 for _ in root.iter(*[f"{{{NS['bpmn']}}}{t}" for t in tags]))

    return {"流程": n("process"), "池": n("participant"), "泳道": n("lane"),
            "任务": n("task", "userTask", "scriptTask", "manualTask", "serviceTask", "sendTask", "receiveTask",
                     "businessRuleTask", "callActivity"),
            "子流程": n("subProcess", "transaction", "adHocSubProcess"),
            "事件": n("startEvent", "endEvent", "boundaryEvent", "intermediateCatchEvent", "intermediateThrowEvent"),
            "网关": n("exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway",
                     "complexGateway"),
            "顺序流": n("sequenceFlow"), "消息流": n("messageFlow"),
            "数据元素": n(*IGNORED_DATA), "图形": sum(1 for _ in root.iter(f"{{{NS['bpmndi']}}}BPMNShape"))}


def _blockers(name: str, loaded) -> list[Problem]:
    out: list[Problem] = []

    def add(el, message):
        out.append(Problem(name, el.get("id", "") if el is not None else "", message,
                           el.sourceline if el is not None else None))

    root, bp = loaded.root, f"{{{NS['bpmn']}}}"
    if not loaded.process_ids:
        add(root, "文件中没有流程（process），只有图形或协作图，无法运行")
    for proc in root.iterchildren(f"{bp}process"):
        if proc.get("id") not in loaded.executable:
            add(proc, f"流程{_label(proc)}未标记为可执行（isExecutable 不是 true）")
    if len(loaded.process_ids) > 1:
        chosen = loaded.process_id
        for proc in root.iterchildren(f"{bp}process"):
            if proc.get("id") != chosen:
                add(proc, f"文件含 {len(loaded.process_ids)} 个流程，此处只运行 {chosen}，流程{_label(proc)}将被忽略")
    if len(loaded.pools) > 1:
        for part in root.iter(f"{bp}participant"):
            if part.get("processRef") != loaded.process_id:
                add(part, f"池（参与者）{_label(part)}不会运行：此处一个文件只运行一个池的流程")
    for flow in root.iter(f"{bp}messageFlow"):
        add(flow, f"消息流{_label(flow)}不会传递消息：本系统不在池之间收发消息")
    for tag, what in IGNORED_DATA.items():
        for el in root.iter(f"{bp}{tag}"):
            add(el, f"{what}{_label(el)}在此不起作用，将被忽略")
    for tag, what in NO_IMPLEMENTATION.items():
        for el in root.iter(f"{bp}{tag}"):
            add(el, f"{what}{_label(el)}没有可在此执行的实现，请改为由人办理的用户任务")
    for el in root.iter(f"{bp}scriptTask"):
        if not (el.findtext(f"{bp}script") or "").strip():
            add(el, f"脚本任务{_label(el)}没有脚本")
    for el in root.iter(f"{bp}task"):
        if not _props(el).get("unit"):
            add(el, f"任务{_label(el)}未指定类型，系统不知道由谁办理（须为用户任务并指定单位和角色）")
    for el in root.iter(f"{bp}userTask"):
        props = _props(el)
        if not props.get("unit") or not props.get("role"):
            add(el, f"用户任务{_label(el)}没有指定办理单位和角色")
    for el in root.iter(f"{bp}eventBasedGateway"):
        add(el, f"事件网关{_label(el)}暂不支持")
    for el in root.iter(f"{bp}complexGateway"):
        add(el, f"复杂网关{_label(el)}不受支持")
    for el in root.iter(f"{bp}callActivity"):
        add(el, f"调用活动{_label(el)}调用的流程不在此文件中，无法运行")
    for el in root.iter(f"{bp}transaction", f"{bp}adHocSubProcess"):
        add(el, f"事务或自由子流程{_label(el)}不受支持")
    for el in root.iter():
        if not isinstance(el.tag, str) or not el.tag.startswith(bp) or not el.tag.endswith("EventDefinition"):
            continue
        kind = etree.QName(el).localname[: -len("EventDefinition")]
        if kind not in SUPPORTED_EVENTS:
            event = el.getparent()
            add(event, f"{EVENT_ZH.get(kind, '此类')}事件{_label(event)}不受支持（只支持定时、信号和终止事件）")
    return out
