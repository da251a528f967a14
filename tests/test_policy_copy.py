"""The repo's copy of the policy matches the shared original, and every rule has clause text."""

from pathlib import Path

import pytest

from runner.config import ROOT
from runner.rules import load_rules

SHARED = ROOT.parent / "shared" / "policy"


@pytest.mark.parametrize("name", ["RULES.md", "yuan-zhengbanfa-2021-19.txt"])
def test_copy_matches_shared(name):
    if not (SHARED / name).exists():
        pytest.skip("no ../shared/policy beside this checkout")
    assert (ROOT / "policy" / name).read_bytes() == (SHARED / name).read_bytes()


def test_every_rule_has_text():
    rules = load_rules(Path(ROOT / "policy" / "RULES.md"))
    expected = {"F1", "F2", "F3", "F4", "P1", "P2", "P3", "P4a", "P4b", "P4c", "P5", "P6", "P7", "P8", "P9",
                "S1", "S2", "S3", "S4", "S5", "S6", "V1"}
    assert expected <= set(rules)
    assert all(len(rules[r]) > 20 for r in expected)
