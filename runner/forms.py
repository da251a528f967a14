"""Validate submitted form data against a task's JSON Schema, with messages naming the field.

Besides standard JSON Schema (draft 2020-12) the forms use a few keywords of their own:

- `x-not-before` / `x-not-after` on a date field: the date may not be before / after another date,
  named as "today" (the injected `now`, never the wall clock) or as a field of this form or of the
  case data passed as `context` (e.g. "notice_date"). Unknown references are not checked.
  `x-date-labels: {"notice_date": "通报之日"}` names the other date in the message.
- `x-within-calendar: true` on a date that later feeds a deadline: its year must be one whose holiday
  schedule is loaded (WorkingCalendar.loaded_years), so the deadline can be computed later.
- `x-show-if: {"controller": value | [values]}` on a property: the field applies only when the
  controller holds one of the values; the form hides it otherwise and a value for it is refused.
- `x-from-case: true` on a readOnly property: the value is the case's (set by the system), never posted.
- `x-case-if: {"variable": value}` on a property: the field belongs to the form only when the case's
  variable (e.g. the catalogue entry's `answer_mode`) has that value; `for_case` leaves it out otherwise.
- `minLength` counts text without surrounding whitespace, so a required text of only spaces is empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextvars import ContextVar
from datetime import date, datetime

from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators
from jsonschema.exceptions import SchemaError

from runner.calendar import local_date
from runner.errors import Invalid

_MESSAGES = {
    "required": "必填",
    "type": "类型不正确",
    "enum": "不是可选的值",
    "const": "取值不被允许",
    "format": "格式不正确",
    "minLength": "不能为空",
    "maxLength": "过长，最多 {n} 个字",
    "minItems": "至少需要 {n} 项",
    "maxItems": "最多 {n} 项",
    "minimum": "不能小于 {n}",
    "maximum": "不能大于 {n}",
    "pattern": "格式不正确",
    "additionalProperties": "不是本表单的字段",
    "not": "取值不被允许",
    "uniqueItems": "有重复项",
}
DATE_KEYWORDS = ("x-not-before", "x-not-after", "x-within-calendar")


def check_schema(schema: dict) -> str | None:
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return exc.message
    return None


# -- walking a schema's fields ------------------------------------------------------------------
def iter_fields(schema: dict, path: str = "") -> Iterator[tuple[str, dict]]:
    """Every typed field definition in SCHEMA as (dotted path, node); array items are `path[]`.

    Properties named only inside allOf / if-then branches are included when they carry a type."""
    if not isinstance(schema, dict):
        return
    for name, prop in _all_properties(schema).items():
        yield from _iter_node(prop, f"{path}.{name}" if path else name)


def _iter_node(node: dict, path: str) -> Iterator[tuple[str, dict]]:
    if not isinstance(node, dict) or "type" not in node:
        return
    yield path, node
    kinds = node["type"] if isinstance(node["type"], list) else [node["type"]]
    if "array" in kinds:
        yield from _iter_node(node.get("items") or {}, path + "[]")
    if "object" in kinds:
        yield from iter_fields(node, path)


def _all_properties(schema: dict) -> dict[str, dict]:
    props = dict(schema.get("properties") or {})
    for sub in list(schema.get("allOf") or []) + [schema.get("then"), schema.get("else")]:
        if isinstance(sub, dict):
            for name, prop in _all_properties(sub).items():
                if name not in props and isinstance(prop, dict) and "type" in prop:
                    props[name] = prop
    return props


def _kinds(node: dict) -> set[str]:
    t = node.get("type")
    return set(t) if isinstance(t, list) else {t}


def limit_problems(schema: dict) -> list[tuple[str, str, str]]:
    """(path, title, what is missing) for each text without maxLength, list without maxItems and
    number without minimum/maximum: unbounded input once grew the database 40-fold."""
    out = []
    for path, node in iter_fields(schema):
        kinds = _kinds(node)
        title = node.get("title") or path
        if "string" in kinds and "maxLength" not in node:
            out.append((path, title, "长度上限 maxLength"))
        if "array" in kinds and "maxItems" not in node:
            out.append((path, title, "项数上限 maxItems"))
        if kinds & {"integer", "number"}:
            for key, word in (("minimum", "下限 minimum"), ("maximum", "上限 maximum")):
                if key not in node and f"exclusive{key.title()}" not in node:
                    out.append((path, title, "数值" + word))
    return out


def for_case(schema: dict | None, case: dict | None) -> dict | None:
    """SCHEMA as this case shows it: properties whose `x-case-if` does not hold for CASE are left out."""
    props = (schema or {}).get("properties") or {}
    drop = {name for name, prop in props.items() if isinstance(prop, dict) and prop.get("x-case-if")
            and not all((case or {}).get(k) == v for k, v in prop["x-case-if"].items())}
    if not drop:
        return schema
    return {**schema, "properties": {k: v for k, v in props.items() if k not in drop},
            "required": [r for r in schema.get("required") or [] if r not in drop]}


# -- conditional fields -------------------------------------------------------------------------
def show_conditions(schema: dict) -> dict[str, list[tuple[str, object]]]:
    """Field -> [(controller, value)]: the field applies only when one of them holds.

    From `x-show-if` on the property, and from `if {controller: const} then {required: [field]}`
    branches. A `then` that forbids a field (`"not": {}`) is not a reason to show it."""
    out: dict[str, list[tuple[str, object]]] = {}

    def add(name, test):
        if test not in out.setdefault(name, []):
            out[name].append(test)

    for name, prop in _all_properties(schema).items():
        for controller, values in ((prop.get("x-show-if") or {}) if isinstance(prop, dict) else {}).items():
            for value in values if isinstance(values, list) else [values]:
                add(name, (controller, value))
    for branch in list(schema.get("allOf") or []) + [schema]:
        cond, then = branch.get("if"), branch.get("then")
        if not isinstance(cond, dict) or not isinstance(then, dict):
            continue
        tests = [(name, sub["const"]) for name, sub in (cond.get("properties") or {}).items()
                 if isinstance(sub, dict) and "const" in sub]
        if len(tests) != 1:
            continue
        shown = [name for name, sub in (then.get("properties") or {}).items()
                 if not (isinstance(sub, dict) and "not" in sub)]
        for name in list(then.get("required") or []) + shown:
            add(name, tests[0])
    return out


def applies(tests: list[tuple[str, object]], data: dict) -> bool:
    """Whether a conditional field applies to DATA: one of its (controller, value) tests holds."""
    return any(_same(data.get(controller), value) for controller, value in tests)


def _same(actual, expected) -> bool:
    # bool is an int in Python: True must not match 1, nor False match 0
    return type(actual) is type(expected) and actual == expected


def _not_applicable(schema: dict, data: dict) -> dict[str, str]:
    """Values given for `x-show-if` fields whose condition does not hold (the form hides them)."""
    out = {}
    props = _all_properties(schema)
    for name, prop in props.items():
        show_if = prop.get("x-show-if") if isinstance(prop, dict) else None
        if not show_if or _empty(data.get(name)):
            continue
        tests = [(c, v) for c, vals in show_if.items() for v in (vals if isinstance(vals, list) else [vals])]
        if not applies(tests, data):
            out[name] = f"不适用：仅在{_describe(props, tests)}时填写"
    return out


def _empty(value) -> bool:
    return value is None or value is False or value == "" or value == []


def _describe(props: dict, tests: list[tuple[str, object]]) -> str:
    parts = []
    for name, value in tests:
        prop = props.get(name) or {}
        labels = {str(a.get("const")): a.get("title") for a in prop.get("oneOf") or [] if isinstance(a, dict)}
        label = ("是" if value else "否") if isinstance(value, bool) else labels.get(str(value)) or value
        parts.append(f"「{prop.get('title') or name}」为「{label}」")
    return "或".join(parts)


# -- validating ---------------------------------------------------------------------------------
def validate_form(schema: dict, data: dict, unit_codes: set[str] | None = None, *,
                  today: date | datetime | None = None, context: dict | None = None, calendar=None) -> dict:
    """Return DATA if it satisfies SCHEMA (and unit pickers name real units); raise Invalid otherwise.

    TODAY (a date, or an aware datetime whose Asia/Shanghai date is taken), CONTEXT (the case data)
    and CALENDAR (a WorkingCalendar) feed the date keywords; a check whose input is absent is skipped."""
    if not isinstance(data, dict):
        raise Invalid("表单数据必须是一个对象")
    errors: dict[str, str] = dict(_bad_text(data))
    refs = {"today": local_date(today) if today is not None else None}
    validator = _FORM_VALIDATOR(schema, format_checker=_FORMATS)
    submission = _SUBMISSION.set((lambda name: refs["today"] if name == "today" else _lookup(name, data, context),
                                  calendar))
    try:
        found = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    finally:
        _SUBMISSION.reset(submission)
    for err in found:
        path = _field_path(err)
        errors.setdefault(path or "_form", _message(err))
    for name, message in _not_applicable(schema, data).items():
        errors.setdefault(name, message)
    if unit_codes is not None:
        for name, prop in (schema.get("properties") or {}).items():
            for value in _unit_values(prop, data.get(name)):
                if value not in unit_codes:
                    errors.setdefault(name, f"未知的单位：{_printable(value)}")
    if errors:
        errors = {_printable(k): v for k, v in errors.items()}
        labels = "、".join(dict.fromkeys(_label(schema, k) for k in errors))
        raise Invalid(f"表单有误：{labels}", errors)
    return data


def _bad_text(value, path: str = "") -> Iterator[tuple[str, str]]:
    """Text that cannot be stored as UTF-8 (a lone surrogate such as "\\ud800") breaks every later page."""
    if isinstance(value, str) and not _encodable(value):
        yield path or "_form", "含有无法识别的字符，请删除后重新输入"
    elif isinstance(value, dict):
        for key, sub in value.items():
            yield from _bad_text(sub, f"{path}.{key}" if path else str(key))
            if isinstance(key, str) and not _encodable(key):
                yield path or "_form", "含有无法识别的字符，请删除后重新输入"
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from _bad_text(sub, f"{path}.{i}" if path else str(i))


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(text: str) -> str:
    return text if _encodable(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _lookup(name: str, data: dict, context: dict | None):
    if name in data:
        return data[name]
    return (context or {}).get(name)


def _as_date(value) -> date | None:
    if isinstance(value, datetime):
        return local_date(value)
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return local_date(value)
        except (ValueError, OverflowError):
            return None
    return None


# The submission being validated: (resolve a field or "today" to its value, the working calendar). A context
# variable, so the validator class below is built once per process (building one costs more than validating).
_SUBMISSION: ContextVar[tuple] = ContextVar("form_submission")
_FORMATS = FormatChecker()


def _resolve(ref):
    return _SUBMISSION.get()[0](ref)


def _not_before(validator, ref, instance, schema):
    day, other = _as_date(instance), _as_date(_resolve(ref))
    if day and other and day < other:
        yield ValidationError(f"不能早于{_ref_words(ref, other, schema)}")


def _not_after(validator, ref, instance, schema):
    day, other = _as_date(instance), _as_date(_resolve(ref))
    if day and other and day > other:
        yield ValidationError(f"不能晚于{_ref_words(ref, other, schema)}")


def _within_calendar(validator, wanted, instance, schema):
    day = _as_date(instance)
    calendar = _SUBMISSION.get()[1]
    if not wanted or day is None or calendar is None:
        return
    years = calendar.loaded_years
    if day.year not in years:
        yield ValidationError(f"须在已载入节假日安排的年份内（{min(years)}–{max(years)} 年），"
                              f"否则无法计算期限")


def _min_length(validator, n, instance, schema):
    if isinstance(instance, str) and len(instance.strip()) < n:
        blank = instance and not instance.strip()
        yield ValidationError("不能只填空白" if blank else ("不能为空" if n == 1 else f"至少 {n} 个字"))


# Draft 2020-12 plus the date keywords and a whitespace-blind minLength.
_FORM_VALIDATOR = validators.extend(Draft202012Validator, {
    "x-not-before": _not_before, "x-not-after": _not_after, "x-within-calendar": _within_calendar,
    "minLength": _min_length,
})


def _ref_words(ref: str, other: date, schema: dict) -> str:
    """How the message names the other date: "today", or the field's `x-date-labels` entry."""
    labels = {"today": "今天", **(schema.get("x-date-labels") or {})}
    return f"{labels.get(ref, '')}（{other.isoformat()}）"


UNIT_PICKERS = ("units", "enforcement_units")


def _unit_values(prop: dict, value) -> list[str]:
    if prop.get("x-options") in UNIT_PICKERS and isinstance(value, str):
        return [value]
    items = prop.get("items") or {}
    if items.get("x-options") in UNIT_PICKERS and isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _field_path(err) -> str:
    path = [str(p) for p in err.absolute_path]
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else ""
        path.append(missing)
    if err.validator == "additionalProperties" and "'" in err.message:
        path.append(err.message.split("'")[1])
    return ".".join(p for p in path if p)


_BOUNDS = ("maxLength", "maxItems", "maximum")


def _message(err) -> str:
    custom = (err.schema or {}).get("x-message") if isinstance(err.schema, dict) else None
    if err.validator in DATE_KEYWORDS or (err.validator == "minLength" and not custom):
        return err.message
    if custom and err.validator not in _BOUNDS:  # x-message explains what is missing, not a bound
        return custom
    text = _MESSAGES.get(err.validator, "取值不正确")
    if "{n}" in text:
        text = text.format(n=err.validator_value)
    return text


def _label(schema: dict, path: str) -> str:
    head = path.split(".")[0]
    prop = _all_properties(schema).get(head) or {}
    if prop.get("title"):
        return prop["title"]
    return "表单" if head == "_form" else head


# Kinds of unit that enforce (二、三): transfers, queries and participation go only between them.
ENFORCEMENT_KINDS = ("department", "town", "street", "zone")


def check_unit_roles(schema: dict, data: dict, unit_kinds: dict[str, str], own_unit: str | None) -> dict:
    """Return DATA if every `"x-options": "enforcement_units"` picker names an enforcement unit, every
    `"x-not-self": true` picker avoids OWN_UNIT and every `"x-unit-kinds"` (also inside an `allOf` branch
    whose `if` holds) is met; raise Invalid with the message beside the field otherwise."""
    errors: dict[str, str] = {}
    for name, prop in _unit_rules(schema, data):
        items = prop.get("items") if isinstance(prop.get("items"), dict) else {}
        picker = prop if "x-options" in prop else items
        values = data.get(name) if isinstance(data.get(name), list) else [data.get(name)]
        for value in (v for v in values if isinstance(v, str) and v in unit_kinds):
            if picker.get("x-options") == "enforcement_units" and unit_kinds[value] not in ENFORCEMENT_KINDS:
                errors.setdefault(name, "须为行政执法部门或镇（街道、经济开发区）")
            elif (picker.get("x-not-self") or prop.get("x-not-self")) and value == own_unit:
                errors.setdefault(name, "不能选择本单位")
            elif "x-unit-kinds" in prop and unit_kinds[value] not in prop["x-unit-kinds"]:
                errors.setdefault(name, prop.get("x-message") or "不是可选的单位")
    if errors:
        labels = "、".join(_label(schema, k) for k in errors)
        raise Invalid(f"表单有误：{labels}", errors)
    return data


def _unit_rules(schema: dict, data: dict):
    """(field, subschema) for every property, and for the properties of each `then` whose `if` DATA meets."""
    for name, prop in (schema.get("properties") or {}).items():
        if isinstance(prop, dict):
            yield name, prop
    for branch in schema.get("allOf") or []:
        if isinstance(branch, dict) and "if" in branch and Draft202012Validator(branch["if"]).is_valid(data):
            for name, prop in ((branch.get("then") or {}).get("properties") or {}).items():
                if isinstance(prop, dict):
                    yield name, prop
