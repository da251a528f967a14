"""Browser fixtures: the app served by a werkzeug thread on 127.0.0.1 with a controlled clock, and
the system Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from runner.config import ROOT
from runner.org import DEMO_PASSWORD
from webui import create_app

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
ARTIFACTS = ROOT / "test-artifacts"


def _require_chromium() -> None:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is required (REQUIRE_BROWSER=1) but /usr/bin/chromium is missing")
        pytest.skip("no system Chromium at /usr/bin/chromium")
    if not (ROOT / "webui" / "static" / "vendor" / "bpmn-js" / "bpmn-navigated-viewer.production.min.js").exists():
        pytest.fail("bpmn-js is not vendored; run `make vendor` (scripts/vendor.sh)")


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


@pytest.fixture
def live_server(settings, rt, clock, tmp_path):
    """The app on a free port; the test moves `clock` to move the app's time."""
    app = create_app(settings.with_(extra={"upload_dir": str(tmp_path / "uploads")}), clock=clock)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="liandong-test-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)
    server.server_close()
    app.extensions["liandong"].session_factory.kw["bind"].dispose()


@pytest.fixture
def chromium():
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def console_errors():
    """Script errors and CSP violations seen by any page (a 4xx page the test asked for is not one)."""
    return []


@pytest.fixture
def signed_in(chromium, live_server, console_errors):
    """Open a fresh browser context (its own cookies) signed in as USERNAME; returns its page."""
    contexts = []

    def sign_in(username: str, viewport=(1366, 768)):
        context = chromium.new_context(viewport={"width": viewport[0], "height": viewport[1]}, locale="zh-CN",
                                       timezone_id="Asia/Shanghai")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("pageerror", lambda exc: console_errors.append(str(exc)))
        page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error"
                and "Failed to load resource" not in msg.text else None)
        page.goto(live_server + "/login")
        page.get_by_label("用户名").fill(username)
        page.get_by_label("密码").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.wait_for_url(live_server + "/")
        return page

    yield sign_in
    for context in contexts:
        context.close()
