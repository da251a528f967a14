"""Lateness shown where people look: a step completed after its deadline is marked on the case page (and its
diagram), a 督办 names the late unit, the task, its deadline and the working days since (growing each day),
and the inbox names the colleague who claimed a task instead of showing their sign-in name."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
from sqlalchemy import select

from runner.calendar import TZ
from runner.models import User
from runner.services import claim_task, complete_task, fire_due_timers
from tests.conftest import T0
from tests.webui.conftest import LETTER, SENDER, open_task, start_transfer
from tests.webui.test_api import Api

SUPERVISOR = "supervision.officer"
LETTER_DUE = "2026-03-05 24:00"  # notice on Monday 2 March: the 3rd working day is Thursday 5 March
SUPERVISION_TEXT = "督办：县市场监管局 未按期办理「发出移送函并移送材料」，期限 2026-03-05 24:00，已逾期 {n} 个工作日"


@pytest.fixture
def escalated(rt, clock):
    """A transfer whose letter was not sent in time: on Friday 6 March the 督办 opens. Returns the instance id."""
    iid = start_transfer(rt, T0, "某药店销售假药案", upto="letter")
    clock.set(datetime(2026, 3, 6, 9, tzinfo=TZ))
    fire_due_timers(rt, clock.now)
    return iid


def test_supervision_task_records_the_late_task_and_its_deadline(rt, escalated):
    supervise = open_task(rt, escalated, "supervise_letter")
    letter = open_task(rt, escalated, "send_letter")
    assert supervise.kind == "supervision" and supervise.late_unit == "market_regulation"
    assert supervise.late_task_name == "发出移送函并移送材料" and supervise.late_due_at == letter.due_at


def test_supervision_task_names_unit_task_deadline_and_days_late_and_they_grow(rt, browser, clock, escalated):
    officer = browser(SUPERVISOR)
    inbox = officer.get("/").get_data(as_text=True)
    assert SUPERVISION_TEXT.format(n=1) in inbox
    supervise_id = open_task(rt, escalated, "supervise_letter").id
    row = next(r for r in re.findall(r"<tr[^>]*>(.*?)</tr>", inbox, re.S) if "督办移送函逾期" in r)
    assert "无期限" not in row and "已逾期 1 个工作日" in row
    task_page = officer.get(f"/tasks/{supervise_id}").get_data(as_text=True)
    head = task_page.split('<div class="two-col">')[0]
    assert SUPERVISION_TEXT.format(n=1) in head
    case_page = officer.get(f"/instances/{escalated}").get_data(as_text=True)
    assert SUPERVISION_TEXT.format(n=1) in case_page
    # the weekend does not count; Monday 9 March is the second working day past the deadline
    clock.set(datetime(2026, 3, 8, 9, tzinfo=TZ))
    assert SUPERVISION_TEXT.format(n=1) in officer.get("/").get_data(as_text=True)
    clock.set(datetime(2026, 3, 9, 9, tzinfo=TZ))
    assert SUPERVISION_TEXT.format(n=2) in officer.get("/").get_data(as_text=True)
    assert SUPERVISION_TEXT.format(n=2) in officer.get(f"/tasks/{supervise_id}").get_data(as_text=True)


def test_api_gives_the_supervision_fields_and_text(rt, app, clock, escalated):
    api = Api(app, SUPERVISOR)
    [task] = [t for t in api.get("/api/tasks").get_json()["tasks"] if t["element_id"] == "supervise_letter"]
    assert task["late_unit"] == "县市场监管局" and task["late_task"] == "发出移送函并移送材料"
    assert task["late_due_at"].startswith("2026-03-06T00:00:00+08:00") and task["late_task_days"] == 1
    assert task["supervision_text"] == SUPERVISION_TEXT.format(n=1)
    clock.set(datetime(2026, 3, 10, 9, tzinfo=TZ))
    one = api.get(f"/api/tasks/{task['id']}").get_json()["task"]
    assert one["late_task_days"] == 3 and one["supervision_text"] == SUPERVISION_TEXT.format(n=3)


def test_letter_sent_late_is_marked_on_the_case_page_with_working_days(rt, browser, app, clock, escalated):
    clock.set(datetime(2026, 3, 10, 11, tzinfo=TZ))  # Tuesday: 3 working days past it (Fri, Mon, Tue)
    complete_task(rt, SENDER, open_task(rt, escalated, "send_letter").id, LETTER, clock.now)
    page = browser(SENDER).get(f"/instances/{escalated}").get_data(as_text=True)
    row = next(r for r in re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S) if '任务">发出移送函并移送材料' in r)
    assert "逾期 3 个工作日办结" in row
    on_time = next(r for r in re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S) if '任务">登记移送案件' in r)
    assert "逾期" not in on_time
    overlay = json.loads(re.search(r'<script type="application/json" id="diagram-data">(.*?)</script>',
                                   page, re.S).group(1))
    assert overlay["states"]["send_letter"] == "late" and overlay["states"]["register_case"] == "completed"
    assert overlay["late"] == {"send_letter": "逾期 3 个工作日办结"}
    assert "逾期办结" in page  # the legend
    [task] = [t for t in Api(app, SENDER).get(f"/api/instances/{escalated}").get_json()["tasks"]
              if t["element_id"] == "send_letter"]
    assert task["late_days"] == 3


def test_inbox_names_the_colleague_who_claimed_a_task_not_their_sign_in(rt, browser):
    with rt.session() as s, s.begin():
        officer = s.scalars(select(User).where(User.username == SENDER)).one()
        s.add(User(username="market_regulation.li", password_hash=officer.password_hash, display_name="李明",
                   unit_code="market_regulation", role="officer", fields=[]))
    iid = start_transfer(rt, T0, "某药店销售假药案", upto="letter")
    claim_task(rt, "market_regulation.li", open_task(rt, iid, "send_letter").id, T0)
    html = browser(SENDER).get("/").get_data(as_text=True)
    row = next(r for r in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S) if "发出移送函并移送材料" in r)
    holder = re.search(r'data-label="签收">(.*?)</td>', row, re.S).group(1).strip()
    assert holder == "李明（县市场监管局）" and "market_regulation.li" not in row

