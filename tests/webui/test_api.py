"""The JSON API: the UI's operations with the same authorisation, errors as {"error", "fields"}."""

import pytest

from runner.documents import issue_document
from runner.org import DEMO_PASSWORD
from tests.conftest import T0, snapshot
from tests.webui.conftest import LETTER, RECEIVER, REGISTER, SENDER, denied, open_task, start_transfer


class Api:
    def __init__(self, app, username=None):
        self.client = app.test_client()
        self.token = self.client.get("/api/csrf").get_json()["csrf_token"]
        if username:
            resp = self.post("/api/login", {"username": username, "password": DEMO_PASSWORD})
            assert resp.status_code == 200, resp.get_json()
            self.token = resp.get_json()["csrf_token"]

    def get(self, path):
        return self.client.get(path)

    def post(self, path, body=None):
        return self.client.post(path, json=body if body is not None else {}, headers={"X-CSRFToken": self.token})


@pytest.fixture
def api(app):
    return lambda username=None: Api(app, username)


def test_whole_transfer_through_the_api(rt, api):
    sender, receiver = api(SENDER), api(RECEIVER)
    procs = sender.get("/api/processes").get_json()["processes"]
    ct = next(p for p in procs if p["key"] == "case_transfer")
    assert ct["effective_to"] == "2026-11-19" and ct["expired"] is False and ct["form"]["required"] == ["title"]
    started = sender.post("/api/processes/case_transfer/start", {"title": "接口发起的案"})
    assert started.status_code == 201
    iid, task_id = started.get_json()["instance_id"], started.get_json()["next_task"]
    detail = sender.get(f"/api/tasks/{task_id}").get_json()
    assert detail["task"]["element_id"] == "register_case" and detail["form"]["title"] == "登记移送案件"
    assert {c["id"] for c in detail["clauses"]} >= {"F3", "P5"}
    done = sender.post(f"/api/tasks/{task_id}/complete", REGISTER).get_json()
    letter = done["next_task"]
    mine = sender.get("/api/tasks").get_json()
    assert mine["total"] == 1 and mine["tasks"][0]["id"] == letter
    assert mine["tasks"][0]["due_at"] == "2026-03-06T00:00:00+08:00" and mine["tasks"][0]["days_left"] == 3
    assert sender.post(f"/api/tasks/{letter}/complete", LETTER).status_code == 422  # the letter is not issued
    issue_document(rt, SENDER, iid, "transfer_letter", T0)
    assert sender.post(f"/api/tasks/{letter}/complete", LETTER).status_code == 200
    receipt = receiver.get("/api/tasks").get_json()["tasks"][0]  # the receiver signs for the letter first
    assert receipt["element_id"] == "receive_letter"
    assert receiver.post(f"/api/tasks/{receipt['id']}/complete", {"receipt_confirmed": True}).status_code == 200
    review = receiver.get("/api/tasks").get_json()["tasks"][0]
    assert review["element_id"] == "review_transfer"
    assert receiver.post(f"/api/tasks/{review['id']}/complete", {"review_decision": "accept"}).status_code == 200
    inst = receiver.get(f"/api/instances/{iid}").get_json()
    assert inst["status"] == "completed" and inst["end_event"] == "end_accepted"
    assert inst["data"]["review_decision"] == "accept"


def test_invalid_data_is_422_with_fields_and_changes_nothing(rt, api):
    iid = start_transfer(rt, T0)
    task = open_task(rt, iid, "register_case")
    sender = api(SENDER)
    before = snapshot(rt)
    resp = sender.post(f"/api/tasks/{task.id}/complete", {**REGISTER, "receiver_unit": "nowhere", "fee": 1})
    body = resp.get_json()
    assert resp.status_code == 422 and body["error"].startswith("表单有误")
    assert body["fields"]["receiver_unit"] == "未知的单位：nowhere" and "fee" in body["fields"]
    assert snapshot(rt) == before


@pytest.mark.parametrize(("kind", "status"), [("text", 400), ("list", 400), ("broken", 400)])
def test_malformed_bodies_are_400(rt, app, api, kind, status):
    iid = start_transfer(rt, T0)
    task = open_task(rt, iid, "register_case")
    sender = api(SENDER)
    before = snapshot(rt)
    headers = {"X-CSRFToken": sender.token}
    url = f"/api/tasks/{task.id}/complete"
    if kind == "text":
        resp = sender.client.post(url, data="title=x", headers=headers)
    elif kind == "list":
        resp = sender.client.post(url, json=[1, 2], headers=headers)
    else:
        resp = sender.client.post(url, data="{not json", content_type="application/json", headers=headers)
    assert resp.status_code == status and resp.get_json()["error"]
    assert snapshot(rt) == before


def test_foreign_task_replay_and_unknown_are_json_errors(rt, api):
    iid = start_transfer(rt, T0, upto="letter")
    letter = open_task(rt, iid, "send_letter")
    receiver, sender = api(RECEIVER), api(SENDER)
    before, refused = snapshot(rt), denied(rt)
    for resp in (receiver.get(f"/api/tasks/{letter.id}"), receiver.post(f"/api/tasks/{letter.id}/complete", LETTER),
                 receiver.post(f"/api/tasks/{letter.id}/claim")):
        assert resp.status_code == 403 and "无权" in resp.get_json()["error"]
    assert api("water.officer").get(f"/api/instances/{iid}").status_code == 403
    assert snapshot(rt) == before and denied(rt) == refused + 4
    issue_document(rt, SENDER, iid, "transfer_letter", T0)
    assert sender.post(f"/api/tasks/{letter.id}/complete", LETTER).status_code == 200
    replay = sender.post(f"/api/tasks/{letter.id}/complete", LETTER)
    assert replay.status_code == 403 and "已办理完毕" in replay.get_json()["error"]
    assert sender.get("/api/tasks/nope").status_code == 404
    assert sender.get("/api/nothing-here").get_json() == {"error": "页面或记录不存在", "fields": {}}


def test_sign_in_csrf_and_throttle(app, api):
    anonymous = Api(app)
    resp = anonymous.get("/api/tasks")
    assert resp.status_code == 401 and resp.get_json()["error"] == "请先登录"
    bad = anonymous.post("/api/login", {"username": SENDER, "password": "wrong"})
    assert bad.status_code == 401 and bad.get_json()["error"] == "用户名或密码错误"
    no_token = app.test_client().post("/api/login", json={"username": SENDER, "password": DEMO_PASSWORD})
    assert no_token.status_code == 400 and "CSRF" in no_token.get_json()["error"]
    sender = api(SENDER)
    assert sender.get("/api/me").get_json()["unit"] == "market_regulation"
    assert sender.client.post("/api/logout", json={}).status_code == 400  # without the token
    assert sender.post("/api/logout").status_code == 200
    assert sender.get("/api/me").status_code == 401


def test_claim_release_delegate_and_history(rt, api):
    iid = start_transfer(rt, T0, upto="letter")
    letter = open_task(rt, iid, "send_letter")
    sender = api(SENDER)
    assert sender.post(f"/api/tasks/{letter.id}/claim").status_code == 200
    assert sender.get("/api/tasks?status=mine").get_json()["total"] == 1
    assert sender.post(f"/api/tasks/{letter.id}/release").status_code == 200
    resp = sender.post(f"/api/tasks/{letter.id}/delegate", {"to": RECEIVER})
    assert resp.status_code == 422 and resp.get_json()["fields"] == {"to": "只能转办给本单位的同事"}
    assert sender.post(f"/api/tasks/{letter.id}/delegate", {"to": "market_regulation.head"}).status_code == 200
    history = sender.get("/api/history").get_json()
    assert [t["element_id"] for t in history["tasks"]] == ["register_case"]
