"""Give every form field an upper bound: maxLength on text, maxItems on lists, minimum/maximum on numbers.

One 1,000,000-character answer once grew the database 40-fold, and a number of 1e308 was accepted.
`liandong validate` requires these bounds; this script adds sensible ones where a field has none and
never changes a bound someone already chose, so it can be re-run after merges or on new forms:

    python scripts/form_limits.py                 # every bpmn/forms/*.json
    python scripts/form_limits.py path/to/a.json  # only these files
    python scripts/form_limits.py --check         # list what is missing, change nothing (exit 1 if any)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runner.forms import UNIT_PICKERS, iter_fields, limit_problems  # noqa: E402

TITLE_KEYS = ("title",)
SHORT_HINTS = ("number", "编号", "文号", "时间", "接听人")
NOTE_HINTS = ("note", "remark", "备注", "说明")
TEXTAREA_LONG = 5000  # narratives: facts, measures, reasons, minutes
TEXTAREA_NOTE = 2000  # remarks and explanations
UNIT_CODE = 64  # units.code is String(64)
FILE_VALUE = 300  # upload:<64 hex>/<name of at most 200 characters>
LIST_OF_UNITS = 100
LIST_OF_ROWS = 50
COUNT_MAX = 100000


def string_limit(path: str, node: dict) -> int:
    name = path.split(".")[-1].removesuffix("[]")
    title = node.get("title") or ""
    if node.get("format") == "date":
        return 10
    if node.get("format") == "date-time":
        return 40
    if node.get("x-options") in UNIT_PICKERS:
        return UNIT_CODE
    if node.get("x-widget") == "file":
        return FILE_VALUE
    choices = [a.get("const") for a in node.get("oneOf") or node.get("anyOf") or [] if isinstance(a, dict)]
    choices += list(node.get("enum") or [])
    if choices:
        return max(100, *(len(str(c)) for c in choices))
    if node.get("x-widget") == "textarea":
        return TEXTAREA_NOTE if any(h in name or h in title for h in NOTE_HINTS) else TEXTAREA_LONG
    if name in TITLE_KEYS:
        return 200
    if any(h in name or h in title for h in SHORT_HINTS):
        return 50
    return 100


def array_limit(node: dict) -> int:
    items = node.get("items") or {}
    choices = items.get("oneOf") or items.get("anyOf") or items.get("enum") or []
    if choices and items.get("x-options") not in UNIT_PICKERS:
        return len(choices)
    if items.get("x-options") in UNIT_PICKERS:
        return LIST_OF_UNITS
    return LIST_OF_ROWS


def add_limits(schema: dict) -> int:
    """Add missing bounds to SCHEMA in place; return how many were added."""
    added = 0
    for path, node in iter_fields(schema):
        kinds = set(node["type"]) if isinstance(node["type"], list) else {node["type"]}
        if "string" in kinds and "maxLength" not in node:
            node["maxLength"] = string_limit(path, node)
            added += 1
        if "array" in kinds and "maxItems" not in node:
            node["maxItems"] = array_limit(node)
            added += 1
        if kinds & {"integer", "number"}:
            if "minimum" not in node and "exclusiveMinimum" not in node:
                node["minimum"] = 0
                added += 1
            if "maximum" not in node and "exclusiveMaximum" not in node:
                node["maximum"] = COUNT_MAX
                added += 1
    return added


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--check", action="store_true", help="only report fields without bounds")
    args = parser.parse_args(argv)
    files = args.files or sorted((ROOT / "bpmn" / "forms").glob("*.json"))
    missing = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        schema = json.loads(text)
        if args.check:
            for field, title, what in limit_problems(schema):
                print(f"{path.name}: 字段「{title}」（{field}）缺少{what}")
                missing += 1
            continue
        if add_limits(schema):
            # the shipped forms are written this way; keep them byte-identical apart from the new bounds
            path.write_text(json.dumps(schema, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
            print(f"{path.name}: 已补充上限")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
