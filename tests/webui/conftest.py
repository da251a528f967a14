"""Web fixtures: the app on the test database with a controlled clock, and signed-in clients."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from runner.models import AuditEntry, HumanTask
from runner.org import DEMO_PASSWORD
from runner.services import complete_task, start_process
from webui import create_app

SENDER = "market_regulation.officer"
RECEIVER = "health.officer"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

REGISTER = {"receiver_unit": "health", "transfer_reason": "not_jurisdiction",
            "basic_facts": "某诊所无证行医，群众举报。", "evidence": [{"name": "举报材料"}],
            "supervision_penalty_separated": False, "criminal_suspect": False, "urgent_onsite": False}
LETTER = {"letter_number": "源市监移〔2026〕1号", "letter_date": "2026-03-02", "materials": [{"name": "移送函"}],
          "delivery": "platform"}


@pytest.fixture
def app(settings, rt, clock, tmp_path):
    application = create_app(settings.with_(extra={"upload_dir": str(tmp_path / "uploads")}), clock=clock)
    application.config["TESTING"] = True
    yield application
    application.extensions["liandong"].session_factory.kw["bind"].dispose()


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


class Browser:
    """A test client signed in as one user, with the CSRF token at hand."""

    def __init__(self, client, username: str):
        self.client, self.username = client, username
        self.token = csrf_of(client.get("/login").get_data(as_text=True))

    def login(self, password: str = DEMO_PASSWORD):
        resp = self.client.post("/login", data={"username": self.username, "password": password,
                                                "csrf_token": self.token})
        self.token = csrf_of(self.client.get("/").get_data(as_text=True)) if resp.status_code == 302 else self.token
        return resp

    def get(self, path, **kw):
        return self.client.get(path, **kw)

    def post(self, path, data=None, **kw):
        payload = {"csrf_token": self.token, **(data or {})}
        return self.client.post(path, data=payload, **kw)


@pytest.fixture
def browser(app):
    def make(username: str) -> Browser:
        b = Browser(app.test_client(), username)
        assert b.login().status_code == 302
        return b
    return make


def open_task(rt, instance_id: int, element_id: str) -> HumanTask:
    with rt.session() as s:
        return s.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.status == "open",
                                                 HumanTask.element_id == element_id)).one()


def denied(rt) -> int:
    with rt.session() as s:
        return s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "denied"))


def start_transfer(rt, now, title="某诊所涉嫌非法行医案", upto="register") -> int:
    """A case transfer started by SENDER; upto='letter' also registers it, 'review' also sends the letter."""
    iid = start_process(rt, SENDER, "case_transfer", {"title": title}, now)
    if upto in ("letter", "review"):
        complete_task(rt, SENDER, open_task(rt, iid, "register_case").id, REGISTER, now)
    if upto == "review":
        complete_task(rt, SENDER, open_task(rt, iid, "send_letter").id, LETTER, now)
        complete_task(rt, RECEIVER, open_task(rt, iid, "receive_letter").id, {"receipt_confirmed": True}, now)
    return iid
