"""The session-signing key: made once per instance (mode 0600), never the built-in one on a reachable server."""

from __future__ import annotations

import stat

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature

from runner import cli
from runner.config import DEV_SECRET_KEY, SECRET_KEY_FILE
from tests.webui.conftest import SENDER


@pytest.fixture
def started(monkeypatch, tmp_path):
    """Run `liandong run` as a person would, but capture the app instead of serving it forever."""
    apps = []
    monkeypatch.setattr(Flask, "run", lambda self, **kw: apps.append((self, kw)))
    monkeypatch.setattr("runner.scheduler.start_timer_thread", lambda *a, **kw: None)
    monkeypatch.delenv("LIANDONG_SECRET_KEY", raising=False)
    monkeypatch.setenv("LIANDONG_INSTANCE_DIR", str(tmp_path / "instance"))

    def start(*args: str) -> tuple[int, Flask | None]:
        before = len(apps)
        code = cli.main(["run", *args])
        app = apps[-1][0] if len(apps) > before else None
        if app is not None:
            app.extensions["liandong"].session_factory.kw["bind"].dispose()
        return code, app
    return start


def forged_cookie(payload: dict, key: str = DEV_SECRET_KEY) -> str:
    forger = Flask("forger")
    forger.secret_key = key
    return SecureCookieSessionInterface().get_signing_serializer(forger).dumps(payload)


def test_a_cookie_signed_with_the_old_built_in_key_is_refused(rt, database_url, monkeypatch, started, tmp_path):
    monkeypatch.setenv("DATABASE_URL", database_url)
    code, app = started("--host", "127.0.0.1", "--port", "5999")
    assert code == 0 and app is not None
    assert app.config["SECRET_KEY"] != DEV_SECRET_KEY
    # What anyone who read the source could sign: "I am market_regulation.officer".
    cookie = forged_cookie({"_user_id": SENDER, "_fresh": True, "_permanent": True})
    with pytest.raises(BadSignature):
        SecureCookieSessionInterface().get_signing_serializer(app).loads(cookie)
    client = app.test_client()
    client.set_cookie("liandong_session", cookie)
    resp = client.get("/")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login")
    api = client.get("/api/me")
    assert api.status_code == 401 and "请先登录" in api.get_json()["error"]


def test_the_key_file_is_private_and_kept_across_starts(tmp_path, monkeypatch, started):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'db' / 'liandong.db'}")
    code, first = started("--port", "5999")
    assert code == 0
    path = tmp_path / "instance" / SECRET_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_text().strip()
    assert len(key) >= 32 and first.config["SECRET_KEY"] == key
    code, second = started("--port", "5999")
    assert code == 0 and second.config["SECRET_KEY"] == key  # reused: sessions survive a restart


def test_init_db_makes_the_key_in_the_folder_of_the_sqlite_database(tmp_path, monkeypatch):
    monkeypatch.delenv("LIANDONG_SECRET_KEY", raising=False)
    monkeypatch.delenv("LIANDONG_INSTANCE_DIR", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'inst' / 'liandong.db'}")
    assert cli.main(["init-db"]) == 0
    path = tmp_path / "inst" / SECRET_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(path.read_text().strip()) >= 32
    from runner.config import settings_from_env

    assert settings_from_env().secret_key == path.read_text().strip()


def test_a_readable_key_file_is_tightened(tmp_path):
    from runner.setup import ensure_secret_key

    key = ensure_secret_key(tmp_path)
    (tmp_path / SECRET_KEY_FILE).chmod(0o644)
    assert ensure_secret_key(tmp_path) == key
    assert stat.S_IMODE((tmp_path / SECRET_KEY_FILE).stat().st_mode) == 0o600


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::"])
def test_run_refuses_the_development_key_off_loopback(host, monkeypatch, started, capsys):
    monkeypatch.setenv("LIANDONG_SECRET_KEY", DEV_SECRET_KEY)
    code, app = started("--host", host)
    assert code == 2 and app is None
    err = capsys.readouterr().err
    assert "拒绝启动" in err and "LIANDONG_SECRET_KEY" in err and "127.0.0.1" in err


def test_run_refuses_a_short_key_off_loopback(monkeypatch, started, capsys):
    monkeypatch.setenv("LIANDONG_SECRET_KEY", "hunter2")
    code, app = started("--host", "0.0.0.0")
    assert code == 2 and app is None and "拒绝启动" in capsys.readouterr().err


def test_run_allows_the_development_key_on_loopback_with_a_warning(tmp_path, monkeypatch, started, capsys):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'liandong.db'}")
    monkeypatch.setenv("LIANDONG_SECRET_KEY", DEV_SECRET_KEY)
    code, app = started("--host", "127.0.0.1")
    assert code == 0 and app.config["SECRET_KEY"] == DEV_SECRET_KEY
    assert "开发密钥" in capsys.readouterr().err


def test_processes_starting_at_once_agree_on_one_key(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from runner.setup import ensure_secret_key

    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: ensure_secret_key(tmp_path), range(16)))
    assert len(keys) == 1 and len(keys.pop()) >= 32
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_KEY_FILE]  # no temporary files left behind
