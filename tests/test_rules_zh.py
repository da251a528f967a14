"""The Chinese restatements shown beside a clause: one for every rule id, in Chinese, without developer notes."""

import re
from pathlib import Path

from runner.rules import load_restatements, load_rules

POLICY = Path(__file__).resolve().parent.parent / "policy"
RULE_ID = re.compile(r"\b[FPSV]\d+[a-c]?\b")


def test_every_rule_id_has_a_chinese_restatement():
    rules = load_rules(POLICY / "RULES.md")
    zh = load_restatements(POLICY / "rules.zh.json")
    assert sorted(set(rules) - set(zh)) == []
    assert sorted(set(zh) - set(rules)) == []  # no restatement of a rule that does not exist


def test_restatements_have_no_english_words_except_rule_ids():
    for rid, text in load_restatements(POLICY / "rules.zh.json").items():
        words = re.findall(r"[A-Za-z_]+\w*", RULE_ID.sub("", text))
        assert words == [], (rid, words)
        assert len(text) >= 15 and re.search(r"[\u4e00-\u9fff]", text), rid


def test_runtime_shows_the_chinese_restatement_and_keeps_english_for_the_english_locale(rt):
    assert "通报之日起 3 个工作日内" in rt.rules["P5"]
    assert "working days" in rt.rules_en["P5"]
