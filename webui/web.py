"""What every view shares: the runtime, the injected clock, the signed-in viewer, template helpers."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlencode, urlsplit

from flask import Flask, current_app, g, request, session
from flask_babel import gettext
from flask_login import current_user
from markupsafe import Markup, escape

from runner.calendar import format_local
from runner.org import FIELDS, ROLES
from runner.queries import Viewer, procedure_names, unit_names
from runner.runtime import Runtime
from webui.lateness import late_completion_text, overdue_text, referral_text, supervision_text
from webui.schema_form import upload_name

LOCALES = ("zh_CN", "en")


def rt() -> Runtime:
    return current_app.extensions["liandong"]


def now() -> datetime:
    """The injected clock's time: views never read the wall clock."""
    return current_app.extensions["liandong.clock"]()


def viewer() -> Viewer:
    return current_user.viewer


def units() -> dict[str, str]:
    if "units" not in g:
        g.units = unit_names(rt())
    return g.units


def select_locale() -> str:
    lang = session.get("lang")
    return lang if lang in LOCALES else "zh_CN"


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site relative paths; anything else goes to DEFAULT."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    return default if parts.scheme or parts.netloc else target


def page_url(n: int) -> str:
    """The current page's URL with the same filters and page N."""
    args = request.args.to_dict()
    args["page"] = str(n)
    return request.path + "?" + urlencode(args)


def _days_text(days: int | None) -> str:
    if days is None:
        return ""
    if days > 0:
        return gettext("剩 %(n)s 个工作日", n=days)
    if days == 0:
        return gettext("今日到期")
    return gettext("已逾期 %(n)s 个工作日", n=-days)


_BOLD = re.compile(r"\*\*(.+?)\*\*")


def clause_html(text: str) -> Markup:
    """RULES.md clause text with its **bold** kept (everything else escaped)."""
    return Markup(_BOLD.sub(r"<strong>\1</strong>", str(escape(text or ""))))


def init_templates(app: Flask) -> None:
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.jinja_env.filters.update(
        local=lambda v, fmt="%Y-%m-%d %H:%M": format_local(v, fmt) if isinstance(v, datetime) else (v or ""),
        unit=lambda code: units().get(code, code) if code else "",
        role=lambda code: ROLES.get(code, code),
        field_name=lambda code: FIELDS.get(code, code),
        days_text=_days_text,
        supervision=supervision_text,
        referral=referral_text,
        late_text=late_completion_text,
        overdue_text=overdue_text,
        upload_name=upload_name,
        clause=clause_html,
    )

    @app.context_processor
    def _globals():
        return {"ROLES": ROLES, "current_locale": select_locale(), "page_url": page_url,
                "procedure_choices": lambda: procedure_names(rt())}

    @app.after_request
    def _headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        # Nothing is loaded from outside; bpmn-js sets inline styles on its SVG, hence style-src.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
            "form-action 'self'")
        if request.path.startswith("/api/") or response.mimetype == "text/html":
            response.headers.setdefault("Cache-Control", "no-store")
        return response
