"""Validate submitted form data against a task's JSON Schema, with messages naming the field."""

from __future__ import annotations

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

from runner.errors import Invalid

_MESSAGES = {
    "required": "必填",
    "type": "类型不正确",
    "enum": "不是可选的值",
    "const": "取值不被允许",
    "format": "格式不正确",
    "minLength": "不能为空",
    "maxLength": "过长",
    "minItems": "至少需要 {n} 项",
    "minimum": "不能小于 {n}",
    "maximum": "不能大于 {n}",
    "pattern": "格式不正确",
    "additionalProperties": "不是本表单的字段",
    "not": "取值不被允许",
    "uniqueItems": "有重复项",
}


def check_schema(schema: dict) -> str | None:
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return exc.message
    return None


def validate_form(schema: dict, data: dict, unit_codes: set[str] | None = None) -> dict:
    """Return DATA if it satisfies SCHEMA (and unit pickers name real units); raise Invalid otherwise."""
    if not isinstance(data, dict):
        raise Invalid("表单数据必须是一个对象")
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    errors: dict[str, str] = {}
    for err in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        path = _field_path(err)
        errors.setdefault(path or "_form", _message(err, schema))
    if unit_codes is not None:
        for name, prop in (schema.get("properties") or {}).items():
            for value in _unit_values(prop, data.get(name)):
                if value not in unit_codes:
                    errors.setdefault(name, f"未知的单位：{value}")
    if errors:
        labels = "、".join(_label(schema, k) for k in errors)
        raise Invalid(f"表单有误：{labels}", errors)
    return data


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


def _message(err, schema: dict) -> str:
    custom = (err.schema or {}).get("x-message") if isinstance(err.schema, dict) else None
    if custom:
        return custom
    text = _MESSAGES.get(err.validator, err.message)
    if "{n}" in text:
        text = text.format(n=err.validator_value)
    return text


def _label(schema: dict, path: str) -> str:
    head = path.split(".")[0]
    prop = (schema.get("properties") or {}).get(head) or {}
    return prop.get("title") or head


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
