"""Sign-in: hashed passwords, secure session cookie, CSRF on every form, slowed-down failures."""

from datetime import timedelta

from sqlalchemy import select

from runner.models import AuditEntry, User
from runner.org import DEMO_PASSWORD
from tests.webui.conftest import SENDER, Browser, csrf_of, denied


def test_login_page_is_chinese_and_pages_need_a_session(app):
    client = app.test_client()
    page = client.get("/login")
    assert page.status_code == 200 and "登录" in page.get_data(as_text=True)
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    resp = client.get("/tasks/x?a=1")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login?next=")


def test_passwords_are_stored_as_argon2_hashes(rt):
    with rt.session() as s:
        stored = s.scalar(select(User.password_hash).where(User.username == SENDER))
    assert stored.startswith("$argon2id$") and DEMO_PASSWORD not in stored


def test_session_cookie_is_httponly_and_samesite(app):
    b = Browser(app.test_client(), SENDER)
    resp = b.login()
    assert resp.status_code == 302
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    secure_app_settings = app.extensions["liandong"].settings.with_(extra={"secure_cookies": True})
    from webui import create_app

    secure = create_app(secure_app_settings)
    assert secure.config["SESSION_COOKIE_SECURE"] and secure.config["REMEMBER_COOKIE_SECURE"]
    secure.extensions["liandong"].session_factory.kw["bind"].dispose()


def test_login_without_csrf_token_is_refused(app):
    client = app.test_client()
    client.get("/login")
    resp = client.post("/login", data={"username": SENDER, "password": DEMO_PASSWORD})
    assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_repeated_failures_are_audited_and_slowed_down(app, rt, clock):
    b = Browser(app.test_client(), SENDER)
    for _ in range(5):
        resp = b.login("wrong")
        assert resp.status_code == 401 and "用户名或密码错误" in resp.get_data(as_text=True)
    assert denied(rt) == 5
    resp = b.login()  # even the right password waits now
    assert resp.status_code == 429 and "秒后再试" in resp.get_data(as_text=True)
    clock.advance(seconds=3)
    assert b.login().status_code == 302


def test_unknown_user_gets_the_same_answer(app):
    b = Browser(app.test_client(), "nobody")
    resp = b.login()
    assert resp.status_code == 401 and "用户名或密码错误" in resp.get_data(as_text=True)


def test_next_only_goes_to_a_local_path(app):
    client = app.test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    for target, expected in [("/history", "/history"), ("//evil.example/x", "/"), ("https://evil.example", "/")]:
        client2 = app.test_client()
        token = csrf_of(client2.get("/login").get_data(as_text=True))
        resp = client2.post("/login", data={"username": SENDER, "password": DEMO_PASSWORD, "csrf_token": token,
                                            "next": target})
        assert resp.headers["Location"] == expected


def test_logout_needs_post_and_ends_the_session(browser):
    b = browser(SENDER)
    assert b.get("/logout").status_code == 405
    assert b.post("/logout").status_code == 302
    assert b.get("/").status_code == 302


def test_english_can_be_switched_on(browser):
    b = browser(SENDER)
    assert "待办任务" in b.get("/").get_data(as_text=True)
    assert b.post("/lang", {"lang": "en", "next": "/"}).status_code == 302
    html = b.get("/").get_data(as_text=True)
    assert "My tasks" in html and 'lang="en"' in html
    b.post("/lang", {"lang": "zh_CN"})
    assert "待办任务" in b.get("/").get_data(as_text=True)


def test_failed_login_detail_names_the_address(app, rt, clock):
    Browser(app.test_client(), SENDER).login("wrong")
    with rt.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "denied")).one()
    assert entry.actor == SENDER and entry.detail.startswith("login") and entry.at == clock.now - timedelta(0)


def client_from(app, address: str, username: str = SENDER) -> Browser:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return Browser(client, username)


def test_parallel_guesses_cannot_outrun_the_throttle(app, rt, monkeypatch):
    """40 guesses at once from one address at one account: at most 5 reach the password check."""
    import threading

    import webui.auth

    checked, lock = [], threading.Lock()
    real = webui.auth.authenticate

    def counting(*args):
        with lock:
            checked.append(args[1])
        return real(*args)
    monkeypatch.setattr(webui.auth, "authenticate", counting)
    browsers = [client_from(app, "203.0.113.7") for _ in range(40)]
    start, statuses = threading.Barrier(len(browsers)), []

    def guess(b: Browser):
        start.wait()
        resp = b.login("wrong")
        with lock:
            statuses.append(resp.status_code)
    threads = [threading.Thread(target=guess, args=(b,)) for b in browsers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(checked) == 5, f"{len(checked)} of 40 parallel guesses reached the password check"
    assert sorted(statuses) == [401] * len(checked) + [429] * (40 - len(checked))
    assert denied(rt) == 40  # every refusal is audited, checked or not


def test_the_throttle_is_shared_by_every_web_process(app, settings, clock, tmp_path):
    """A second app on the same database (another process) sees the failures the first one counted."""
    from webui import create_app

    for _ in range(5):
        assert client_from(app, "203.0.113.7").login("wrong").status_code == 401
    other = create_app(settings.with_(extra={"upload_dir": str(tmp_path / "u2")}), clock=clock)
    other.config["TESTING"] = True
    try:
        assert client_from(other, "203.0.113.7").login().status_code == 429
    finally:
        other.extensions["liandong"].session_factory.kw["bind"].dispose()


def test_failures_from_one_address_do_not_lock_the_account_elsewhere(app):
    for _ in range(5):
        assert client_from(app, "203.0.113.7").login("wrong").status_code == 401
    assert client_from(app, "203.0.113.7").login().status_code == 429  # that address waits for this account
    assert client_from(app, "198.51.100.9").login().status_code == 302  # the owner at their own desk does not


def test_guesses_at_one_account_from_many_addresses_are_limited(app, rt, clock):
    for n in range(20):
        assert client_from(app, f"203.0.113.{n}").login("wrong").status_code == 401
    resp = client_from(app, "198.51.100.9").login()
    assert resp.status_code == 429 and "秒后再试" in resp.get_data(as_text=True)
    assert denied(rt) == 21
    clock.advance(seconds=3)
    assert client_from(app, "198.51.100.9").login().status_code == 302


def test_spraying_from_one_address_is_limited_but_a_correct_password_passes(app, rt):
    """An office behind one NAT address: 20 failures across accounts stop further wrong passwords from it,
    but a colleague who types the right password still signs in."""
    for n in range(20):
        assert client_from(app, "203.0.113.7", f"nobody{n}").login("wrong").status_code == 401
    resp = client_from(app, "203.0.113.7", "someone.else").login("wrong")
    assert resp.status_code == 429 and "秒后再试" in resp.get_data(as_text=True)
    assert client_from(app, "203.0.113.7", SENDER).login().status_code == 302
    assert denied(rt) == 21


def test_a_correct_password_clears_its_own_count(app, clock):
    b = client_from(app, "203.0.113.7")
    for _ in range(4):
        assert b.login("wrong").status_code == 401
    assert b.login().status_code == 302
    for _ in range(5):  # a fresh allowance after a successful sign-in
        assert client_from(app, "203.0.113.7").login("wrong").status_code == 401
