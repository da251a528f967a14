"""Sign in and out (flask-login, sessions kept in the database), language switch; failed logins are slowed down
and audited."""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user, user_logged_out

from runner.access import record_denial
from runner.accounts import end_session, open_session, session_viewer
from runner.queries import Viewer, authenticate
from webui.errors import error_response
from webui.throttle import Limit, claim, forget, forget_old, give_back, retry_when_busy
from webui.web import LOCALES, now, rt, safe_next

bp = Blueprint("auth", __name__)


class LoginUser(UserMixin):
    """The signed-in viewer and the token of their server-side session (what the cookie carries)."""

    def __init__(self, viewer: Viewer, token: str):
        self.viewer, self.token = viewer, token

    def get_id(self) -> str:
        return self.token

    @property
    def username(self) -> str:
        return self.viewer.username


def init_login(app: Flask) -> None:
    manager = LoginManager(app)
    manager.session_protection = "strong"
    manager.login_view = "auth.login"
    manager.login_message = _l("请先登录")
    manager.login_message_category = "info"
    free = app.config["LOGIN_MAX_FAILURES"]
    # Per address and account: the usual mistyping. Per account: guesses from many addresses. Per address:
    # spraying many accounts from one address; a correct password still passes it (an office behind one NAT).
    app.extensions["liandong.throttle"] = (Limit("pair", free), Limit("account", free * 4),
                                           Limit("address", free * 4))

    @manager.user_loader
    def _load(token: str):
        if not token or "\x00" in token:
            return None
        found, state, owner = session_viewer(app.extensions["liandong"], token)
        if state == "revoked":  # a cookie kept after logout, a password change or a deactivation
            detail = f"已结束的会话被再次使用（来自 {request.remote_addr}）"
            retry_when_busy(lambda: record_denial(rt(), owner, "session", detail, now()))
        return LoginUser(found, token) if found else None

    @user_logged_out.connect_via(app)
    def _end(_sender, user=None, **_kw):
        if isinstance(user, LoginUser):
            end_session(rt(), user.token, now())

    @manager.unauthorized_handler
    def _unauthorized():
        if request.path.startswith("/api/"):
            return error_response(_("请先登录"), 401)
        return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))


def _claim(keys: list[tuple[Limit, str]], moment) -> tuple[int, int]:
    """Claim one attempt on the pair and account keys (refused: nothing counted) and on the address key;
    (seconds to wait for pair/account, seconds to wait for the address)."""
    (pair, pair_key), (account, account_key), (address, address_key) = keys
    s = rt().session()
    try:
        wait = claim(s, pair, pair_key, moment) or claim(s, account, account_key, moment)
        if wait:
            s.rollback()
            return wait, 0
        address_wait = claim(s, address, address_key, moment)
        s.commit()
        return 0, address_wait
    finally:
        s.close()


def _passed(keys: list[tuple[Limit, str]], address_claimed: bool, moment) -> None:
    (_pair, pair_key), (account, account_key), (address, address_key) = keys
    with rt().session() as s, s.begin():
        forget(s, pair_key)
        give_back(s, account, account_key)
        if address_claimed:
            give_back(s, address, address_key)
        forget_old(s, moment)


def attempt_login(username: str, password: str) -> tuple[Viewer | None, str | None, int]:
    """Check USERNAME/PASSWORD under the throttle; (viewer, error message, status).

    The attempt is counted before the (slow) password check, so parallel guesses cannot slip through."""
    pair, account, address = current_app.extensions["liandong.throttle"]
    addr, name = request.remote_addr or "-", username.lower()
    keys = [(pair, pair.key(f"{addr}\n{name}")), (account, account.key(name)), (address, address.key(addr))]
    moment = now()
    actor = username[:64] or "-"
    wait, address_wait = retry_when_busy(lambda: _claim(keys, moment))
    if wait:
        detail = f"登录尝试过于频繁，未核对密码（来自 {addr}）"
        retry_when_busy(lambda: record_denial(rt(), actor, "login", detail, moment))
        return None, _("登录失败次数过多，请在 %(n)s 秒后再试", n=wait), 429
    found = authenticate(rt(), username, password) if username and password else None
    if found is None:
        retry_when_busy(lambda: record_denial(rt(), actor, "login", f"登录失败（来自 {addr}）", moment))
        if address_wait:
            return None, _("登录失败次数过多，请在 %(n)s 秒后再试", n=address_wait), 429
        return None, _("用户名或密码错误"), 401
    retry_when_busy(lambda: _passed(keys, address_wait == 0, moment))
    return found, None, 200


def start_session(found: Viewer) -> None:
    lang = session.get("lang")
    session.clear()  # a fresh session on sign-in (no fixation)
    if lang:
        session["lang"] = lang
    session.permanent = True
    token = retry_when_busy(lambda: open_session(rt(), found.username, now(), current_app.permanent_session_lifetime))
    login_user(LoginUser(found, token))


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
