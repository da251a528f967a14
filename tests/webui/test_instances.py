"""The instance page: diagram states, tasks, audit history, data; and who may read it."""

import json
import re
from datetime import datetime

import pytest

from runner.calendar import TZ
from runner.services import fire_due_timers
from tests.conftest import T0, snapshot
from tests.webui.conftest import RECEIVER, SENDER, denied, start_transfer


def diagram_payload(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="diagram-data">(.*?)</script>', html, re.S)
    return json.loads(m.group(1))


def test_instance_page_shows_diagram_states_tasks_history_and_data(rt, browser):
    iid = start_transfer(rt, T0, upto="letter")
    html = browser(SENDER).get(f"/instances/{iid}").get_data(as_text=True)
    payload = diagram_payload(html)
    assert payload["xml"].startswith("<?xml") and 'id="case_transfer"' in payload["xml"]
    assert payload["states"]["register_case"] == "completed" and payload["states"]["send_letter"] == "active"
    assert payload["states"]["letter_overdue"] == "waiting"
    assert "P5" in payload["rules"] and payload["labels"]["active"] == "办理中"
    assert "vendor/bpmn-js/bpmn-navigated-viewer.production.min.js" in html
    assert "登记移送案件" in html and "发出移送函并移送材料" in html and "待签收" in html
    assert "发起「案件移送」AJYS-20260302-0001" in html and "办理「登记移送案件」" in html  # audit
    assert "县市场监管局·执法人员" in html and "不属于本部门管辖" in html and "县卫生健康局" in html
    assert "移送函期限届满：2026-03-05 24:00" in html  # a running deadline
    assert "http://" not in html.replace("http://www.omg.org", "").replace("http://www.w3.org", "") \
        .replace("http://spiffworkflow.org", "").replace("http://liandong", "")


def test_overdue_elements_are_marked(rt, browser, clock):
    iid = start_transfer(rt, T0, upto="letter")
    clock.set(datetime(2026, 3, 9, 9, tzinfo=TZ))
    fire_due_timers(rt, clock.now)
    payload = diagram_payload(browser("supervision.officer").get(f"/instances/{iid}").get_data(as_text=True))
    assert payload["states"]["send_letter"] == "overdue"
    assert payload["states"]["supervise_letter"] == "active"


@pytest.mark.parametrize(("user", "status"), [
    (SENDER, 200),                       # the initiator's unit
    ("market_regulation.head", 200),     # same unit, another role
    (RECEIVER, 200),                     # the receiving unit takes part
    ("supervision.officer", 200),        # reads every instance
    ("justice.reviewer", 200),           # reads every instance
    ("water.officer", 403),              # no part in it
    ("county.leader_a", 200),            # the leading group reads what the dashboard counts
    ("govoffice.clerk", 403),
])
def test_who_may_read_an_instance(rt, browser, user, status):
    iid = start_transfer(rt, T0, upto="letter")
    b = browser(user)
    before, refused = snapshot(rt), denied(rt)
    resp = b.get(f"/instances/{iid}")
    assert resp.status_code == status
    assert snapshot(rt) == before
    assert denied(rt) == refused + (status == 403)
    if status == 403:
        assert "无权查看该案件" in resp.get_data(as_text=True)


def test_guessing_instance_ids(rt, browser):
    iid = start_transfer(rt, T0, upto="letter")
    b = browser("water.officer")
    assert b.get(f"/instances/{iid + 1000}").status_code == 404
    assert b.get("/instances/abc").status_code == 404
    assert b.get(f"/instances/{iid}").status_code == 403


def test_case_list_shows_participating_or_all_cases(rt, browser):
    start_transfer(rt, T0, "移送甲案", upto="letter")
    assert "移送甲案" in browser(RECEIVER).get("/instances").get_data(as_text=True)
    assert "移送甲案" in browser("justice.reviewer").get("/instances?status=running").get_data(as_text=True)
    assert "移送甲案" not in browser("water.officer").get("/instances").get_data(as_text=True)
    assert "移送甲案" not in browser(RECEIVER).get("/instances?status=completed").get_data(as_text=True)
    assert "移送甲案" in browser(SENDER).get("/instances?q=甲").get_data(as_text=True)
