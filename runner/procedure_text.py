"""A procedure as readable text for reviewers who do not read BPMN: lane by lane, which unit and role does
what in which order, under which deadline in working days, citing which clause in its original Chinese.

Everything here is read from the version's own XML and forms; no internal name (variable, element id, role
code) reaches the text: variables are named by their form field's title, roles and units by their Chinese names.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from lxml import etree

from runner.engine import rule_ids
from runner.org import ROLES

BP = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"
KIND = {"userTask": "办理", "scriptTask": "系统自动处理", "manualTask": "线下办理", "startEvent": "发起",
        "endEvent": "结束", "boundaryEvent": "期限届满", "intermediateCatchEvent": "等待",
        "intermediateThrowEvent": "通知", "exclusiveGateway": "判断", "inclusiveGateway": "判断",
        "parallelGateway": "分头办理/汇合", "subProcess": "子流程", "callActivity": "调用流程"}
SHOWN = ("startEvent", "userTask", "manualTask", "scriptTask", "boundaryEvent", "intermediateCatchEvent",
         "exclusiveGateway", "inclusiveGateway", "endEvent")
KNOWN_VARIABLES = {"initiator_unit": "发起单位", "notice_date": "通报日期", "started_at": "发起时间",
                   "received_date": "收到请求之日", "ordered_date": "协调决定之日", "time_limit": "执法时限",
                   "cycle_day": "本季度", "lead_unit": "牵头单位"}


@dataclass
class Clause:
    rule_id: str
    text: str  # the original Chinese clause (else the restatement)


@dataclass
class Step:
    number: int
    name: str
    kind: str  # Chinese: 办理, 判断, 期限届满 ...
    who: str = ""  # unit and role, in Chinese
    deadline: str = ""
    documentation: str = ""
    clauses: list[Clause] = field(default_factory=list)
    element_id: str = ""  # for the viewer link only, never printed


@dataclass
class Lane:
    name: str
    steps: list[Step] = field(default_factory=list)


@dataclass
class ProcedureText:
    name: str
    documentation: str
    lanes: list[Lane]
    clauses: list[Clause]  # every clause the procedure cites, once, in rule order
    deadlines: dict[str, str]  # element id -> deadline text (for the viewer)


def form_titles(forms: dict[str, dict]) -> dict[str, str]:
    """Field name -> its title, from every form of the version."""
    titles: dict[str, str] = {}

    def walk(schema):
        if not isinstance(schema, dict):
            return
        for name, prop in (schema.get("properties") or {}).items():
            if isinstance(prop, dict):
                if prop.get("title"):
                    titles.setdefault(name, str(prop["title"]))
                walk(prop)
                walk(prop.get("items"))
        for key in ("allOf", "anyOf", "oneOf"):
            for sub in schema.get(key) or []:
                walk(sub)
        for key in ("then", "else"):
            walk(schema.get(key))

    for schema in (forms or {}).values():
        walk(schema)
    return titles


class _Describer:
    def __init__(self, root, forms, units: dict[str, str], config: dict[str, str]):
        self.titles = {**KNOWN_VARIABLES, **form_titles(forms)}
        self.units, self.config = units, config
        self.assigned: dict[str, list[str]] = {}
        for script in root.iter(f"{BP}script"):
            for m in re.finditer(r"^(\w+)\s*=\s*(.+)$", script.text or "", re.M):
                self.assigned.setdefault(m.group(1), []).append(m.group(2))

    def variable(self, name: str) -> str:
        return self.titles.get(name) or "流程中记录的日期"

    def unit(self, expression: str) -> str:
        text = (expression or "").strip()
        literal = re.fullmatch(r"""["']([\w-]+)["']""", text)
        if literal:
            return self.units.get(literal.group(1), "指定单位")
        if re.fullmatch(r"\w+", text):
            return self.titles.get(text) or ("发起单位" if text == "initiator_unit" else "流程确定的单位")
        return "按办理情况确定的单位"

    def deadline(self, expression: str, depth: int = 0) -> str:
        try:
            tree = ast.parse((expression or "").strip(), mode="eval").body
        except SyntaxError:
            return "按流程中的表达式计算"
        return self._node(tree, depth)

    def _node(self, node, depth: int) -> str:
        if isinstance(node, ast.IfExp):
            return f"{self._node(node.body, depth)}（特别紧急的）；否则{self._node(node.orelse, depth)}"
        if isinstance(node, ast.Name):
            sources = self.assigned.get(node.id, [])
            if sources and depth < 3:
                texts = list(dict.fromkeys(self.deadline(src, depth + 1) for src in sources))
                return "；或".join(texts)
            return f"{self.variable(node.id)}届满时"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return self._call(node.func.id, node.args, depth)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return _duration(node.value) or "按设定的时间"
        return "按流程中的表达式计算"

    def _call(self, fn: str, args, depth: int) -> str:
        first = args[0] if args else None
        base = self.variable(first.id) if isinstance(first, ast.Name) else "起算日"
        if fn == "working_days_after" and len(args) == 2 and isinstance(args[1], ast.Constant):
            return f"自{base}起 {args[1].value} 个工作日内（当日不计入，第 {args[1].value} 个工作日 24:00 届满）"
        if fn == "end_of_day":
            return f"{base}当日 24:00 前"
        if fn == "quarter_end":
            return "所在季度结束时"
        if fn == "after" and first is not None:
            if isinstance(first, ast.Call) and getattr(first.func, "id", "") == "config" and first.args:
                value = self.config.get(getattr(first.args[0], "value", ""), "")
                return f"立即（系统设定的时限，现为 {_duration(value) or '管理员设定的时间'}）"
            if isinstance(first, ast.Constant):
                return _duration(str(first.value)) or "按设定的时间"
        return "按流程中的表达式计算"


def _duration(value: str) -> str:
    m = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?", value or "")
    if not m or not any(m.groups()):
        return ""
    parts = [f"{n} {unit}" for n, unit in zip(m.groups(), ("天", "小时", "分钟"), strict=True) if n]
    return "".join(parts)


def _props(el) -> dict[str, str]:
    return {p.get("name"): p.get("value") or "" for p in el.iter(f"{SPIFF}property")}


def _order(process) -> dict[str, int]:
    """Each element's place: breadth-first from the start events along sequence flows, a boundary event
    right after its host."""
    outgoing: dict[str, list[str]] = {}
    for flow in process.iter(f"{BP}sequenceFlow"):
        outgoing.setdefault(flow.get("sourceRef"), []).append(flow.get("targetRef"))
    attached: dict[str, list[str]] = {}
    for ev in process.iter(f"{BP}boundaryEvent"):
        attached.setdefault(ev.get("attachedToRef"), []).append(ev.get("id"))
    queue = [el.get("id") for el in process.iter(f"{BP}startEvent")]
    order: dict[str, int] = {}
    while queue:
        current = queue.pop(0)
        if current in order:
            continue
        order[current] = len(order)
        queue[:0] = attached.get(current, [])  # the deadline of a step comes right after it
        queue += outgoing.get(current, [])
    return order


def procedure_text(xml: str, forms: dict, units: dict[str, str], rules: dict[str, str], originals: dict[str, str],
                   config: dict[str, str] | None = None) -> ProcedureText:
    """The readable text of the diagram XML (with its FORMS); RULES/ORIGINALS: rule id -> restatement/clause."""
    root = etree.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", xml).encode("utf-8"),
                            etree.XMLParser(resolve_entities=False, no_network=True))
    process = root.find(f"{BP}process")
    if process is None:
        return ProcedureText("", "", [], [], {})
    describe = _Describer(root, forms, units, config or {})
    order = _order(process)
    elements = {el.get("id"): el for el in process.iter() if isinstance(el.tag, str) and el.get("id")}
    deadlines = _deadlines(process, describe)
    lanes = [(lane.get("name") or "未命名的泳道", [ref.text for ref in lane.iter(f"{BP}flowNodeRef")])
             for lane in process.iter(f"{BP}lane")]
    if not lanes:
        lanes = [("全部环节", list(elements))]
    cited: list[str] = []
    numbered = sorted((i, e) for e, i in order.items())
    number = {e: n for n, (_i, e) in enumerate(numbered, 1)}
    out = []
    for lane_name, refs in lanes:
        steps = []
        for element_id in sorted((r for r in refs if r in elements), key=lambda r: order.get(r, 10_000)):
            el = elements[element_id]
            tag = etree.QName(el).localname
            if tag not in SHOWN or (tag.endswith("Gateway") and not (el.get("name") or "").strip()):
                continue
            step = _step(el, tag, number.get(element_id, 0), describe, deadlines, rules, originals)
            cited += [c.rule_id for c in step.clauses if c.rule_id not in cited]
            steps.append(step)
        out.append(Lane(lane_name, steps))
    doc = (process.findtext(f"{BP}documentation") or "").strip()
    cited = [rid for rid in rules if rid in cited] + [rid for rid in cited if rid not in rules]
    return ProcedureText(process.get("name") or "", doc, out,
                         [Clause(rid, originals.get(rid) or rules.get(rid, "")) for rid in cited], deadlines)


def _deadlines(process, describe: _Describer) -> dict[str, str]:
    """Element id -> its deadline text: a task's own `due`, or the timer on it; a timer event's own."""
    out: dict[str, str] = {}
    for el in process.iter(f"{BP}userTask"):
        due = _props(el).get("due")
        if due:
            out[el.get("id")] = describe.deadline(due)
    for ev in process.iter(f"{BP}boundaryEvent", f"{BP}intermediateCatchEvent"):
        expr = next((e.text for e in ev.iter(f"{BP}timeDate", f"{BP}timeDuration", f"{BP}timeCycle")), None)
        if expr:
            text = describe.deadline(expr)
            out[ev.get("id")] = text
            host = ev.get("attachedToRef")
            if host:
                out.setdefault(host, text)
    return out


def _unit_of(el, expression: str, describe: _Describer) -> str:
    """The unit a task goes to; a task done once per item of a list goes to each unit of that list."""
    loop = el.find(f"{BP}multiInstanceLoopCharacteristics")
    item = loop.find(f"{BP}inputDataItem") if loop is not None else None
    if item is not None and (item.get("name") or item.get("id")) == expression.strip():
        collection = (loop.findtext(f"{BP}loopDataInputRef") or "").strip()
        return f"每个{describe.titles.get(collection, '相关单位')}"
    return describe.unit(expression)


def _step(el, tag, number, describe, deadlines, rules, originals) -> Step:
    doc = (el.findtext(f"{BP}documentation") or "").strip()
    name = (el.get("name") or "").strip() or KIND.get(tag, "环节")
    step = Step(number, name, KIND.get(tag, "环节"), documentation=doc, element_id=el.get("id"),
                deadline=deadlines.get(el.get("id"), ""))
    props = _props(el)
    if tag == "userTask":
        role = ROLES.get(props.get("role", ""), "指定角色")
        step.who = f"{_unit_of(el, props.get('unit', ''), describe)}的{role}"
        if props.get("taskKind") == "supervision":
            step.kind = "督办"
    if tag == "startEvent" and props.get("starterRoles"):
        step.who = "、".join(ROLES.get(r.strip(), "指定角色") for r in props["starterRoles"].split(","))
    if tag in ("boundaryEvent", "intermediateCatchEvent") and el.find(f"{BP}timerEventDefinition") is None:
        step.kind = "收到通知"
    elif tag == "boundaryEvent" and el.get("cancelActivity") == "false":
        step.kind = "期限届满（原任务不撤销）"
    step.clauses = [Clause(rid, originals.get(rid) or rules.get(rid, "")) for rid in rule_ids(doc)]
    return step
