"""Render a task's JSON Schema as form fields and turn a submitted form back into JSON data.

Field names are the dotted paths the validator reports errors under (`evidence.0.kind`), so an
error lands beside its field. Parsing is forgiving (a bad number stays a string); validation is
the service's job, so the server's schema check is the single source of truth.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runner.forms import ENFORCEMENT_KINDS, applies, show_conditions

# Readable labels for common enum codes when a schema gives none (oneOf/const/title is preferred).
COMMON_OPTIONS = {
    "accept": "接收", "return": "退回", "refuse": "拒绝", "reject": "不同意", "approve": "同意",
    "agree": "同意", "disagree": "不同意", "yes": "是", "no": "否", "answer": "答复", "revise": "修改",
}
UNIT_GROUPS = (("department", "县直部门"), ("town", "镇"), ("street", "街道"), ("zone", "园区"),
               ("office", "县级机关"))
UNIT_PICKERS = ("units", "enforcement_units")
UPLOAD_VALUE = re.compile(r"^upload:[0-9a-f]{64}/[^/\\]{1,200}$")


@dataclass
class Field:
    path: str
    label: str
    help: str
    # text textarea date datetime number checkbox yesno radio select unit multi units lines file items group
    widget: str
    required: bool = False
    value: Any = None
    error: str | None = None
    options: list[tuple[str, str]] = field(default_factory=list)
    groups: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)
    rows: list[list[Field]] = field(default_factory=list)
    children: list[Field] = field(default_factory=list)
    min_items: int = 0
    input_type: str = "text"
    show_when: list[tuple[str, str]] = field(default_factory=list)  # (controller path, value): shown if any holds
    condition: str = ""  # e.g. 「是否涉嫌犯罪」为「是」时填写
    hidden: bool = False  # a conditional field whose condition does not hold for the current answers

    @property
    def id(self) -> str:
        return "f-" + self.path.replace(".", "-")

    @property
    def described_by(self) -> str:
        ids = ([self.id + "-help"] if self.help else []) + ([self.id + "-error"] if self.error else [])
        return " ".join(ids)


# -- reading a schema ------------------------------------------------------------------------
def properties(schema: dict) -> dict[str, dict]:
    """Top-level properties, plus any that only appear in allOf / then / else branches."""
    props = dict(schema.get("properties") or {})
    branches = list(schema.get("allOf") or []) + [schema.get("then"), schema.get("else")]
    for sub in branches:
        if isinstance(sub, dict):
            for name, prop in properties(sub).items():
                if name not in props and isinstance(prop, dict) and (prop.get("title") or prop.get("type")):
                    props[name] = prop
    return props


def _type(prop: dict) -> str:
    t = prop.get("type", "string")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "string")
    return t


def options_of(prop: dict) -> list[tuple[str, str]]:
    """(value, label) pairs from oneOf/anyOf consts with titles, or enum with x-enumNames / x-labels."""
    for key in ("oneOf", "anyOf"):
        alts = prop.get(key) or []
        if alts and all(isinstance(a, dict) and "const" in a for a in alts):
            return [(str(a["const"]), a.get("title") or _common(a["const"])) for a in alts]
    enum = prop.get("enum") or []
    names = prop.get("x-enumNames") or []
    labels = prop.get("x-labels") or {}
    out = []
    for i, value in enumerate(enum):
        label = labels.get(str(value)) or (names[i] if i < len(names) else None) or _common(value)
        out.append((str(value), str(label)))
    return out


def _common(value) -> str:
    return COMMON_OPTIONS.get(str(value), str(value))


def widget_of(prop: dict, required: bool = False) -> str:
    """The input for PROP; a required yes/no question is asked explicitly (是/否), not a pre-set checkbox."""
    t, hint = _type(prop), prop.get("x-widget")
    if t == "array":
        items = prop.get("items") or {}
        if _type(items) == "object":
            return "items"
        if items.get("x-options") in UNIT_PICKERS:
            return "units"
        if options_of(items):
            return "multi"
        return "lines"
    if t == "object":
        return "group"
    if t == "boolean":
        return "yesno" if required and "default" not in prop else "checkbox"
    if t in ("integer", "number"):
        return "number"
    if hint in ("textarea", "date", "file"):
        return hint
    if prop.get("x-options") in UNIT_PICKERS:
        return "unit"
    if options_of(prop):
        return "radio" if len(options_of(prop)) <= 4 else "select"
    if prop.get("format") == "date":
        return "date"
    if prop.get("format") == "date-time":
        return "datetime"
    if (prop.get("maxLength") or 0) > 200:
        return "textarea"
    return "text"


def picker_units(prop: dict, units, own_unit: str | None) -> list[tuple[str, str, str]]:
    """The units a picker offers: only enforcement units for `enforcement_units`, never the user's own
    unit for `x-not-self` (the server checks the same, runner.forms.check_unit_roles)."""
    picker = prop if "x-options" in prop else (prop.get("items") or {})
    out = list(units)
    if picker.get("x-options") == "enforcement_units":
        out = [u for u in out if u[2] in ENFORCEMENT_KINDS]
    if picker.get("x-not-self") or prop.get("x-not-self"):
        out = [u for u in out if u[0] != own_unit]
    return out


def unit_groups(units: list[tuple[str, str, str]]) -> list[tuple[str, list[tuple[str, str]]]]:
    out = []
    for kind, label in UNIT_GROUPS:
        members = [(code, name) for code, name, k in units if k == kind]
        if members:
            out.append((label, members))
    return out


def option_labels(forms: dict[str, dict]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """(property -> title, property -> {value -> label}) gathered from every form of a definition."""
    titles: dict[str, str] = {}
    options: dict[str, dict[str, str]] = {}

    def walk(schema):
        if not isinstance(schema, dict):
            return
        for name, prop in properties(schema).items():
            if not isinstance(prop, dict):
                continue
            if prop.get("title"):
                titles.setdefault(name, prop["title"])
            opts = options_of(prop) or options_of(prop.get("items") or {})
            if opts:
                options.setdefault(name, {}).update(dict(opts))
            walk(prop.get("items"))
            if _type(prop) == "object":
                walk(prop)

    for schema in forms.values():
        walk(schema)
    return titles, options


def conditions(schema: dict) -> dict[str, list[tuple[str, object]]]:
    """Field -> [(controller, value)]: shown only when one holds (x-show-if, or if/then required)."""
    return show_conditions(schema)


def _as_input_value(value) -> str:
    return {True: "true", False: "false"}.get(value, str(value)) if isinstance(value, bool) else str(value)


def _describe(schema: dict, tests: list[tuple[str, object]]) -> str:
    props = properties(schema)
    parts = []
    for name, value in tests:
        prop = props.get(name) or {}
        label = dict(options_of(prop)).get(str(value)) if not isinstance(value, bool) else ("是" if value else "否")
        parts.append(f"「{prop.get('title') or name}」为「{label or value}」")
    return "或".join(parts) + "时填写"


# -- building fields -------------------------------------------------------------------------
def build_fields(schema: dict | None, data: dict | None, errors: dict[str, str] | None,
                 units: list[tuple[str, str, str]], prefix: str = "", own_unit: str | None = None) -> list[Field]:
    if not schema:
        return []
    data, errors = data or {}, errors or {}
    required = set(schema.get("required") or [])
    conditional = conditions(schema)
    out = []
    for name, prop in properties(schema).items():
        if not isinstance(prop, dict) or prop.get("readOnly"):
            continue
        path = f"{prefix}{name}"
        widget = widget_of(prop, name in required)
        f = Field(path=path, label=prop.get("title") or name, help=prop.get("description") or "", widget=widget,
                  required=name in required, value=data.get(name, prop.get("default")), error=errors.get(path))
        if name in conditional and name not in required:
            f.show_when = [(f"{prefix}{c}", _as_input_value(v)) for c, v in conditional[name]]
            f.condition = _describe(schema, conditional[name])
            f.hidden = not f.error and not applies(conditional[name], _with_defaults(schema, data))
        if widget in ("radio", "select"):
            f.options = options_of(prop)
        elif widget == "yesno":
            f.options = [("true", "是"), ("false", "否")]
            f.value = {True: "true", False: "false"}.get(f.value) if isinstance(f.value, bool) else None
        elif widget == "multi":
            f.options = options_of(prop.get("items") or {})
        elif widget in ("unit", "units"):
            f.groups = unit_groups(picker_units(prop, units, own_unit))
        elif widget == "number":
            f.input_type = "number"
        elif widget == "items":
            f.min_items = int(prop.get("minItems") or 0)
            rows = f.value if isinstance(f.value, list) else []
            count = max(len(rows), f.min_items, 1)
            item_schema = prop.get("items") or {}
            f.rows = [build_fields(item_schema, rows[i] if i < len(rows) and isinstance(rows[i], dict) else {},
                                   errors, units, f"{path}.{i}.") for i in range(count)]
            f.error = f.error or _item_level_error(errors, path)
        elif widget == "group":
            f.children = build_fields(prop, f.value if isinstance(f.value, dict) else {}, errors, units, path + ".")
        if widget == "lines" and isinstance(f.value, list):
            f.value = "\n".join(str(v) for v in f.value)
        if widget in ("multi", "units") and not isinstance(f.value, list):
            f.value = []
        if widget in ("multi", "units", "lines"):
            f.error = f.error or _item_level_error(errors, path)
        out.append(f)
    return out


def _with_defaults(schema: dict, data: dict) -> dict:
    """The answers as the form shows them: a controller not yet answered shows its default."""
    defaults = {name: prop["default"] for name, prop in properties(schema).items()
                if isinstance(prop, dict) and "default" in prop}
    return {**defaults, **data}


def _item_level_error(errors: dict[str, str], path: str) -> str | None:
    """An error on one plain list element (`units.2`) shown on the list itself."""
    for key, message in errors.items():
        rest = key[len(path) + 1:] if key.startswith(path + ".") else ""
        if rest.isdigit():
            return message
    return None


def add_row(fields: list[Field], path: str, schema: dict, units) -> None:
    """Append a blank row to the repeating field at PATH (the no-JavaScript 'add item' button)."""
    for f in fields:
        if f.path == path and f.widget == "items":
            item_schema = (_prop_at(schema, path) or {}).get("items") or {}
            f.rows.append(build_fields(item_schema, {}, {}, units, f"{path}.{len(f.rows)}."))


def _prop_at(schema: dict, path: str) -> dict | None:
    node: dict | None = schema
    for part in path.split("."):
        if node is None:
            return None
        if part.isdigit():
            node = node.get("items")
        else:
            node = properties(node).get(part)
    return node


# -- parsing a submission --------------------------------------------------------------------
def parse_submission(schema: dict | None, form, files, save_file: Callable | None = None,
                     prefix: str = "", drop: str | None = None) -> dict:
    """Turn a submitted MultiDict (and uploaded FILES) into JSON data shaped by SCHEMA.

    Empty inputs are left out so that `required` reports them; DROP names one repeating row
    (`evidence.1`) to remove (the no-JavaScript 'remove item' button)."""
    if not schema:
        return {}
    out: dict = {}
    required = set(schema.get("required") or [])
    for name, prop in properties(schema).items():
        if not isinstance(prop, dict) or prop.get("readOnly"):
            continue
        path = f"{prefix}{name}"
        value = _parse_value(prop, path, form, files, save_file, drop, name in required)
        if value is not None:
            out[name] = value
    return out


def _parse_value(prop, path, form, files, save_file, drop, required):
    widget = widget_of(prop, required)
    if widget == "items":
        rows = []
        for i in _row_indexes(form, files, path):
            if drop == f"{path}.{i}":
                continue
            row = parse_submission(prop.get("items") or {}, form, files, save_file, f"{path}.{i}.")
            if any(not _blank(v) for v in row.values()):
                rows.append(row)
        return rows or None
    if widget == "group":
        return parse_submission(prop, form, files, save_file, path + ".", drop) or None
    if widget in ("multi", "units"):
        values = [v for v in form.getlist(path) if v.strip()]
        return values or None
    if widget == "lines":
        lines = [ln.strip() for ln in (form.get(path) or "").splitlines() if ln.strip()]
        return lines or None
    if widget == "checkbox":
        return form.get(path) in ("on", "true", "1", "yes")
    if widget == "yesno":
        return {"true": True, "false": False}.get(form.get(path) or "", form.get(path) or None)
    if widget == "file":
        return _parse_file(path, form, files, save_file)
    raw = form.get(path)
    if raw is None or not raw.strip():
        return None
    raw = raw.strip() if widget != "textarea" else raw.strip("\r\n ").replace("\r\n", "\n")
    if widget == "number":
        return _number(raw, _type(prop))
    if widget == "datetime" and re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", raw):
        return raw + ":00+08:00"
    return raw


def _blank(value) -> bool:
    """Nothing entered: an unticked box counts as blank, a 0 does not (0 == False in Python)."""
    return value is None or value is False or value == "" or value == []


def _number(raw: str, kind: str):
    try:
        return int(raw) if kind == "integer" else (int(raw) if re.fullmatch(r"-?\d+", raw) else float(raw))
    except ValueError:
        return raw  # left for the validator to report beside the field


def _parse_file(path, form, files, save_file):
    upload = files.get(path) if files else None
    if upload is not None and upload.filename and save_file is not None:
        saved = save_file(upload)
        if saved is not None:
            return saved  # a refused file (save_file says why) leaves the one kept before in place
    kept = form.get(path + "__kept") or ""
    return kept if UPLOAD_VALUE.match(kept) else None


def _row_indexes(form, files, path: str) -> list[int]:
    pattern = re.compile(re.escape(path) + r"\.(\d+)\.")
    found = set()
    for key in list(form.keys()) + list(files.keys() if files else []):
        m = pattern.match(key)
        if m and len(m.group(1)) < 4:
            found.add(int(m.group(1)))
    return sorted(found)


def upload_name(value: str) -> str:
    """The original file name of an `upload:<sha256>/<name>` value."""
    return value.split("/", 1)[1] if isinstance(value, str) and UPLOAD_VALUE.match(value) else str(value)
