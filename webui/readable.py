"""Process data in readable form: Chinese labels, unit names, local times, option labels, tables."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runner.calendar import format_local
from webui.schema_form import UPLOAD_VALUE, option_labels, properties, upload_name

SYSTEM_LABELS = {
    "title": "案件名称", "business_key": "编号", "initiator": "发起人", "initiator_unit": "发起单位",
    "started_at": "发起时间", "notice_date": "通报日期", "unit": "单位", "lead_unit": "牵头单位",
    "field": "执法领域", "reported_at": "报告时间",
    "received_date": "签收日期（接到查询请求之日）",  # P9: the day the answer deadline counts from
    "letter_received_date": "签收日期（收到移送函之日）",  # F3: the day the receiver's review deadline counts from
    "supplement_received_date": "收到补充材料之日",
}
# A per-field answer names its field by the code the plan's field list uses.
FIELD_OPTIONS = "fields"
HIDDEN = {"initiator_unit_kind", "business_key"}
ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)$")


@dataclass
class Item:
    label: str
    kind: str  # text | file | list | table | group
    value: Any = None
    columns: list[tuple[str, str]] = field(default_factory=list)
    key: str = ""


class Readable:
    """Formats one definition's data; built once per page from the definition's forms."""

    def __init__(self, forms: dict[str, dict], units: dict[str, str], people: dict[str, str] | None = None,
                 variables: dict[str, dict | str] | None = None):
        self.titles, self.options = option_labels(forms or {})
        self.units, self.people = units, people or {}
        # answers kept under a variable of their own -> {label, schema, many}; a bare string is just a label
        self.variables = {k: v if isinstance(v, dict) else {"label": v} for k, v in (variables or {}).items()}
        self.variables_order: list[str] = []  # a scoped reader: the field order of its one form

    def items(self, data: dict) -> list[Item]:
        """Labelled, non-empty values in a readable order (internal variables are left to `others`)."""
        return [self.item(k, data[k]) for k in self._keys(data) if self.known(k)]

    def others(self, data: dict) -> list[Item]:
        """Non-empty process variables no form names (bookkeeping of the diagram), shown apart."""
        return [self.item(k, data[k]) for k in self._keys(data) if not self.known(k)]

    def per_unit(self, data: dict, leave_out: str | None = None) -> list[Item]:
        """The answers collected once per unit or per field (opinions, reports, approvals), as tables."""
        return [self.item(k, data[k]) for k in self._keys(data)
                if self.variables.get(k, {}).get("many") and k != leave_out]

    def _keys(self, data: dict) -> list[str]:
        keys = [k for k in SYSTEM_LABELS if k in data] + [k for k in data if k not in SYSTEM_LABELS]
        return [k for k in keys if k not in HIDDEN and not k.startswith("_") and data[k] not in (None, "", [], {})]

    def known(self, key: str) -> bool:
        return key in self.titles or key in SYSTEM_LABELS or key in self.variables

    def label(self, key: str) -> str:
        return self.variables.get(key, {}).get("label") or self.titles.get(key) or SYSTEM_LABELS.get(key) or key

    def _scoped(self, key: str) -> Readable:
        """The reader for what VARIABLE KEY holds: labels and options from the form that writes it only."""
        schema = self.variables.get(key, {}).get("schema")
        if not schema:
            return self
        inner = Readable({key: schema}, self.units, self.people)
        inner.variables_order = list(properties(schema))
        inner.options.setdefault(FIELD_OPTIONS, self.options.get(FIELD_OPTIONS, {}))
        return inner

    def item(self, key: str, value) -> Item:
        label = self.label(key)
        inner = self._scoped(key) if key in self.variables else self
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            columns: list[str] = []
            for row in value:
                columns += [c for c in row if c not in columns]
            order = ["unit", "field", *(inner.variables_order or [])]
            columns.sort(key=lambda c: order.index(c) if c in order else len(order))  # whose answer, then the form's
            rows = [[inner.scalar(c, row.get(c)) for c in columns] for row in value]
            return Item(label, "table", rows, [(c, inner.label(c)) for c in columns], key)
        if isinstance(value, list):
            return Item(label, "list", [self.scalar(key, v) for v in value], key=key)
        if isinstance(value, dict):
            return Item(label, "group", [inner.item(k, v) for k, v in value.items()], key=key)
        if isinstance(value, str) and UPLOAD_VALUE.match(value):
            return Item(label, "file", value, key=key)
        return Item(label, "text", self.scalar(key, value), key=key)

    def scalar(self, key: str, value) -> str:
        if value is None or value == "":
            return "—"
        if isinstance(value, bool):
            return "是" if value else "否"
        if isinstance(value, dict | list):
            return "；".join(f"{self.label(k)}：{self.scalar(k, v)}" for k, v in value.items()) \
                if isinstance(value, dict) else "、".join(self.scalar(key, v) for v in value)
        text = str(value)
        if key in self.options and text in self.options[key]:
            return self.options[key][text]
        if key == "field" and text in self.options.get(FIELD_OPTIONS, {}):
            return self.options[FIELD_OPTIONS][text]
        if text in self.units and (key == "unit" or key.endswith(("_unit", "_units", "_department", "_departments"))):
            return self.units[text]
        if key in ("initiator", "assignee") or key.endswith("_by"):
            return self.people.get(text, text)
        if UPLOAD_VALUE.match(text):
            return upload_name(text)
        if ISO_TIME.match(text):
            try:
                return format_local(datetime.fromisoformat(text.replace("Z", "+00:00")))
            except ValueError:
                return text
        return text
