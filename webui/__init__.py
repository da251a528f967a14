"""Thin Flask UI: parse the request, call one service, render."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import Flask
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

from runner.config import ROOT, Settings, settings_from_env
from runner.runtime import make_runtime

HERE = Path(__file__).resolve().parent


def create_app(settings: Settings | None = None, clock=None) -> Flask:
    """Build the app on SETTINGS; CLOCK is a zero-argument callable giving the aware current time."""
    from runner.scheduler import wall_clock
    from webui import (
        api,
        auth,
        catalogue,
        dashboard,
        documents,
        errors,
        inbox,
        inputs,
        instances,
        legal,
        notices,
        start,
        tasks,
        web,
    )

    if settings is None:  # a WSGI server calling create_app(): the same kept key as `liandong run`
        from runner.setup import with_secret_key

        settings = with_secret_key(settings_from_env())
    app = Flask(__name__)
    extra = dict(settings.extra or {})
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Secure cookies need HTTPS; `make run` serves plain http on 127.0.0.1, so production turns it on.
        SESSION_COOKIE_SECURE=bool(extra.get("secure_cookies", False)),
        SESSION_COOKIE_NAME="liandong_session",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=bool(extra.get("secure_cookies", False)),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
        WTF_CSRF_TIME_LIMIT=8 * 3600,
        MAX_CONTENT_LENGTH=int(extra.get("max_upload_bytes", 20 * 1024 * 1024)),
        BABEL_DEFAULT_LOCALE="zh_CN",
        BABEL_DEFAULT_TIMEZONE="Asia/Shanghai",
        BABEL_TRANSLATION_DIRECTORIES=str(HERE / "translations"),
        UPLOAD_DIR=str(extra.get("upload_dir") or ROOT / "instance" / "uploads"),
        UPLOAD_MAX_FILE_BYTES=int(extra.get("max_file_bytes", 20 * 1024 * 1024)),
        LOGIN_MAX_FAILURES=int(extra.get("login_max_failures", 5)),
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False
    app.extensions["liandong"] = make_runtime(settings)
    app.extensions["liandong.clock"] = clock or wall_clock
    CSRFProtect(app)
    Babel(app, locale_selector=web.select_locale, timezone_selector=lambda: "Asia/Shanghai")
    auth.init_login(app)
    web.init_templates(app)
    errors.init_errors(app)
    inputs.init_inputs(app)
    for blueprint in (auth.bp, inbox.bp, tasks.bp, start.bp, instances.bp, api.bp, legal.bp, notices.bp, documents.bp,
                      catalogue.bp):
        app.register_blueprint(blueprint)
    from webui.compare import bp as compare_bp
    app.register_blueprint(compare_bp)
    app.register_blueprint(dashboard.bp)
    from webui import calendar_admin
    app.register_blueprint(calendar_admin.bp)
    from webui import modeler  # legal staff's modeler (issue 8)
    app.register_blueprint(modeler.bp)
    from webui import ops

    ops.init_ops(app)  # /healthz (checks the database) and /metrics (Prometheus)

    return app
