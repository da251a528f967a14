"""Sessions end on the server: a cookie copied before logout, a password change or a deactivation is refused."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from runner.accounts import MIN_PASSWORD_LENGTH, change_password, deactivate_user
from runner.errors import Invalid, NotFound
from runner.models import AuditEntry, UserSession
from runner.org import DEMO_PASSWORD
from runner.sync import SYSTEM
from tests.conftest import snapshot
from tests.webui.conftest import RECEIVER, SENDER, Browser

NEW_PASSWORD = "a-new-long-password"


def copied_cookie(b: Browser) -> str:
    return b.client.get_cookie("liandong_session").value


def replay(app, cookie: str):
    """A different client (an attacker) presenting the copied cookie, on a page and on the API."""
    thief = app.test_client()
    thief.set_cookie("liandong_session", cookie)
    return thief.get("/"), thief.get("/api/me")


def assert_refused(page, api) -> None:
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")
    assert api.status_code == 401 and api.get_json()["error"] == "请先登录"


def session_denials(rt, actor: str = SENDER) -> int:
    with rt.session() as s:
        return s.scalar(select(func.count()).select_from(AuditEntry)
                        .where(AuditEntry.action == "denied", AuditEntry.actor == actor,
                               AuditEntry.detail.like("session：%")))


def test_a_cookie_copied_before_logout_is_refused_after_it(app, rt, browser):
    b = browser(SENDER)
    cookie = copied_cookie(b)
    page, api = replay(app, cookie)
    assert page.status_code == 200 and api.get_json()["username"] == SENDER  # the copy works while signed in
    assert b.post("/logout").status_code == 302
    assert_refused(*replay(app, cookie))
    assert session_denials(rt) == 2  # the page and the API replay are both audited


def test_api_logout_ends_the_session_too(app, rt):
    client = app.test_client()
    token = client.get("/api/csrf").get_json()["csrf_token"]
    resp = client.post("/api/login", json={"username": SENDER, "password": DEMO_PASSWORD},
                       headers={"X-CSRFToken": token})
    assert resp.status_code == 200
    cookie = client.get_cookie("liandong_session").value
    assert client.post("/api/logout", headers={"X-CSRFToken": resp.get_json()["csrf_token"]}).status_code == 200
    assert_refused(*replay(app, cookie))


def test_a_password_change_ends_every_session_of_the_account(app, rt, browser, clock):
    first, second, other = browser(SENDER), browser(SENDER), browser(RECEIVER)
    cookies = [copied_cookie(first), copied_cookie(second)]
    assert change_password(rt, SYSTEM, SENDER, NEW_PASSWORD, clock.now) == 2
    for cookie in cookies:
        assert_refused(*replay(app, cookie))
    assert first.get("/").status_code == 302
    assert other.get("/").status_code == 200  # another account's session is untouched
    assert Browser(app.test_client(), SENDER).login().status_code == 401  # the old password is gone
    assert Browser(app.test_client(), SENDER).login(NEW_PASSWORD).status_code == 302


def test_a_deactivated_account_loses_its_sessions_and_cannot_sign_in(app, rt, browser, clock):
    b = browser(SENDER)
    cookie = copied_cookie(b)
    assert deactivate_user(rt, SYSTEM, SENDER, clock.now) == 1
    assert_refused(*replay(app, cookie))
    assert Browser(app.test_client(), SENDER).login().status_code == 401


def test_bad_account_changes_are_refused_and_change_nothing(app, rt, browser, clock):
    browser(SENDER)
    before = snapshot(rt, exclude_sign_in=False)
    with pytest.raises(Invalid, match=f"至少需要 {MIN_PASSWORD_LENGTH} 个字符"):
        change_password(rt, SYSTEM, SENDER, "short", clock.now)
    with pytest.raises(NotFound, match="没有这个账号"):
        deactivate_user(rt, SYSTEM, "nobody", clock.now)
    assert snapshot(rt, exclude_sign_in=False) == before


def test_the_cookie_holds_no_user_name_only_a_token(app, rt, browser):
    b = browser(SENDER)
    with app.test_request_context():
        data = app.session_interface.get_signing_serializer(app).loads(copied_cookie(b))
    assert SENDER not in str(data)
    with rt.session() as s:
        rows = s.scalars(select(UserSession).where(UserSession.username == SENDER)).all()
    assert len(rows) == 1 and data["_user_id"] not in rows[0].id  # the table keeps only a digest


def test_cli_user_passwd_and_deactivate_end_sessions(app, rt, browser, database_url, monkeypatch, capsys):
    from runner import cli

    monkeypatch.setenv("DATABASE_URL", database_url)
    b = browser(SENDER)
    monkeypatch.setattr("sys.stdin", io.StringIO(NEW_PASSWORD + "\n"))
    assert cli.main(["user", "passwd", SENDER]) == 0
    assert "结束会话 1 个" in capsys.readouterr().out
    assert b.get("/").status_code == 302
    assert Browser(app.test_client(), SENDER).login(NEW_PASSWORD).status_code == 302
    assert cli.main(["user", "deactivate", SENDER]) == 0
    assert "已停用" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main(["user", "passwd", RECEIVER]) == 1
    assert "至少需要" in capsys.readouterr().err
