"""A semantic diff of two versions of a procedure, listed in Chinese: which elements were added, removed or
changed, and what changed in each (names, documentation and cited rules, conditions, deadlines in working
days, assignment, forms field by field). A change of layout alone is reported as layout only.

The elements it calls changed are the ones bpmn-js-differ marks on the diagram (webui/static/src/compare.js):
an element's own content counts, the elements it contains and the flows it connects do not (they are
elements of their own); a nested change counts for the nearest tracked element, and the process stands for
its pool. Forms live beside the XML, so an element whose form changed is marked by this module alone.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field

from lxml import etree
from sqlalchemy import select

from runner.engine import rule_ids
from runner.errors import NotFound
from runner.models import ProcessDefinition
from runner.names import SCRIPT_VARIABLES, TimerText, field_labels
from runner.org import ROLES, UNITS
from runner.runtime import Runtime, meaning_digest

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
LAYOUT = ("http://www.omg.org/spec/BPMN/20100524/DI", "http://www.omg.org/spec/DD/20100524/DI",
          "http://www.omg.org/spec/DD/20100524/DC")
TYPE_ZH = {
    "startEvent": "开始事件", "endEvent": "结束事件", "userTask": "用户任务", "scriptTask": "脚本任务",
    "manualTask": "人工任务", "task": "任务", "serviceTask": "服务任务", "sendTask": "发送任务",
    "receiveTask": "接收任务", "businessRuleTask": "业务规则任务", "exclusiveGateway": "排他网关",
    "parallelGateway": "并行网关", "inclusiveGateway": "包容网关", "eventBasedGateway": "事件网关",
    "complexGateway": "复杂网关", "boundaryEvent": "边界事件", "intermediateCatchEvent": "中间捕获事件",
    "intermediateThrowEvent": "中间抛出事件", "subProcess": "子流程", "callActivity": "调用活动",
    "transaction": "事务子流程", "adHocSubProcess": "自由子流程", "sequenceFlow": "连线", "lane": "泳道",
    "participant": "流程（池）", "process": "流程", "messageFlow": "消息流", "collaboration": "协作图",
    "dataObjectReference": "数据对象", "dataStoreReference": "数据存储", "dataInputAssociation": "数据关联",
    "dataOutputAssociation": "数据关联",
}
TRACKED = set(TYPE_ZH) - {"process"}
# references to many elements: bpmn-js-differ leaves them out (a flow is an element of its own)
MANY_REFS = {"incoming", "outgoing", "flowNodeRef"}
PROP_ZH = {
    "role": "办理角色", "unit": "办理单位", "formJsonSchemaFilename": "表单", "taskKind": "任务类型",
    "lateUnit": "逾期单位", "lateTask": "逾期未办的环节", "due": "办理期限", "auxiliary": "辅助结束",
    "starterRoles": "可发起的角色", "starterUnitKinds": "可发起的单位类别", "businessKeyPrefix": "编号前缀",
    "effectiveFrom": "施行起始日", "effectiveTo": "施行截止日", "basisNumber": "依据文号",
    "basisTitle": "依据文件标题", "formDataVariable": "表单答复的存放位置", "field": "执法领域",
    "standing": "常设事项",
}
UNIT_KINDS = {"department": "县属部门", "town": "镇", "street": "街道", "zone": "经济开发区", "office": "县直机关"}
TASK_KINDS = {"supervision": "督办", "receipt": "签收"}
START_WORDS = {"initiator_unit": "发起单位", "initiator": "发起人"}
TYPE_WORDS = {"string": "文本", "integer": "整数", "number": "数字", "boolean": "是/否", "array": "列表",
              "object": "分组"}
BOUND_WORDS = {"minimum": "最小值", "maximum": "最大值", "exclusiveMinimum": "下限（不含）",
               "exclusiveMaximum": "上限（不含）", "minLength": "最少字数", "maxLength": "最多字数",
               "minItems": "最少项数", "maxItems": "最多项数", "format": "格式", "pattern": "格式规则"}
FORMAT_WORDS = {"date": "日期", "date-time": "日期时间", "email": "电子邮箱", "uri": "网址"}


@dataclass
class ElementChange:
    kind: str  # added | removed | changed | layout
    element_id: str  # for colouring the diagram only; never the text a person reads
    type_zh: str
    name: str
    details: list[str] = field(default_factory=list)


@dataclass
class VersionDiff:
    changes: list[ElementChange] = field(default_factory=list)
    layout: list[ElementChange] = field(default_factory=list)  # elements moved or resized only
    notes: list[str] = field(default_factory=list)  # changes outside any element (definitions, signals)
    layout_only: bool = False
    identical: bool = False
    form_only: list[str] = field(default_factory=list)  # ids changed by their form alone (not in the XML)

    def ids(self, kind: str) -> set[str]:
        return {c.element_id for c in self.changes if c.kind == kind}


# -- reading a version ---------------------------------------------------------------------------
@dataclass
class _Version:
    root: object
    forms: dict
    elements: dict  # change id -> lxml element (the process under its pool's id)
    order: list
    lane_of: dict  # flow node id -> lane id
    di: dict  # element id -> canonical layout
    labels: dict  # form field -> title
    timers: TimerText
    names: dict  # element id -> name
    before: dict  # element id -> the sources of the flows into it


def _parse(xml: str):
    raw = re.sub(r"^\s*<\?xml[^>]*\?>", "", xml).encode("utf-8")
    return etree.fromstring(raw, parser=etree.XMLParser(resolve_entities=False, no_network=True,
                                                        remove_comments=True, remove_pis=True, huge_tree=False))


def _local(el) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _ns(el) -> str:
    return etree.QName(el).namespace if isinstance(el.tag, str) else ""


def _is_tracked(el) -> bool:
    return _ns(el) == BPMN and _local(el) in TRACKED and bool(el.get("id"))


def _read(xml: str, forms: dict, config: dict) -> _Version:
    root = _parse(xml)
    elements, order = {}, []
    pools = {p.get("processRef"): p.get("id") for p in root.iter(f"{{{BPMN}}}participant") if p.get("processRef")}
    has_collaboration = root.find(f"{{{BPMN}}}collaboration") is not None
    for el in root.iter():
        if _is_tracked(el):
            elements[el.get("id")] = el
            order.append(el.get("id"))
        elif _ns(el) == BPMN and _local(el) == "process":
            key = pools.get(el.get("id")) if has_collaboration else el.get("id")
            if key:  # the differ tracks a process through its pool
                elements.setdefault(f"process:{key}", el)
    lane_of = {ref.text.strip(): lane.get("id") for lane in root.iter(f"{{{BPMN}}}lane")
               for ref in lane.findall(f"{{{BPMN}}}flowNodeRef") if ref.text}
    di = {}
    for shape in root.iter(f"{{{LAYOUT[0]}}}BPMNShape", f"{{{LAYOUT[0]}}}BPMNEdge"):
        di[shape.get("bpmnElement")] = json.dumps(_canonical(shape, layout=True), ensure_ascii=False)
    labels = {**SCRIPT_VARIABLES, **field_labels(forms)}
    names = {el.get("id"): el.get("name") for el in root.iter() if isinstance(el.tag, str) and el.get("name")}
    before: dict[str, list[str]] = {}
    for f in root.iter(f"{{{BPMN}}}sequenceFlow"):
        before.setdefault(f.get("targetRef"), []).append(f.get("sourceRef"))
    return _Version(root, forms or {}, elements, order, lane_of, di, labels,
                    TimerText(etree.tostring(root, encoding="unicode"), labels, config or {}), names, before)


def _canonical(node, layout: bool = False) -> list:
    """NODE's own content: attributes, trimmed text, children in order, leaving out layout, tracked elements
    it contains and references to many elements (bpmn-js-differ's view of one element)."""
    attrs = sorted((str(k), str(v)) for k, v in node.attrib.items())
    text = " ".join((node.text or "").split())
    children = []
    for child in node:
        if not isinstance(child.tag, str):
            continue
        if not layout and (_ns(child) in LAYOUT or _is_tracked(child) or _local(child) in MANY_REFS
                           or (_ns(child) == BPMN and _local(child) == "process")):
            continue
        children.append(_canonical(child, layout))
    return [str(node.tag), attrs, text, children]


# -- the diff --------------------------------------------------------------------------------------
def diff_versions(xml_a: str, forms_a: dict, xml_b: str, forms_b: dict, config: dict | None = None) -> VersionDiff:
    """What changed from version A to version B, element by element, in Chinese."""
    a, b = _read(xml_a, forms_a, config or {}), _read(xml_b, forms_b, config or {})
    out = VersionDiff()
    same_meaning = meaning_digest(xml_a, forms_a or {}) == meaning_digest(xml_b, forms_b or {})
    for key in b.order + [k for k in b.elements if k.startswith("process:")]:
        el_b = b.elements[key]
        el_a = a.elements.get(key)
        if el_a is None:
            out.changes.append(_added(key, el_b, b))
            continue
        details = _changed_details(key, el_a, el_b, a, b)
        form_lines = _form_details(el_a, el_b, a, b)
        if details or form_lines:
            out.changes.append(ElementChange("changed", _public_id(key), _type(el_b), _name(key, el_b, b),
                                             details + form_lines))
            if form_lines and not details:
                out.form_only.append(_public_id(key))
        elif key in a.di and key in b.di and a.di[key] != b.di[key]:
            out.layout.append(ElementChange("layout", key, _type(el_b), _name(key, el_b, b), ["位置或大小有变化"]))
    for key in a.order + [k for k in a.elements if k.startswith("process:")]:
        if key not in b.elements:
            el = a.elements[key]
            out.changes.append(ElementChange("removed", _public_id(key), _type(el), _name(key, el, a)))
    out.changes = _merged(out.changes)
    if not same_meaning and not out.changes:
        out.notes.append("流程图的其他定义（如信号、消息）有变化")
    out.identical = xml_a == xml_b and (forms_a or {}) == (forms_b or {})
    out.layout_only = same_meaning and not out.identical
    return out


def _merged(changes: list[ElementChange]) -> list[ElementChange]:
    """A pool and its process are one element on the diagram: one entry for both."""
    out: dict[tuple[str, str], ElementChange] = {}
    for c in changes:
        seen = out.get((c.kind, c.element_id))
        if seen is None:
            out[(c.kind, c.element_id)] = c
        else:
            seen.details += [d for d in c.details if d not in seen.details]
    return list(out.values())


def _public_id(key: str) -> str:
    return key.removeprefix("process:")


def _type(el) -> str:
    tag = _local(el)
    if tag == "boundaryEvent" and el.find(f"{{{BPMN}}}timerEventDefinition") is not None:
        return "定时边界事件"
    if tag == "process":
        return "流程整体"
    return TYPE_ZH.get(tag, "元素")


def _name(key: str, el, v: _Version) -> str:
    """The Chinese name a person knows the element by; an unnamed one is described by where it sits."""
    name = (el.get("name") or "").strip()
    if name:
        return name
    tag = _local(el)
    if tag in ("sequenceFlow", "messageFlow"):
        return f"从「{_node_name(el.get('sourceRef'), v)}」到「{_node_name(el.get('targetRef'), v)}」"
    if tag == "process":
        return "流程整体"
    named = [v.names[s] for s in v.before.get(key, []) if v.names.get(s)]
    return f"「{named[0]}」之后的{TYPE_ZH.get(tag, '元素')}" if named else f"未命名的{TYPE_ZH.get(tag, '元素')}"


def _node_name(element_id: str | None, v: _Version) -> str:
    if element_id and v.names.get(element_id):
        return v.names[element_id]
    el = v.elements.get(element_id or "")
    return _name(element_id, el, v) if el is not None else "（不存在的环节）"


def _added(key: str, el, v: _Version) -> ElementChange:
    details = []
    props = _props(el)
    if _local(el) in ("userTask", "startEvent"):
        details += [f"{PROP_ZH[p]}：{_prop_text(p, props[p], v)}" for p in ("role", "unit", "formJsonSchemaFilename")
                    if props.get(p)]
    for expr in _timer_exprs(el):
        details.append(f"期限：{v.timers.text(expr)}")
    cond = el.findtext(f"{{{BPMN}}}conditionExpression")
    if cond:
        details.append(f"条件：{condition_text(cond, v)}")
    if el.get("id") in v.lane_of:
        details.append(f"所在泳道：{_node_name(v.lane_of[el.get('id')], v)}")
    return ElementChange("added", _public_id(key), _type(el), _name(key, el, v), details)


def _changed_details(key, el_a, el_b, a: _Version, b: _Version) -> list[str]:
    same_content = _canonical(el_a) == _canonical(el_b)
    moved_lane = _local(el_b) != "lane" and a.lane_of.get(key) != b.lane_of.get(key)
    if same_content and not moved_lane:
        return []
    out: list[str] = []
    if (el_a.get("name") or "") != (el_b.get("name") or ""):
        out.append(f"名称：「{el_a.get('name') or '（无）'}」改为「{el_b.get('name') or '（无）'}」")
    out += _documentation(el_a, el_b)
    out += _condition(el_a, el_b, a, b)
    out += _timers(el_a, el_b, a, b)
    out += _properties(el_a, el_b, a, b)
    out += _script(el_a, el_b, a, b)
    out += _references(el_a, el_b, a, b)
    if moved_lane:
        out.append(f"所在泳道：「{_node_name(a.lane_of.get(key), a)}」改为「{_node_name(b.lane_of.get(key), b)}」")
    if not same_content and not out:
        out.append("其他设置有变化")
    return out


def _doc(el) -> str:
    return " ".join(" ".join("".join(d.itertext()).split()) for d in el.findall(f"{{{BPMN}}}documentation"))


def _documentation(el_a, el_b) -> list[str]:
    old, new = _doc(el_a), _doc(el_b)
    if old == new:
        return []
    out = [f"说明：原为「{old or '（无）'}」，改为「{new or '（无）'}」"]
    ra, rb = rule_ids(old), rule_ids(new)
    added, removed = [r for r in rb if r not in ra], [r for r in ra if r not in rb]
    if added or removed:
        parts = [f"新增引用 {'、'.join(added)}"] if added else []
        parts += [f"不再引用 {'、'.join(removed)}"] if removed else []
        out.append("依据的规则：" + "；".join(parts))
    return out


def _condition(el_a, el_b, a, b) -> list[str]:
    old = (el_a.findtext(f"{{{BPMN}}}conditionExpression") or "").strip()
    new = (el_b.findtext(f"{{{BPMN}}}conditionExpression") or "").strip()
    if old == new:
        return []
    before = condition_text(old, a) if old else "无条件"
    after = condition_text(new, b) if new else "无条件"
    return [f"条件：原为「{before}」，改为「{after}」"]


def _timer_exprs(el) -> list[str]:
    return [(c.text or "").strip() for d in el.findall(f"{{{BPMN}}}timerEventDefinition") for c in d
            if isinstance(c.tag, str)]


def _timers(el_a, el_b, a, b) -> list[str]:
    old, new = _timer_exprs(el_a), _timer_exprs(el_b)
    if old == new:
        return []
    before = "；".join(a.timers.text(x) for x in old) or "无期限"
    after = "；".join(b.timers.text(x) for x in new) or "无期限"
    if before == after and "按流程图设定的时间" in after:
        return ["期限的计算方式有变化（无法读作工作日期限，请在流程图中查看）"]
    if before == after:
        return [f"期限的写法有变化（仍为{after}）"]
    return [f"期限：原为{before}，改为{after}"]


def _props(el) -> dict[str, str]:
    return {p.get("name"): p.get("value") or "" for p in
            el.findall(f"{{{BPMN}}}extensionElements/{{{SPIFF}}}properties/{{{SPIFF}}}property")}


def _properties(el_a, el_b, a, b) -> list[str]:
    pa, pb = _props(el_a), _props(el_b)
    out, other = [], False
    for name in list(pb) + [n for n in pa if n not in pb]:
        if pa.get(name) == pb.get(name):
            continue
        if name not in PROP_ZH:
            other = True
            continue
        old = _prop_text(name, pa[name], a) if name in pa else "（未设置）"
        new = _prop_text(name, pb[name], b) if name in pb else "（未设置）"
        out.append(f"{PROP_ZH[name]}：原为{old}，改为{new}")
    ext_a = [c for c in el_a.findall(f"{{{BPMN}}}extensionElements/*") if _ns(c) != SPIFF or _local(c) != "properties"]
    ext_b = [c for c in el_b.findall(f"{{{BPMN}}}extensionElements/*") if _ns(c) != SPIFF or _local(c) != "properties"]
    if other or [_canonical(c) for c in ext_a] != [_canonical(c) for c in ext_b]:
        out.append("其他扩展设置有变化")
    return out


def _unit_text(expr: str, v: _Version) -> str:
    units = {code: name for code, name, _kind, _member in UNITS}
    text = expr.strip()
    m = re.fullmatch(r"""["']([a-z_]+)["']""", text)
    if m:
        return units.get(m[1], "指定单位")
    words = {**units, **START_WORDS, **v.labels}
    return re.sub(r"[A-Za-z_][A-Za-z0-9_]*", lambda t: words.get(t[0], "流程设定的单位"),
                  text.replace('"', "").replace("'", ""))


def _prop_text(name: str, value: str, v: _Version) -> str:
    """A property's value as a person reads it."""
    if name == "role":
        return f"「{ROLES.get(value, '未知角色')}」"
    if name in ("unit", "lateUnit"):
        return f"「{_unit_text(value, v)}」"
    if name == "starterRoles":
        return "「" + "、".join(ROLES.get(r.strip(), "未知角色") for r in value.split(",") if r.strip()) + "」"
    if name == "starterUnitKinds":
        return "「" + "、".join(UNIT_KINDS.get(k.strip(), "其他") for k in value.split(",") if k.strip()) + "」"
    if name == "lateTask":
        return "「" + "、".join(v.names.get(t.strip(), "未知环节") for t in value.split(",") if t.strip()) + "」"
    if name == "formJsonSchemaFilename":
        schema = v.forms.get(value)
        title = schema.get("title") if isinstance(schema, dict) else None
        return f"「{title or '未命名的表单'}」"
    if name == "taskKind":
        return f"「{TASK_KINDS.get(value, '其他')}」"
    if name == "auxiliary":
        return "「是」" if value.lower() == "true" else "「否」"
    if name == "due":
        return f"「{v.timers.text(value)}」"
    if name in ("field", "formDataVariable"):
        return f"「{v.labels.get(value, '流程中的数据')}」"
    return f"「{value}」"


def _script(el_a, el_b, a, b) -> list[str]:
    old = (el_a.findtext(f"{{{BPMN}}}script") or "").strip()
    new = (el_b.findtext(f"{{{BPMN}}}script") or "").strip()
    if old == new:
        return []
    out = ["脚本有变化"]
    before, after = _script_deadlines(old, a), _script_deadlines(new, b)
    for var in list(after) + [k for k in before if k not in after]:
        if before.get(var) != after.get(var):
            label = a.labels.get(var) or b.labels.get(var) or "计算的期限"
            out.append(f"「{label}」：原为{before.get(var, '（无）')}，改为{after.get(var, '（无）')}")
    return out


def _script_deadlines(script: str, v: _Version) -> dict[str, str]:
    """Variable -> its deadline read out, for each plain assignment of a timer function in SCRIPT."""
    try:
        tree = ast.parse(script)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}
    out = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            src = ast.get_source_segment(script, stmt.value) or ""
            text = v.timers.text(src)
            if text != "按流程图设定的时间":
                out[stmt.targets[0].id] = text
    return out


def _references(el_a, el_b, a, b) -> list[str]:
    out = []
    for attr, what in (("sourceRef", "起点"), ("targetRef", "终点"), ("attachedToRef", "所附环节"),
                       ("default", "默认出口")):
        if el_a.get(attr) != el_b.get(attr):
            old = _node_name(el_a.get(attr), a) if el_a.get(attr) else "（无）"
            new = _node_name(el_b.get(attr), b) if el_b.get(attr) else "（无）"
            out.append(f"{what}：「{old}」改为「{new}」")
    if el_a.get("cancelActivity") != el_b.get("cancelActivity"):
        out.append("是否中断所附环节：" + ("否" if el_b.get("cancelActivity") == "false" else "是"))
    return out


# -- conditions read out ---------------------------------------------------------------------------
def condition_text(expression: str, v: _Version) -> str:
    """A gateway condition with field names and option values as the form shows them."""
    try:
        return _cond(ast.parse(expression.strip(), mode="eval").body, v)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        words = {**START_WORDS, **v.labels}
        return re.sub(r"[A-Za-z_][A-Za-z0-9_]*",
                      lambda t: f"「{words[t[0]]}」" if t[0] in words else t[0], expression.strip())


def _option(name: str, value, v: _Version) -> str:
    for schema in v.forms.values():
        spec = ((schema or {}).get("properties") or {}).get(name) if isinstance(schema, dict) else None
        for option in (spec or {}).get("oneOf") or []:
            if isinstance(option, dict) and option.get("const") == value and option.get("title"):
                return option["title"]
    return {True: "是", False: "否", None: "空"}.get(value, str(value)) if not isinstance(value, str) else value


def _cond(node, v: _Version) -> str:
    if isinstance(node, ast.BoolOp):
        joiner = "且" if isinstance(node.op, ast.And) else "或"
        return joiner.join(_cond(n, v) for n in node.values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return f"并非（{_cond(node.operand, v)}）"
    if isinstance(node, ast.Name):
        return f"「{v.labels.get(node.id, START_WORDS.get(node.id, '流程中的数据'))}」为「是」"
    if (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.left, ast.Name)
            and isinstance(node.comparators[0], ast.Constant)):
        label = v.labels.get(node.left.id, START_WORDS.get(node.left.id, "流程中的数据"))
        value = _option(node.left.id, node.comparators[0].value, v)
        op = {ast.Eq: "为", ast.NotEq: "不为", ast.Lt: "小于", ast.LtE: "不大于", ast.Gt: "大于",
              ast.GtE: "不小于", ast.In: "属于", ast.NotIn: "不属于"}.get(type(node.ops[0]))
        if op:
            return f"「{label}」{op}「{value}」"
    raise ValueError("not a simple condition")


# -- forms, field by field -------------------------------------------------------------------------
def _form_details(el_a, el_b, a: _Version, b: _Version) -> list[str]:
    name_a = _props(el_a).get("formJsonSchemaFilename")
    name_b = _props(el_b).get("formJsonSchemaFilename")
    if not name_a or not name_b:
        return []
    old, new = a.forms.get(name_a), b.forms.get(name_b)
    if not isinstance(old, dict) or not isinstance(new, dict) or old == new:
        return []
    out = []
    if old.get("title") != new.get("title"):
        out.append(f"表单标题：「{old.get('title') or '（无）'}」改为「{new.get('title') or '（无）'}」")
    if old.get("description") != new.get("description"):
        out.append("表单说明有变化")
    lines = _fields(old, new, "")
    if not out and not lines:
        lines = ["表单的其他设置有变化"]
    return out + ["表单：" + line for line in lines]


def _fields(old: dict, new: dict, prefix: str) -> list[str]:
    po, pn = old.get("properties") or {}, new.get("properties") or {}
    ro, rn = set(old.get("required") or []), set(new.get("required") or [])
    out = []
    for key in list(pn) + [k for k in po if k not in pn]:
        fo, fn = po.get(key), pn.get(key)
        fo, fn = (fo if isinstance(fo, dict) else None), (fn if isinstance(fn, dict) else None)
        title = prefix + str((fn or fo or {}).get("title") or "未命名字段")
        if fo is None:
            out.append(f"新增字段「{title}」（{_type_word(fn)}，{'必填' if key in rn else '选填'}）")
            continue
        if fn is None:
            out.append(f"删除字段「{title}」")
            continue
        if fo.get("title") != fn.get("title"):
            out.append(f"字段「{prefix}{fo.get('title') or '未命名字段'}」改名为「{title}」")
        if (key in ro) != (key in rn):
            out.append(f"「{title}」：{'必填' if key in ro else '选填'}改为{'必填' if key in rn else '选填'}")
        out += _field_changes(fo, fn, title)
    return out


def _type_word(spec: dict) -> str:
    if spec.get("type") == "string" and spec.get("format") in FORMAT_WORDS:
        return FORMAT_WORDS[spec["format"]]
    return TYPE_WORDS.get(str(spec.get("type")), "其他类型")


def _options(spec: dict) -> dict:
    if isinstance(spec.get("enum"), list):
        return {json.dumps(x, ensure_ascii=False): str(x) for x in spec["enum"]}
    return {json.dumps(o.get("const"), ensure_ascii=False): str(o.get("title") or o.get("const"))
            for o in spec.get("oneOf") or [] if isinstance(o, dict) and "const" in o}


def _field_changes(fo: dict, fn: dict, title: str) -> list[str]:
    out = []
    if fo.get("type") != fn.get("type"):
        out.append(f"「{title}」：类型由{_type_word(fo)}改为{_type_word(fn)}")
    oo, on = _options(fo), _options(fn)
    added = [on[k] for k in on if k not in oo]
    removed = [oo[k] for k in oo if k not in on]
    renamed = [f"「{oo[k]}」改称「{on[k]}」" for k in on if k in oo and oo[k] != on[k]]
    if added:
        out.append(f"「{title}」：新增选项" + "、".join(f"「{x}」" for x in added))
    if removed:
        out.append(f"「{title}」：删除选项" + "、".join(f"「{x}」" for x in removed))
    if renamed:
        out.append(f"「{title}」：选项" + "，".join(renamed))
    for bound, word in BOUND_WORDS.items():
        if fo.get(bound) != fn.get(bound):
            old = FORMAT_WORDS.get(fo.get(bound), fo.get(bound)) if bound in fo else "不限"
            new = FORMAT_WORDS.get(fn.get(bound), fn.get(bound)) if bound in fn else "不限"
            out.append(f"「{title}」：{word}由 {old} 改为 {new}")
    if isinstance(fo.get("items"), dict) and isinstance(fn.get("items"), dict) and fo["items"] != fn["items"]:
        if fo["items"].get("properties") or fn["items"].get("properties"):
            out += _fields(fo["items"], fn["items"], f"{title} / ")
        else:
            out += _field_changes(fo["items"], fn["items"], f"{title}（每一项）")
    if fo.get("properties") or fn.get("properties"):
        out += _fields(fo, fn, f"{title} / ")
    handled = {"type", "enum", "oneOf", "items", "properties", "required", "title", *BOUND_WORDS}
    rest_o = {k: v for k, v in fo.items() if k not in handled}
    rest_n = {k: v for k, v in fn.items() if k not in handled}
    if rest_o != rest_n:
        out.append(f"「{title}」：说明、提示或显示条件有变化")
    return out


# -- two stored versions ---------------------------------------------------------------------------
STATUS_WORDS = {"draft": "草稿", "active": "已启用", "retired": "已停用"}


@dataclass
class VersionChoice:
    version: int
    label: str  # 第 N 版（状态，施行期间）
    status: str = ""
    window: str = ""
    basis: str = ""
    comment: str = ""


@dataclass
class Comparison:
    process_key: str
    name: str
    a: int
    b: int
    versions: list[VersionChoice]
    diff: VersionDiff
    xml_a: str
    xml_b: str


def _choice(row) -> VersionChoice:
    window = f"{row.effective_from or '不限'} 至 {row.effective_to or '不限'}"
    status = STATUS_WORDS.get(row.status, "其他")
    basis = f"{row.basis_number}《{row.basis_title}》" if row.basis_number else "（未写依据）"
    return VersionChoice(row.version, f"第 {row.version} 版（{status}，{window}）", status, window, basis,
                         row.comment or "")


def compare_versions(rt: Runtime, key: str, a: int | None = None, b: int | None = None) -> Comparison:
    """Version A of procedure KEY against version B; B defaults to the newest, A to the one before B."""
    with rt.session() as s:
        rows = list(s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == key)
                              .order_by(ProcessDefinition.version)))
        if not rows:
            raise NotFound(f"没有编号为 {key} 的流程")
        by_version = {r.version: r for r in rows}
        if b is None:
            b = rows[-1].version
        if a is None:
            a = max((v for v in by_version if v < b), default=b)
        for v in (a, b):
            if v not in by_version:
                raise NotFound(f"「{rows[-1].name}」没有第 {v} 版（现有 {'、'.join(str(r.version) for r in rows)} 版）")
        ra, rb = by_version[a], by_version[b]
        result = diff_versions(ra.bpmn_xml, dict(ra.forms or {}), rb.bpmn_xml, dict(rb.forms or {}),
                               rt.engine.config)
        return Comparison(key, rb.name, a, b, [_choice(r) for r in rows], result, ra.bpmn_xml, rb.bpmn_xml)


KIND_WORDS = {"added": "新增", "removed": "删除", "changed": "修改", "layout": "仅位置变化"}


def diff_text(c: Comparison) -> str:
    """The comparison as plain Chinese text, for the console and for notes."""
    d = c.diff
    lines = [f"「{c.name}」第 {c.a} 版 → 第 {c.b} 版："]
    if d.identical:
        return lines[0] + "两个版本完全相同"
    if d.layout_only:
        lines.append("仅布局变化：环节、条件、期限、办理单位和表单都相同，只是图形的位置或大小不同")
    for kind in ("changed", "added", "removed"):
        for ch in (x for x in d.changes if x.kind == kind):
            lines.append(f"【{KIND_WORDS[kind]}】{ch.type_zh}「{ch.name}」")
            lines += [f"    {line}" for line in ch.details]
    for ch in d.layout:
        lines.append(f"【{KIND_WORDS['layout']}】{ch.type_zh}「{ch.name}」")
    lines += d.notes
    return "\n".join(lines)
