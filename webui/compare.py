"""Compare two versions of a procedure: the Chinese list of what changed, drawn on version b's diagram."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _
from flask_login import login_required

from runner.diff import compare_versions
from runner.errors import NotFound
from webui.web import rt

bp = Blueprint("compare", __name__)


@bp.app_context_processor
def _library():
    # the version library is another blueprint (webui/legal.py); link to it once it is there
    return {"has_library": "legal.index" in current_app.view_functions}

MAX_VERSION = 1_000_000


def _version(name: str, errors: dict[str, str]) -> int | None:
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    if not value.isdigit() or not 1 <= int(value) <= MAX_VERSION:
        errors[name] = _("版本号须为正整数，例如 1")
        return None
    return int(value)


@bp.get("/legal/<key>/compare")
@login_required
def show(key: str):
    """Any signed-in user may read; a bad parameter is named beside its picker (400), an unknown version 404."""
    errors: dict[str, str] = {}
    a, b = _version("a", errors), _version("b", errors)
    if errors:
        comparison = compare_versions(rt(), key)  # the pickers still list the versions there are
        return render_template("compare/show.html", c=comparison, errors=errors, message=_("版本号有误"),
                               asked={"a": request.args.get("a", ""), "b": request.args.get("b", "")}), 400
    try:
        comparison = compare_versions(rt(), key, a, b)
    except NotFound as exc:
        if a is None and b is None:
            raise
        base = compare_versions(rt(), key)  # NotFound here too when the procedure itself is unknown
        missing = {n: exc.message for n, v in (("a", a), ("b", b)) if v is not None and v not in
                   {c.version for c in base.versions}}
        return render_template("compare/show.html", c=base, errors=missing, message=exc.message,
                               asked={"a": str(a or ""), "b": str(b or "")}), 404
    return render_template("compare/show.html", c=comparison, errors={}, message=None, asked={})
