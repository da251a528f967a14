"""Traceability: for every rule of policy/RULES.md, the elements of the versions in force that carry it and the
scenarios that exercise it; rules nothing carries or nothing tests are the gaps.

A scenario exercises a rule when it names the rule (in its title, a note or an expected refusal) or when it
acts on or expects an element whose documentation cites the rule (completes it, expects it open, reaches it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

import yaml
from lxml import etree
from sqlalchemy import select

from runner.calendar import TZ
from runner.engine import rule_ids
from runner.models import ProcessDefinition
from runner.rules import load_rules
from runner.runtime import Runtime, covers

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
_KIND = {"exclusiveGateway": "判断", "parallelGateway": "分支或汇合", "inclusiveGateway": "判断",
         "process": "流程", "intermediateThrowEvent": "通知", "boundaryEvent": "事件"}
# expectation keys whose values (or mapping keys) are element ids
_ELEMENT_KEYS = ("open_tasks", "can_act", "cannot_act", "reached", "escalations", "due")


@dataclass
class Carrier:
    process_key: str
    procedure: str
    version: int
    element_id: str
    element_name: str


@dataclass
class Exercise:
    process_key: str
    scenario: str  # its key
    title: str  # its Chinese name
    named: bool  # the scenario names the rule itself (else it reaches an element that carries it)


@dataclass
class RuleTrace:
    rule_id: str
    text: str
    carriers: list[Carrier] = field(default_factory=list)
    scenarios: list[Exercise] = field(default_factory=list)


@dataclass
class UsedVersion:
    process_key: str
    name: str
    version: int
    in_force: bool  # False: nothing is in force on the day, so the newest active version is traced


@dataclass
class TraceReport:
    day: str
    versions: list[UsedVersion]
    rules: list[RuleTrace]
    unknown: list[Carrier] = field(default_factory=list)  # cited ids that RULES.md does not have

    @property
    def uncarried(self) -> list[str]:
        return [r.rule_id for r in self.rules if not r.carriers]

    @property
    def untested(self) -> list[str]:
        return [r.rule_id for r in self.rules if not r.scenarios]

    def text(self) -> str:
        lines = [f"规则追溯（{self.day}）"]
        for v in self.versions:
            note = "现行" if v.in_force else "今日无现行版本，按最新启用的版本"
            lines.append(f"  {v.name}（{v.process_key}）第 {v.version} 版：{note}")
        for r in self.rules:
            lines.append(f"{r.rule_id}  {r.text[:60]}")
            carried = "；".join(f"{c.procedure}第{c.version}版「{c.element_name}」({c.element_id})"
                                for c in r.carriers)
            lines.append("  环节：" + (carried or "（无）"))
            named = [e.scenario for e in r.scenarios if e.named]
            through = [e for e in r.scenarios if not e.named]
            tested = "、".join(named) + (f"{'；' if named else ''}另有 {len(through)} 个场景经由承载它的环节"
                                         if through else "")
            lines.append("  场景：" + (tested or "（无）"))
        lines.append("缺口：")
        lines.append("  没有环节承载的规则：" + ("、".join(self.uncarried) or "无"))
        lines.append("  没有场景检验的规则：" + ("、".join(self.untested) or "无"))
        if self.unknown:
            lines.append("  引用了 RULES.md 中没有的规则编号：" + "；".join(
                f"{c.procedure}「{c.element_name}」" for c in self.unknown))
        return "\n".join(lines)


def traced_versions(rt: Runtime, now: datetime) -> list[ProcessDefinition]:
    """Per procedure, the version in force on NOW's date, else the newest active one (flagged by the caller)."""
    day = now.astimezone(TZ).date().isoformat()
    with rt.session() as s:
        rows = list(s.scalars(select(ProcessDefinition).where(ProcessDefinition.status == "active")
                              .order_by(ProcessDefinition.process_key, ProcessDefinition.version.desc())))
        for row in rows:
            s.expunge(row)
    chosen: dict[str, ProcessDefinition] = {}
    for row in rows:
        current = chosen.get(row.process_key)
        if current is None or (covers(row, day) and not covers(current, day)):
            chosen[row.process_key] = row
    return [chosen[k] for k in sorted(chosen)]


def element_rules(xml: str) -> list[tuple[str, str, list[str]]]:
    """(element id, name, cited rule ids) for each element of XML whose documentation cites a rule."""
    root = etree.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", xml).encode("utf-8"),
                            etree.XMLParser(resolve_entities=False, no_network=True))
    out = []
    for doc in root.iter(f"{BPMN}documentation"):
        owner = doc.getparent()
        cited = rule_ids(doc.text)
        if cited and owner.get("id"):
            name = (owner.get("name") or "").strip() or f"未命名的{_KIND.get(etree.QName(owner).localname, '环节')}"
            out.append((owner.get("id"), name, cited))
    return out


def scenario_elements(doc: dict) -> set[str]:
    """The element ids a scenario acts on or expects."""
    found: set[str] = set()
    for step in doc.get("steps") or []:
        if not isinstance(step, dict):
            continue
        if isinstance(step.get("complete"), str):
            found.add(step["complete"])
        exp = step.get("expect") if isinstance(step.get("expect"), dict) else {}
        for key in _ELEMENT_KEYS:
            value = exp.get(key)
            items = value.keys() if isinstance(value, dict) else value if isinstance(value, list) else []
            found.update(str(item).split("@")[0] for item in items)
        if isinstance(exp.get("ended"), str):
            found.add(exp["ended"])
    return found


def trace(rt: Runtime, now: datetime) -> TraceReport:
    rules = load_rules(rt.settings.rules_file)
    texts = {rid: rt.rules.get(rid) or text for rid, text in rules.items()}
    traces = {rid: RuleTrace(rid, texts[rid]) for rid in rules}
    day = now.astimezone(TZ).date().isoformat()
    report = TraceReport(day, [], list(traces.values()))
    for row in traced_versions(rt, now):
        report.versions.append(UsedVersion(row.process_key, row.name, row.version, covers(row, day)))
        carriers: dict[str, set[str]] = {}  # element id -> rules it carries
        for element_id, name, cited in element_rules(row.bpmn_xml):
            carriers[element_id] = set(cited)
            for rid in cited:
                carrier = Carrier(row.process_key, row.name, row.version, element_id, name)
                (traces[rid].carriers if rid in traces else report.unknown).append(carrier)
        for scenario, text in sorted((row.scenarios or {}).items()):
            _trace_scenario(traces, row.process_key, scenario, text, carriers)
    return report


def _trace_scenario(traces, key: str, scenario: str, text: str, carriers: dict[str, set[str]]) -> None:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return
    if not isinstance(doc, dict):
        return
    title = str(doc.get("name") or scenario)
    named = set(rule_ids(text))
    reached = set().union(*(carriers.get(e, set()) for e in scenario_elements(doc))) if carriers else set()
    for rid in sorted(named | reached):
        if rid in traces:
            traces[rid].scenarios.append(Exercise(key, scenario, title, rid in named))
