"""Names people know for what the diagrams and the audit trail call by code: element names, field labels,
unit and person names, and timer expressions read out in Chinese ("通报之日起 3 个工作日")."""

from __future__ import annotations

import ast
import re

from lxml import etree

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"

# Variables set by diagram scripts (not by a form), so no form title names them.
SCRIPT_VARIABLES = {
    "notice_date": "通报之日",
    "received_date": "接到查询请求之日",
    "ordered_date": "协调决定作出之日",
    "cycle_day": "本季度",
    "answer_due": "答复期限",
    "letter_received_date": "签收移送函之日",
    "supplement_received_date": "收到补充材料之日",
    "review_due": "审查期限",
    "letter_date": "移送函发出之日",
    "started_at": "发出请求之日",
}
_UNITS = {"H": "小时", "M": "分钟", "S": "秒", "D": "天", "W": "周"}
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)?")


def element_names(xml: str) -> dict[str, str]:
    """Element id -> its Chinese name, for every named element of a diagram."""
    root = etree.fromstring(xml.encode("utf-8"))
    return {el.get("id"): el.get("name") for el in root.iter() if el.get("id") and el.get("name")}


def field_labels(forms: dict[str, dict]) -> dict[str, str]:
    """Field name -> its label (the title in the forms that ask for it), for every form of a diagram."""
    out: dict[str, str] = {}
    for schema in (forms or {}).values():
        for name, prop in ((schema or {}).get("properties") or {}).items():
            if isinstance(prop, dict) and prop.get("title"):
                out.setdefault(name, str(prop["title"]))
    return out


def readable(text: str, names: dict[str, str]) -> str:
    """TEXT with every code that NAMES knows (unit codes, element ids, user names) replaced by its name;
    for audit rows written before their text named things."""
    return _TOKEN.sub(lambda m: names.get(m.group(0), m.group(0)), text or "")


def duration_text(value: str) -> str:
    """ISO 8601 duration like PT2H -> "2 小时" (an unknown form is returned as it is)."""
    m = re.fullmatch(r"P(?:(\d+)([DW]))?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", str(value or ""))
    if not m or not any(m.groups()):
        return str(value)
    parts = []
    if m.group(1):
        parts.append(f"{m.group(1)} {_UNITS[m.group(2)]}")
    for amount, unit in ((m.group(3), "H"), (m.group(4), "M"), (m.group(5), "S")):
        if amount:
            parts.append(f"{amount} {_UNITS[unit]}")
    return " ".join(parts)


class TimerText:
    """Reads a timer expression of a diagram (working_days_after, end_of_day, after, quarter_end, a variable
    set by a script, a conditional) as Chinese."""

    def __init__(self, xml: str, labels: dict[str, str], config: dict[str, str]):
        self.labels = {**SCRIPT_VARIABLES, **labels}
        self.config = config
        self.assigned = _script_assignments(xml)

    def text(self, expression: str) -> str:
        try:
            return self._node(ast.parse(expression.strip(), mode="eval").body, set())
        except (SyntaxError, ValueError):
            return "按流程图设定的时间"

    def _label(self, name: str) -> str:
        return self.labels.get(name, "流程设定的日期")

    def _node(self, node, seen: set) -> str:
        if isinstance(node, ast.IfExp):
            return (f"{self._condition(node.test)}的，{self._node(node.body, seen)}；"
                    f"否则{self._node(node.orelse, seen)}")
        if isinstance(node, ast.Name):
            if node.id in self.assigned and node.id not in seen:
                return self._node(self.assigned[node.id], seen | {node.id})
            return self._label(node.id)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            args = node.args
            fn = node.func.id
            if fn == "working_days_after" and len(args) == 2:
                return f"{self._date(args[0])}起 {self._number(args[1])} 个工作日"
            if fn == "end_of_day" and len(args) == 1:
                return f"{self._date(args[0])}当日24时"
            if fn == "after" and len(args) == 1:
                return f"{self._duration(args[0])}内"
            if fn == "quarter_end":
                return "本季度最后一天24时"
        raise ValueError("not a timer expression")

    def _date(self, node) -> str:
        if isinstance(node, ast.Name):
            return self._label(node.id)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "today":
            return "当日"
        raise ValueError("not a date")

    @staticmethod
    def _number(node) -> str:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return str(node.value)
        raise ValueError("not a number")

    def _duration(self, node) -> str:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return duration_text(node.value)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "config"
                and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value in self.config):
            return duration_text(self.config[node.args[0].value])
        raise ValueError("not a duration")

    def _condition(self, node) -> str:
        if isinstance(node, ast.Name):
            return self.labels.get(node.id, "条件成立").removeprefix("是否")
        raise ValueError("not a condition")


def _script_assignments(xml: str) -> dict[str, ast.expr]:
    """Variable -> the expression a diagram script last assigns to it (as written, for reading out)."""
    out: dict[str, ast.expr] = {}
    root = etree.fromstring(xml.encode("utf-8"))
    for script in root.iter(f"{BPMN}script"):
        try:
            tree = ast.parse(script.text or "")
        except SyntaxError:
            continue
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                out.setdefault(stmt.targets[0].id, stmt.value)
    return out


def timer_texts(xml: str, labels: dict[str, str], config: dict[str, str]) -> dict[str, str]:
    """Timer event id -> when it fires, in Chinese, for the diagram panel."""
    reader = TimerText(xml, labels, config)
    root = etree.fromstring(xml.encode("utf-8"))
    out = {}
    for event in root.iter(f"{BPMN}timerEventDefinition"):
        for child in event:
            if child.tag in (f"{BPMN}timeDate", f"{BPMN}timeDuration", f"{BPMN}timeCycle") and child.text:
                owner = event.getparent().get("id")
                out[owner] = reader.text(child.text)
    return out
