"""Diagram ↔ policy both ways: every rule of RULES.md is carried by some element's documentation,
and every rule ID a diagram cites exists."""

from lxml import etree

from runner.config import ROOT
from runner.engine import rule_ids
from runner.rules import load_rules

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"


def cited_rules() -> dict[str, set[str]]:
    cited: dict[str, set[str]] = {}
    for path in sorted((ROOT / "bpmn").glob("*.bpmn")):
        for doc in etree.parse(str(path)).iter(f"{BPMN}documentation"):
            owner = doc.getparent().get("id")
            for rid in rule_ids(doc.text):
                cited.setdefault(rid, set()).add(f"{path.stem}:{owner}")
    return cited


def test_every_rule_is_carried_by_a_diagram_element():
    rules = load_rules(ROOT / "policy" / "RULES.md")
    cited = cited_rules()
    # P4 is the umbrella of P4a/P4b/P4c; each of those must be carried on its own
    missing = sorted(r for r in rules if r not in cited)
    assert missing == []


def test_diagrams_cite_only_existing_rules():
    rules = load_rules(ROOT / "policy" / "RULES.md")
    assert sorted(set(cited_rules()) - set(rules)) == []
