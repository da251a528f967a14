"""Map domain errors and HTTP errors to a Chinese page, or to JSON under /api/."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from runner.errors import DomainError

log = logging.getLogger(__name__)

MESSAGES = {
    400: _l("请求无效，请检查后重试"),
    401: _l("请先登录"),
    403: _l("无权执行该操作"),
    404: _l("页面或记录不存在"),
    405: _l("不支持该请求方式"),
    409: _l("该记录已被更新，请刷新后重试"),
    413: _l("上传的文件过大（单次最多 20 MB）"),
    415: _l("请求体须为 JSON（Content-Type: application/json）"),
    422: _l("提交的内容有误"),
    429: _l("操作过于频繁，请稍后再试"),
    500: _l("系统内部错误，已记录，请稍后再试"),
}


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(message, status: int, fields: dict | None = None):
    message = str(message)
    if wants_json():
        return jsonify({"error": message, "fields": fields or {}}), status
    return render_template("errors/error.html", message=message, status=status), status


def init_errors(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        return error_response(exc.message, exc.status, exc.field_errors)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        return error_response(_("页面已过期或缺少安全令牌（CSRF），请刷新页面后重试"), 400)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        status = exc.code or 500
        if status >= 500:
            return _unexpected(exc)
        # werkzeug's English reason phrase is not for people: a status without a message of its own gets
        # the generic 400 text
        message = MESSAGES.get(status, MESSAGES[400])
        return error_response(message, status)

    @app.errorhandler(500)
    def _unexpected(exc):
        """Anything unforeseen (Flask hands every unhandled exception here as a 500 outside testing): log the
        traceback for the operator, show the person only a Chinese sentence (never the exception's class name,
        text or traceback)."""
        original = getattr(exc, "original_exception", None) or exc
        log.error("unhandled error on %s %s", request.method, request.path,
                  exc_info=(type(original), original, original.__traceback__))
        return error_response(MESSAGES[500], 500)
