"""The inbox: what a unit and role may act on, deadlines, filters, paging, claim / release / delegate."""

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text

from runner.calendar import TZ
from runner.models import HumanTask
from runner.queries import InboxFilters, Viewer, inbox_statement
from runner.services import complete_task, fire_due_timers
from tests.conftest import T0, snapshot
from tests.webui.conftest import LETTER, RECEIVER, SENDER, denied, open_task, start_transfer


def rows(html: str) -> list[str]:
    return re.findall(r'<tr class="[^"]*">(.*?)</tr>', html, re.S)


def table(resp) -> str:
    return "".join(rows(resp.get_data(as_text=True)))


def test_inbox_shows_tasks_of_my_unit_and_role_only(rt, browser):
    iid = start_transfer(rt, T0, upto="letter")
    html = browser(SENDER).get("/").get_data(as_text=True)
    assert "发出移送函并移送材料" in html and "某诊所涉嫌非法行医案" in html and "AJYS-20260302-0001" in html
    assert "县市场监管局" in html and "2026-03-05 24:00" in html and "剩 3 个工作日" in html
    for other in ("market_regulation.head", RECEIVER, "supervision.officer"):
        assert "发出移送函并移送材料" not in browser(other).get("/").get_data(as_text=True), other
    # the receiver is told of the transfer beside its inbox and may open the case
    receiver = browser(RECEIVER).get("/").get_data(as_text=True)
    assert "其他单位通报本单位的在办案件" in receiver and f"/instances/{iid}" in receiver


def test_overdue_task_has_a_badge_and_opens_supervision(rt, browser, clock):
    start_transfer(rt, T0, upto="letter")
    clock.set(datetime(2026, 3, 9, 10, tzinfo=TZ))
    fire_due_timers(rt, clock.now)
    html = browser(SENDER).get("/").get_data(as_text=True)
    assert "row-overdue" in html and "已逾期 2 个工作日" in html and ">逾期<" in html
    sup = browser("supervision.officer").get("/").get_data(as_text=True)
    assert "督办移送函逾期" in sup and ">督办<" in sup
    assert "督办：县市场监管局 未按期办理「发出移送函并移送材料」" in sup


def test_filters_by_procedure_status_due_date_and_search(rt, browser, clock):
    start_transfer(rt, T0, "甲案", upto="letter")
    start_transfer(rt, T0 + timedelta(days=2), "乙案", upto="letter")
    b = browser(SENDER)
    assert len(rows(b.get("/").get_data(as_text=True))) == 2
    assert len(rows(b.get("/?process=case_transfer").get_data(as_text=True))) == 2
    assert rows(b.get("/?process=info_query").get_data(as_text=True)) == []
    only = table(b.get("/?q=乙"))
    assert "乙案" in only and "甲案" not in only
    assert "甲案" in table(b.get("/?q=AJYS-20260302"))
    assert rows(b.get("/?q=%25").get_data(as_text=True)) == []  # LIKE wildcards are escaped
    due_first = table(b.get("/?due_from=2026-03-05&due_to=2026-03-05"))
    assert "甲案" in due_first and "乙案" not in due_first
    clock.set(datetime(2026, 3, 6, 9, tzinfo=TZ))
    overdue = table(b.get("/?status=overdue"))
    assert "甲案" in overdue and "乙案" not in overdue
    assert len(rows(b.get("/?status=unclaimed").get_data(as_text=True))) == 2
    assert rows(b.get("/?status=mine").get_data(as_text=True)) == []
    assert b.get("/?status=bogus&due_from=notadate&page=-4").status_code == 400  # refused, not ignored (issue 6)


def test_pagination(rt, browser):
    for i in range(23):
        start_transfer(rt, T0 + timedelta(minutes=i), f"案{i:02d}", upto="letter")
    b = browser(SENDER)
    first = b.get("/").get_data(as_text=True)
    assert len(rows(first)) == 20 and "第 1 / 2 页，共 23 条" in first and "page=2" in first
    assert len(rows(b.get("/?page=2").get_data(as_text=True))) == 3
    assert rows(b.get("/?page=9").get_data(as_text=True)) == []


def test_claim_release_and_delegate_within_the_unit(rt, browser):
    iid = start_transfer(rt, T0, upto="letter")
    task = open_task(rt, iid, "send_letter")
    b = browser(SENDER)
    assert b.post(f"/tasks/{task.id}/claim", {"next": "/"}).status_code == 302
    assert open_task(rt, iid, "send_letter").assignee == SENDER
    assert "已签收" in b.get("/").get_data(as_text=True)
    assert b.post(f"/tasks/{task.id}/release").status_code == 302
    assert open_task(rt, iid, "send_letter").assignee is None
    assert b.post(f"/tasks/{task.id}/delegate", {"to": "market_regulation.head"}).status_code == 302
    assert open_task(rt, iid, "send_letter").assignee == "market_regulation.head"
    head = browser("market_regulation.head").get("/").get_data(as_text=True)
    assert "发出移送函并移送材料" in head
    # once delegated, the officer sees it as someone else's
    assert "已由他人签收" in b.get("/").get_data(as_text=True)


@pytest.mark.parametrize(("user", "action", "data", "status", "message"), [
    (SENDER, "delegate", {"to": RECEIVER}, 422, "只能转办给本单位的同事"),
    (SENDER, "delegate", {"to": "ghost"}, 422, "未知的用户"),
    (SENDER, "release", {}, 409, "只能退回自己签收的任务"),
    (RECEIVER, "claim", {}, 403, "无权操作"),
    (RECEIVER, "delegate", {"to": "health.head"}, 403, "无权操作"),
])
def test_refused_inbox_actions_say_why_and_change_nothing(rt, browser, user, action, data, status, message):
    iid = start_transfer(rt, T0, upto="letter")
    task = open_task(rt, iid, "send_letter")
    b = browser(user)
    before, refused = snapshot(rt), denied(rt)
    resp = b.post(f"/tasks/{task.id}/{action}", data)
    assert resp.status_code == status and message in resp.get_data(as_text=True)
    assert snapshot(rt) == before
    assert denied(rt) == refused + (1 if status == 403 else 0)


def test_actions_on_unknown_or_completed_tasks(rt, browser):
    iid = start_transfer(rt, T0, upto="letter")
    task = open_task(rt, iid, "send_letter")
    complete_task(rt, SENDER, task.id, LETTER, T0)
    b = browser(SENDER)
    before = snapshot(rt)
    assert b.post("/tasks/00000000-0000-0000-0000-000000000000/claim").status_code == 404
    resp = b.post(f"/tasks/{task.id}/claim")
    assert resp.status_code == 409 and "已办理完毕" in resp.get_data(as_text=True)
    assert b.post(f"/tasks/{task.id}/claim", {"csrf_token": "forged"}).status_code == 400
    assert snapshot(rt) == before


def test_history_lists_what_i_completed(rt, browser):
    iid = start_transfer(rt, T0, "完成的案", upto="review")
    html = browser(SENDER).get("/history").get_data(as_text=True)
    assert "登记移送案件" in html and "发出移送函并移送材料" in html and f"/instances/{iid}" in html
    assert "登记移送案件" not in browser(RECEIVER).get("/history").get_data(as_text=True)


def test_inbox_query_reads_only_the_task_table_through_its_indexes(rt):
    if rt.session_factory.kw["bind"].dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    viewer = Viewer("a", "a", "health", "县卫生健康局", "department", "officer")
    stmt = inbox_statement(viewer, InboxFilters(q="案"), T0)
    with rt.session() as s:
        compiled = stmt.compile(s.get_bind(), compile_kwargs={"literal_binds": True})
        plan = " ".join(str(r[-1]) for r in s.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    # each branch on an index of open tasks (the partial ones of issue 10, or the older full ones)
    assert "ix_human_tasks_open_role" in plan or "ix_human_tasks_inbox" in plan
    assert "ix_human_tasks_open_assignee" in plan or "ix_human_tasks_assignee" in plan
    assert "process_instances" not in str(compiled) and "SCAN human_tasks" not in plan


def test_a_leader_sees_only_tasks_of_the_fields_in_charge(rt, browser):
    with rt.session() as s, s.begin():
        inst_id = start_transfer(rt, T0, upto="letter")
        row = s.scalars(select(HumanTask).where(HumanTask.instance_id == inst_id)).first()
        s.add(HumanTask(id="leader-task-1", instance_id=inst_id, process_key="case_transfer",
                        business_key=row.business_key, title="领导任务", element_id="x", name="审批方案",
                        unit_code="county_government", role="leader", field="ecology", created_at=T0))
    assert "审批方案" in browser("county.leader_b").get("/").get_data(as_text=True)
    assert "审批方案" not in browser("county.leader_a").get("/").get_data(as_text=True)
