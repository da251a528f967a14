"""The Chinese clauses shown beside tasks are verbatim from the policy, and every rule has one."""

import json

from runner.config import ROOT
from runner.rules import load_originals, load_rules

POLICY = ROOT / "policy"


def test_every_excerpt_is_verbatim_from_the_policy_text():
    source = (POLICY / "yuan-zhengbanfa-2021-19.txt").read_text(encoding="utf-8")
    clauses = json.loads((POLICY / "clauses.zh.json").read_text(encoding="utf-8"))
    for rid, item in clauses.items():
        for piece in item["text"].split("……"):
            assert piece and piece in source, f"{rid}: not verbatim: {piece[:30]}"


def test_every_rule_has_its_original_clause():
    rules = load_rules(POLICY / "RULES.md")
    originals = load_originals(POLICY / "clauses.zh.json")
    assert sorted(set(rules) - set(originals)) == []
    assert originals["P5"].startswith("〔三（三）〕") and "3个工作日内发出移送函" in originals["P5"]
