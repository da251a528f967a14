"""Everything a person reads is Chinese: restatements, history, diagram panel, engine errors."""

import re

import pytest

from runner.org import DEMO_PASSWORD
from tests.conftest import T0
from tests.webui.conftest import SENDER, open_task, start_transfer

ENGLISH_WORD = re.compile(r"\b(?![FPSV]\d+[a-c]?\b)[A-Za-z_]{3,}\b")


class Api:
    def __init__(self, app, username):
        self.client = app.test_client()
        token = self.client.get("/api/csrf").get_json()["csrf_token"]
        resp = self.client.post("/api/login", json={"username": username, "password": DEMO_PASSWORD},
                                headers={"X-CSRFToken": token})
        assert resp.status_code == 200, resp.get_json()
        self.token = resp.get_json()["csrf_token"]

    def get(self, path):
        return self.client.get(path)

    def post(self, path, body):
        return self.client.post(path, json=body, headers={"X-CSRFToken": self.token})


@pytest.fixture
def api(app):
    return lambda username: Api(app, username)


def test_api_clause_text_is_the_chinese_restatement(rt, api):
    iid = start_transfer(rt, T0, upto="letter")
    task = open_task(rt, iid, "send_letter")
    clauses = {c["id"]: c for c in api(SENDER).get(f"/api/tasks/{task.id}").get_json()["clauses"]}
    assert "通报之日起 3 个工作日内" in clauses["P5"]["text"]
    assert all(ENGLISH_WORD.findall(c["text"]) == [] for c in clauses.values()), clauses


def test_task_page_restatement_is_chinese_and_english_only_in_the_english_locale(rt, browser):
    iid = start_transfer(rt, T0, upto="letter")
    task = open_task(rt, iid, "send_letter")
    b = browser(SENDER)
    html = b.get(f"/tasks/{task.id}").get_data(as_text=True)
    panel = html[html.index('id="clauses-title"'):html.index('id="data-title"')]
    assert "通报之日起 3 个工作日内" in panel and "working days" not in panel and "RULES.md" not in panel
    b.post("/lang", {"lang": "en"})
    assert "3 working days from the day of" in b.get(f"/tasks/{task.id}").get_data(as_text=True)
