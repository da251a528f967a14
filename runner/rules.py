"""The policy rules as id -> text, so the UI can show the clause beside a task: the original Chinese clause
(clauses.zh.json), a short Chinese restatement for readers (rules.zh.json) and the English developer notes
(RULES.md, shown only in the English locale)."""

from __future__ import annotations

import json
import re
from pathlib import Path

_RULE = re.compile(r"^\s*[-*]\s+\*\*(?P<id>[A-Z]\d+[a-z]?)(?:\s+(?P<title>[^*]*))?\*\*\s*[—-]*\s*(?P<text>.*)$")
_SUB = re.compile(r"^\s+[-*]\s+\*\*(?P<id>[A-Z]\d+[a-z])\*\*\s*(?P<text>.*)$")


def load_originals(path: Path | None) -> dict[str, str]:
    """Rule id -> the original Chinese clause it restates, with its section, from policy/clauses.zh.json
    (every excerpt is verbatim from the policy text; a test checks that)."""
    if path is None or not Path(path).exists():
        return {}
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    return {rid: f"〔{item['section']}〕{item['text']}" for rid, item in doc.items()}


def load_rules(path: Path | None) -> dict[str, str]:
    """Parse RULES.md bullets like '- **P5 case transfer** — text' (continuation lines joined)."""
    if path is None or not Path(path).exists():
        return {}
    rules: dict[str, str] = {}
    current: str | None = None
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        m = _RULE.match(line) or _SUB.match(line)
        if m:
            current = m.group("id")
            title = m.groupdict().get("title") or ""
            rules[current] = (f"{title.strip()}: " if title.strip() else "") + m.group("text").strip()
        elif current and line.startswith("  ") and line.strip() and not line.lstrip().startswith("- **"):
            rules[current] += " " + line.strip()
        elif not line.strip() or line.startswith("#"):
            current = None
    return rules


def load_restatements(path: Path | None) -> dict[str, str]:
    """Rule id -> the short Chinese restatement shown to legal staff and officers, from policy/rules.zh.json
    (a test checks every rule id of RULES.md has one, free of English words)."""
    if path is None or not Path(path).exists():
        return {}
    return {rid: str(text) for rid, text in json.loads(Path(path).read_text(encoding="utf-8")).items()}
