"""Sign in and out (flask-login), language switch; failed logins are slowed down and audited."""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user

from runner.queries import Viewer, authenticate, find_viewer
from runner.services import record_denial
from webui.errors import error_response
from webui.throttle import LoginThrottle
from webui.web import LOCALES, now, rt, safe_next

bp = Blueprint("auth", __name__)


class LoginUser(UserMixin):
    def __init__(self, viewer: Viewer):
        self.viewer = viewer

    def get_id(self) -> str:
        return self.viewer.username

    @property
    def username(self) -> str:
        return self.viewer.username


def init_login(app: Flask) -> None:
    manager = LoginManager(app)
    manager.session_protection = "strong"
    manager.login_view = "auth.login"
    manager.login_message = _l("请先登录")
    manager.login_message_category = "info"
    app.extensions["liandong.throttle"] = (LoginThrottle(free=app.config["LOGIN_MAX_FAILURES"]),
                                           LoginThrottle(free=app.config["LOGIN_MAX_FAILURES"] * 4))

    @manager.user_loader
    def _load(username: str):
        found = find_viewer(app.extensions["liandong"], username)
        return LoginUser(found) if found else None

    @manager.unauthorized_handler
    def _unauthorized():
        if request.path.startswith("/api/"):
            return error_response(_("请先登录"), 401)
        return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))


def _throttle_keys(username: str) -> tuple[list[str], list[str]]:
    return [f"user:{username.lower()}"], [f"addr:{request.remote_addr or '-'}"]


def attempt_login(username: str, password: str) -> tuple[Viewer | None, str | None, int]:
    """Check USERNAME/PASSWORD under the throttle; (viewer, error message, status)."""
    by_user, by_addr = current_app.extensions["liandong.throttle"]
    user_keys, addr_keys = _throttle_keys(username)
    moment = now()
    wait = max(by_user.wait_seconds(user_keys, moment), by_addr.wait_seconds(addr_keys, moment))
    if wait:
        return None, _("登录失败次数过多，请在 %(n)s 秒后再试", n=wait), 429
    found = authenticate(rt(), username, password) if username and password else None
    if found is None:
        by_user.failed(user_keys, moment)
        by_addr.failed(addr_keys, moment)
        record_denial(rt(), username[:64] or "-", "login", f"登录失败（来自 {request.remote_addr}）", moment)
        return None, _("用户名或密码错误"), 401
    by_user.succeeded(user_keys)
    return found, None, 200


def start_session(found: Viewer) -> None:
    lang = session.get("lang")
    session.clear()  # a fresh session on sign-in (no fixation)
    if lang:
        session["lang"] = lang
    session.permanent = True
    login_user(LoginUser(found))


@bp.route("/login", methods=["GET", "POST"])
def login():
    target = safe_next(request.values.get("next"), url_for("inbox.index"))
    if current_user.is_authenticated:
        return redirect(target)
    if request.method == "GET":
        return render_template("auth/login.html", next=target, username="")
    username = (request.form.get("username") or "").strip()[:64]
    found, error, status = attempt_login(username, request.form.get("password") or "")
    if found is None:
        return render_template("auth/login.html", next=target, username=username, error=error), status
    start_session(found)
    return redirect(target)


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("auth.login"))


@bp.post("/lang")
def set_language():
    lang = request.form.get("lang")
    if lang in LOCALES:
        session["lang"] = lang
    return redirect(safe_next(request.form.get("next"), url_for("inbox.index")))
