"""A unit head (单位负责人) sees the unit's open work, who holds it and what is late, and reassigns it within the
unit; nobody else may. And the role decides who acts: an officer does not act on the head's task."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from sqlalchemy import select

from runner.calendar import TZ
from runner.documents import issue_document
from runner.models import AuditEntry, HumanTask, User
from runner.services import claim_task, fire_due_timers
from tests.conftest import T0, snapshot
from tests.webui.conftest import LETTER, RECEIVER, SENDER, denied, open_task, start_transfer
from tests.webui.test_api import Api

HEAD = "market_regulation.head"
COLLEAGUE = "market_regulation.li"


@pytest.fixture
def colleague(rt):
    """A second officer of the market regulation bureau, with a person's name."""
    with rt.session() as s, s.begin():
        head = s.scalars(select(User).where(User.username == HEAD)).one()
        s.add(User(username=COLLEAGUE, password_hash=head.password_hash, display_name="李明",
                   unit_code="market_regulation", role="officer", fields=[]))
    return COLLEAGUE


@pytest.fixture
def late_claimed(rt, clock):
    """A transfer letter claimed by the officer and overdue by two working days; returns its task id."""
    iid = start_transfer(rt, T0, "某药店销售假药案", upto="letter")
    task_id = open_task(rt, iid, "send_letter").id
    claim_task(rt, SENDER, task_id, T0)
    clock.set(datetime(2026, 3, 9, 10, tzinfo=TZ))
    fire_due_timers(rt, clock.now)
    return task_id


def rows(html: str) -> list[str]:
    return re.findall(r'<tr class="[^"]*">(.*?)</tr>', html, re.S)


def test_head_sees_the_unit_tasks_claimed_by_officers_with_who_holds_them_and_how_late(rt, browser, late_claimed):
    head = browser(HEAD)
    own = rows(head.get("/").get_data(as_text=True))  # not among the head's own tasks (a 督办 notice may name it)
    assert not any("发出移送函并移送材料" in row for row in own)
    html = head.get("/?scope=unit").get_data(as_text=True)
    [row] = rows(html)
    assert "发出移送函并移送材料" in row and "某药店销售假药案" in row
    holder = re.search(r'data-label="签收">(.*?)</td>', row, re.S).group(1)
    assert holder.strip() == "县市场监管局·执法人员"  # the holder by name, not by account
    assert "已逾期 2 个工作日" in row and "row-overdue" in html
    assert "本单位在办任务 1 项，其中已逾期 1 项" in html and "改派" in row
    assert "某药店销售假药案" in head.get("/instances").get_data(as_text=True)  # and the unit's cases
    # the head of a unit that takes no part sees none of it (the receiver, health, has the notice to sign)
    assert rows(browser("culture_tourism.head").get("/?scope=unit").get_data(as_text=True)) == []


def test_head_sees_the_unit_tasks_through_the_api(rt, app, late_claimed):
    data = Api(app, HEAD).get("/api/tasks?scope=unit").get_json()
    assert data["total"] == 1 and data["overdue"] == 1
    [task] = data["tasks"]
    assert task["id"] == late_claimed and task["assignee"] == SENDER
    assert task["assignee_name"] == "县市场监管局·执法人员" and task["days_left"] == -2 and task["overdue"] is True


def test_only_heads_see_the_tab_and_others_are_refused_the_unit_view(rt, app, browser, late_claimed):
    assert "本单位待办" in browser(HEAD).get("/").get_data(as_text=True)
    officer = browser(SENDER)
    assert "本单位待办" not in officer.get("/").get_data(as_text=True)
    before, refusals = snapshot(rt), denied(rt)
    resp = officer.get("/?scope=unit")
    assert resp.status_code == 403 and "单位负责人" in resp.get_data(as_text=True)
    assert Api(app, "supervision.officer").get("/api/tasks?scope=unit").status_code == 403
    assert snapshot(rt) == before and denied(rt) == refusals + 2
    bogus = Api(app, HEAD).get("/api/tasks?scope=everything")
    assert bogus.status_code == 400 and "scope" in bogus.get_json()["fields"]


def _audit(rt, action: str) -> list[AuditEntry]:
    with rt.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_head_reassigns_a_claimed_task_to_a_colleague_audited_by_name(rt, app, browser, late_claimed, colleague):
    head = browser(HEAD)
    resp = head.post(f"/tasks/{late_claimed}/reassign", {"to": colleague, "next": "/?scope=unit"},
                     follow_redirects=True)
    assert resp.status_code == 200 and "已改派给 李明（县市场监管局）" in resp.get_data(as_text=True)
    with rt.session() as s:
        assert s.get(HumanTask, late_claimed).assignee == colleague
    [entry] = _audit(rt, "reassign")
    assert entry.actor == HEAD and entry.task_id == late_claimed
    assert entry.detail == "将「发出移送函并移送材料」改派给 李明（县市场监管局），原由 县市场监管局·执法人员 签收"
    # the colleague now holds it; the officer who had claimed it no longer may act on it
    assert browser(SENDER).get(f"/tasks/{late_claimed}").status_code == 403
    li = browser(colleague)
    assert li.get(f"/tasks/{late_claimed}").status_code == 200
    _issue_letter(rt, late_claimed, colleague)
    assert Api(app, colleague).post(f"/api/tasks/{late_claimed}/complete", LETTER).status_code == 200


def test_head_reassigns_through_the_api(rt, app, late_claimed):
    resp = Api(app, HEAD).post(f"/api/tasks/{late_claimed}/reassign", {"to": HEAD})
    assert resp.status_code == 200 and resp.get_json()["assignee"] == "县市场监管局·单位负责人（县市场监管局）"
    with rt.session() as s:
        assert s.get(HumanTask, late_claimed).assignee == HEAD


@pytest.mark.parametrize("who", [SENDER, RECEIVER, "health.head", "supervision.officer", "admin"])
def test_only_the_unit_head_may_reassign_refused_audited_and_nothing_changes(rt, app, browser, late_claimed,
                                                                             colleague, who):
    before, refusals = snapshot(rt), denied(rt)
    page = browser(who).post(f"/tasks/{late_claimed}/reassign", {"to": colleague})
    api = Api(app, who).post(f"/api/tasks/{late_claimed}/reassign", {"to": colleague})
    assert page.status_code == 403 and "无权改派" in page.get_data(as_text=True)
    assert api.status_code == 403 and "无权改派" in api.get_json()["error"]
    assert snapshot(rt) == before and denied(rt) == refusals + 2


@pytest.mark.parametrize(("target", "message"), [
    (RECEIVER, "只能改派给本单位在职的同事"),
    ("ghost", "只能改派给本单位在职的同事"),
    (SENDER, "无需改派"),
])
def test_reassign_to_someone_outside_the_unit_is_refused_and_nothing_changes(rt, app, late_claimed, target,
                                                                              message):
    before = snapshot(rt)
    resp = Api(app, HEAD).post(f"/api/tasks/{late_claimed}/reassign", {"to": target})
    assert resp.status_code == 422 and message in resp.get_json()["fields"]["to"]
    assert snapshot(rt) == before


def _issue_letter(rt, task_id: str, username: str) -> None:
    """The transfer letter of the task's case: its number and date are what the step records."""
    with rt.session() as s:
        iid = s.get(HumanTask, task_id).instance_id
    issue_document(rt, username, iid, "transfer_letter", T0)


def test_a_finished_task_cannot_be_reassigned(rt, app, late_claimed):
    _issue_letter(rt, late_claimed, SENDER)
    assert Api(app, SENDER).post(f"/api/tasks/{late_claimed}/complete", LETTER).status_code == 200
    before = snapshot(rt)
    resp = Api(app, HEAD).post(f"/api/tasks/{late_claimed}/reassign", {"to": HEAD})
    assert resp.status_code == 403 and "任务已结束" in resp.get_json()["error"]
    assert snapshot(rt) == before


def test_officer_of_the_unit_cannot_act_on_the_head_task_through_the_web(rt, app, browser):
    iid = start_transfer(rt, T0, upto="letter")
    task_id = open_task(rt, iid, "send_letter").id
    with rt.session() as s, s.begin():
        s.get(HumanTask, task_id).role = "unit_head"   # as a diagram that assigns the head would
    officer = browser(SENDER)
    assert "发出移送函并移送材料" not in officer.get("/").get_data(as_text=True)
    before = snapshot(rt)
    assert officer.get(f"/tasks/{task_id}").status_code == 403
    assert officer.post(f"/tasks/{task_id}/claim").status_code == 403
    assert officer.post(f"/tasks/{task_id}", LETTER).status_code == 403
    assert Api(app, SENDER).post(f"/api/tasks/{task_id}/complete", LETTER).status_code == 403
    assert snapshot(rt) == before
    head = browser(HEAD)
    assert "发出移送函并移送材料" in head.get("/").get_data(as_text=True)
    assert head.get(f"/tasks/{task_id}").status_code == 200
