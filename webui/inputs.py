"""Refuse request input that would break things later, at the door, before any view or database sees it.

One before_request hook checks every way text enters: the URL path and its parameters, the query string,
form posts (keys, values and file names) and JSON bodies (keys and values at any depth). Text that cannot
be stored as UTF-8 (a lone surrogate such as "A\\ud800B") or that holds a NUL byte (which PostgreSQL text
refuses) is answered with a 400 naming the field; JSON nested deeper than MAX_DEPTH is refused before it is
parsed (the decoder recurses); ids beyond what the database's integer and varchar(36) columns hold are a 404.

The query-string parser (QueryArgs) answers unknown filter values with a 400 naming the parameter, where
the old parsers silently ignored them and returned everything.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date

from flask import Flask, current_app, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from runner.errors import DomainError, NotFound

MAX_DEPTH = 64
MAX_INT = 2**31 - 1          # PostgreSQL INTEGER; SQLite would take 2**63 - 1 but both must agree
MAX_TASK_ID = 36             # HumanTask.id is a UUID string
MAX_PAGE = 10_000
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)

# Request parameters a person fills in, by the name the page shows beside them.
PARAM_LABELS = {
    "q": _l("搜索"), "process": _l("流程"), "status": _l("状态"), "due_from": _l("期限自"), "due_to": _l("期限至"),
    "page": _l("页码"), "per_page": _l("每页条数"), "username": _l("用户名"), "password": _l("密码"),
    "to": _l("转办对象"), "next": _l("返回地址"), "lang": _l("语言"),
    "unit": _l("单位"), "show": _l("指标"), "quarter": _l("季度"),
}


class BadInput(DomainError):
    """A request parameter or body the server refuses to read (400, with the offending field)."""

    status = 400


def _readable_label(name: str) -> str | None:
    """The title a person saw for request parameter or form field NAME (a dotted path such as evidence.0.name)."""
    if name in PARAM_LABELS:
        return str(PARAM_LABELS[name])
    parts = [p for p in name.split(".") if p and not p.isdigit()]
    rt = current_app.extensions.get("liandong")
    for bundle in (rt.bundles.values() if rt is not None else ()):
        for schema in (bundle.forms or {}).values():
            node = schema
            for part in parts:
                props = node.get("properties") if isinstance(node, dict) else None
                if not isinstance(props, dict) and isinstance(node, dict) and isinstance(node.get("items"), dict):
                    props = node["items"].get("properties")
                node = props.get(part) if isinstance(props, dict) else None
                if node is None:
                    break
            if isinstance(node, dict) and node.get("title") and parts:
                return str(node["title"])
    return None


def _bad_text(where: str, name: str | None) -> BadInput:
    label = _readable_label(name) if name else None
    detail = _("含有无法保存的字符（空字符或不完整的字符编码），请删除后重试")
    message = _("「%(label)s」%(detail)s", label=label, detail=detail) if label else _(
        "%(where)s%(detail)s", where=where, detail=detail)
    return BadInput(message, {name or "_form": detail})


def storable(text: str) -> bool:
    """Whether TEXT can be written to either database: valid UTF-8 (no lone surrogates) and no NUL byte."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- JSON bodies ---------------------------------------------------------------------------------
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_INNERMOST = re.compile(rb"\[\]|\{\}")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def too_deep(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text RAW nests arrays/objects deeper than LIMIT, decided without parsing it.

    Strings are cut out, then the innermost empty pairs are peeled off once per level: LIMIT regex passes
    at most, so neither a deep nor a long body costs Python recursion or a byte-by-byte loop."""
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    for _level in range(limit):
        if not brackets:
            return False
        peeled = _INNERMOST.sub(b"", brackets)
        if peeled == brackets:
            # unbalanced, so not JSON; only a long run of openers (which the decoder would recurse into
            # before noticing) is refused here, the rest the view reports as not JSON
            return len(brackets) > limit
        brackets = peeled
    return bool(brackets)


def _walk_json(value, path: str, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise _too_deep()
    if isinstance(value, str):
        if not storable(value):
            raise _bad_text(_("提交的内容"), path or None)
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if not storable(key):
                raise _bad_text(_("提交的字段名"), None)
            _walk_json(item, where, depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _walk_json(item, f"{path}.{i}" if path else str(i), depth + 1)


def _too_deep() -> BadInput:
    return BadInput(_("提交的 JSON 嵌套过深（最多 %(n)s 层）", n=MAX_DEPTH))


def _not_a_number(token: str):
    """NaN and Infinity are not JSON; Python's decoder takes them, and PostgreSQL's json column refuses them."""
    raise BadInput(_("提交的数字无效：%(v)s", v=token))


def _finite(token: str) -> float:
    value = float(token)
    if math.isinf(value):  # 1e400 decodes to infinity
        _not_a_number(token[:20])
    return value


def check_json_body() -> None:
    raw = request.get_data(cache=True)
    if not raw:
        return
    if too_deep(raw):
        raise _too_deep()
    try:
        data = json.loads(raw, parse_constant=_not_a_number, parse_float=_finite)
    except RecursionError as exc:  # the pre-check should have caught it; never let it become a 500
        raise _too_deep() from exc
    except ValueError:
        return  # not JSON: the view answers that with its own 400
    _walk_json(data, "")


# -- the rest of the request -------------------------------------------------------------------
def _check_pairs(pairs, where: str) -> None:
    for key, value in pairs:
        if not storable(key):
            raise _bad_text(where, None)
        if isinstance(value, str) and not storable(value):
            raise _bad_text(where, key)


def _check_path() -> None:
    if not storable(request.path):
        raise _bad_text(_("网址"), None)
    for name, value in (request.view_args or {}).items():
        if isinstance(value, int) and not 0 <= value <= MAX_INT:
            raise NotFound(_("案件不存在") if name == "instance_id" else _("记录不存在"))
        if name == "task_id" and len(value) > MAX_TASK_ID:
            raise NotFound(_("任务不存在"))


def check_request() -> None:
    """The before_request hook: refuse (and change nothing) when any input cannot be stored."""
    _check_path()
    _check_pairs(request.args.items(multi=True), _("查询条件"))
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        _check_pairs(request.form.items(multi=True), _("提交的表单"))
        for key, upload in request.files.items(multi=True):
            if not storable(key) or not storable(upload.filename or ""):
                raise _bad_text(_("上传文件的名称"), None)
    elif request.is_json:
        check_json_body()


def init_inputs(app: Flask) -> None:
    app.before_request(check_request)


# -- query-string filters ---------------------------------------------------------------------
class QueryArgs:
    """Read filter parameters, collecting an error per parameter instead of ignoring bad values."""

    def __init__(self, args):
        self.args = args
        self.errors: dict[str, str] = {}

    def text(self, name: str, limit: int = 100) -> str:
        return (self.args.get(name) or "").strip()[:limit]

    def choice(self, name: str, allowed) -> str:
        value = self.args.get(name) or ""
        if value and value not in allowed:
            self.errors[name] = _("没有这个选项：%(v)s", v=value[:40])
            return ""
        return value

    def day(self, name: str) -> date | None:
        value = self.args.get(name) or ""
        if not value:
            return None
        try:
            day = date.fromisoformat(value)
        except ValueError:
            self.errors[name] = _("日期格式应为 年-月-日，例如 2026-03-02")
            return None
        if not FIRST_DAY <= day <= LAST_DAY:
            self.errors[name] = _("日期须在 %(a)s 至 %(b)s 之间", a=FIRST_DAY.isoformat(), b=LAST_DAY.isoformat())
            return None
        return day

    def number(self, name: str, default: int, lo: int, hi: int) -> int:
        value = self.args.get(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or not lo <= number <= hi:
            self.errors[name] = _("须为 %(lo)s 至 %(hi)s 之间的整数", lo=lo, hi=hi)
            return default
        return number

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def check(self) -> None:
        """Raise BadInput naming every refused parameter (JSON: {"error", "fields"})."""
        if self.errors:
            raise bad_query(self.errors)


def bad_query(errors: dict[str, str]) -> BadInput:
    names = "、".join(f"「{PARAM_LABELS.get(k, k)}」" for k in errors)
    return BadInput(_("筛选条件有误：%(names)s", names=names), dict(errors))
