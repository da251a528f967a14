"""Thin Flask UI: parse the request, call one service, render."""

from __future__ import annotations

from flask import Flask

from runner.config import Settings, settings_from_env
from runner.runtime import make_runtime


def create_app(settings: Settings | None = None, clock=None) -> Flask:
    settings = settings or settings_from_env()
    app = Flask(__name__)
    app.config["SECRET_KEY"] = settings.secret_key
    app.extensions["liandong"] = make_runtime(settings)

    @app.get("/healthz")
    def healthz():
        return {"ok": True}

    return app
