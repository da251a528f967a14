"""Check diagrams against docs/DIAGRAMS.md: parse errors, assignment, forms, rule citations, layout."""

from __future__ import annotations

import json
import re
from pathlib import Path

from lxml import etree

from runner.engine import DiagramError, Engine, Problem, rule_ids
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


def validate_files(paths: list[Path], engine: Engine, rules: dict[str, str]) -> list[Problem]:
    problems: list[Problem] = []
    for path in paths:
        problems += validate_file(Path(path), engine, rules)
    return problems


def validate_file(path: Path, engine: Engine, rules: dict[str, str]) -> list[Problem]:
    name = path.name
    try:
        tree = etree.parse(str(path))
    except (OSError, etree.XMLSyntaxError) as exc:
        line = getattr(exc, "lineno", None)
        return [Problem(name, "", f"不是合法的 XML：{exc}", line)]
    try:
        engine.parse(path)
    except DiagramError as exc:
        problems = exc.problems
        for p in problems:
            if p.element_id and p.line is None:
                p.line = _line_of(tree, p.element_id)
        return problems
    return _semantic_checks(path, tree, rules)


def _line_of(tree, element_id: str) -> int | None:
    found = tree.xpath("//*[@id=$i]", i=element_id)
    return found[0].sourceline if found else None


def _semantic_checks(path: Path, tree, rules: dict[str, str]) -> list[Problem]:
    name = path.name
    out: list[Problem] = []

    def add(el, message):
        out.append(Problem(name, el.get("id", "") if el is not None else "", message,
                           el.sourceline if el is not None else None))

    processes = tree.xpath("//bpmn:process", namespaces=NS)
    if len(processes) != 1:
        add(None, "每个文件只能有一个流程（process）")
        return out
    process = processes[0]
    if process.get("id") != path.stem:
        add(process, f"流程 id 必须与文件名一致（{path.stem}）")
    nodes = [el for tag in FLOW_NODES for el in process.iter(f"{{{NS['bpmn']}}}{tag}")]
    flows = list(process.iter(f"{{{NS['bpmn']}}}sequenceFlow"))
    for el in nodes + flows + list(process.iter(f"{{{NS['bpmn']}}}lane")):
        if not SNAKE.match(el.get("id", "")):
            add(el, "id 须为英文 snake_case")
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
            out += _check_user_task(path, el, add)
        if tag == "startEvent" and _props(el).get("formJsonSchemaFilename"):
            _check_form(path, el, add, _props(el)["formJsonSchemaFilename"])
    for gw in process.iter(f"{{{NS['bpmn']}}}eventBasedGateway"):
        add(gw, "暂不支持事件网关：其定时器不会进入定时器表，到期也不会触发；请改用边界定时器")
    for flow in flows:
        cond = flow.find("bpmn:conditionExpression", NS)
        if cond is not None:
            _check_expression(add, flow, cond.text or "", "条件表达式")
    for gw in process.iter(f"{{{NS['bpmn']}}}exclusiveGateway"):
        outgoing = [f for f in flows if f.get("sourceRef") == gw.get("id")]
        if len(outgoing) > 1:
            for f in outgoing:
                if f.get("id") != gw.get("default") and f.find("bpmn:conditionExpression", NS) is None:
                    add(f, f"网关 {gw.get('id')} 的出口缺少条件")
    out += _check_layout(name, tree, process, nodes, flows)
    return out


def _check_expression(add, el, text: str, what: str) -> None:
    try:
        compile(text.strip(), "<diagram>", "eval")
    except SyntaxError as exc:
        add(el, f"{what}语法错误：{text.strip()!r}（{exc.msg}）")


def _props(el) -> dict[str, str]:
    return {p.get("name"): p.get("value") for p in
            el.xpath("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", namespaces=NS)}


def _check_user_task(path: Path, el, add) -> list[Problem]:
    props = _props(el)
    if props.get("role") not in ROLES:
        add(el, f"用户任务须指定有效角色 role（现为 {props.get('role')!r}）")
    if not props.get("unit"):
        add(el, "用户任务须指定办理单位 unit")
    for key in EXPRESSION_PROPS:
        if props.get(key):
            _check_expression(add, el, props[key], f"属性 {key} 的表达式")
    if props.get("taskKind") == "supervision":
        _check_supervision(el, props, add)
    form = props.get("formJsonSchemaFilename")
    if not form:
        add(el, "用户任务须引用表单 formJsonSchemaFilename")
        return []
    _check_form(path, el, add, form)
    return []


def _check_supervision(el, props: dict[str, str], add) -> None:
    """A 督办 must say which unit was late and at which task, so that it can name them and the deadline."""
    if not props.get("lateUnit"):
        add(el, "督办任务须指定逾期单位 lateUnit")
    named = [e.strip() for e in (props.get("lateTask") or "").split(",") if e.strip()]
    if not named:
        add(el, "督办任务须以 lateTask 指明逾期未办的任务（用户任务 id，多个用逗号分隔）")
    tasks = set(el.xpath("ancestor::bpmn:process[1]//bpmn:userTask/@id", namespaces=NS))
    for element_id in named:
        if element_id not in tasks:
            add(el, f"lateTask 所指的 {element_id} 不是本流程的用户任务")


def _check_form(path: Path, el, add, form: str) -> None:
    form_path = path.parent / "forms" / form
    try:
        schema = json.loads(form_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        add(el, f"表单 {form} 无法读取：{exc}")
        return
    error = check_schema(schema)
    if error:
        add(el, f"表单 {form} 不是合法的 JSON Schema：{error}")
    if FEE.search(json.dumps(schema, ensure_ascii=False)):
        add(el, f"表单 {form} 含收费字段（P9 不得收取费用）")
    # unbounded answers once grew the database 40-fold; scripts/form_limits.py adds sensible bounds
    for field, title, what in limit_problems(schema):
        add(el, f"表单 {form} 的字段「{title}」（{field}）缺少{what}，请运行 scripts/form_limits.py 补充")


def _check_layout(name, tree, process, nodes, flows) -> list[Problem]:
    out: list[Problem] = []
    shapes = {}
    for shape in tree.iter(f"{{{NS['bpmndi']}}}BPMNShape"):
        b = shape.find("dc:Bounds", NS)
        if b is not None:
            shapes[shape.get("bpmnElement")] = (float(b.get("x")), float(b.get("y")),
                                                float(b.get("width")), float(b.get("height")))
    edges = {e.get("bpmnElement") for e in tree.iter(f"{{{NS['bpmndi']}}}BPMNEdge")}
    for el in nodes:
        if el.get("id") not in shapes:
            out.append(Problem(name, el.get("id"), "缺少图形（BPMNShape）", el.sourceline))
    for f in flows:
        if f.get("id") not in edges:
            out.append(Problem(name, f.get("id"), "缺少连线（BPMNEdge）", f.sourceline))
    hosts = {el.get("id"): el.get("attachedToRef") for el in nodes if etree.QName(el).localname == "boundaryEvent"}
    placed = [el for el in nodes if el.get("id") in shapes]
    for i, a in enumerate(placed):
        for b in placed[i + 1:]:
            ia, ib = a.get("id"), b.get("id")
            if hosts.get(ia) == ib or hosts.get(ib) == ia or _contains(a, b) or _contains(b, a):
                continue
            if _overlap(shapes[ia], shapes[ib]):
                out.append(Problem(name, ia, f"图形与 {ib} 重叠", a.sourceline))
    for lane in process.iter(f"{{{NS['bpmn']}}}lane"):
        box = shapes.get(lane.get("id"))
        for ref in lane.findall("bpmn:flowNodeRef", NS):
            node = shapes.get(ref.text)
            if box and node and ref.text not in hosts and not _inside(node, box):
                out.append(Problem(name, ref.text, f"图形不在泳道 {lane.get('id')} 内", ref.sourceline))
    return out


def _contains(outer, inner) -> bool:
    """An expanded subprocess draws its children inside itself."""
    return etree.QName(outer).localname == "subProcess" and any(el is inner for el in outer.iter())


def _overlap(a, b) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def _inside(inner, outer) -> bool:
    ix, iy, iw, ih = inner
    ox, oy, ow, oh = outer
    return ix >= ox and iy >= oy and ix + iw <= ox + ow and iy + ih <= oy + oh
