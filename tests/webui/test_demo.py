"""Demo seeding: historical cases inside the policy window, in every state, seen at today's date."""

from datetime import datetime, timedelta

from sqlalchemy import select

from runner.calendar import TZ
from runner.demo import plans, seed_demo_cases
from runner.models import HumanTask, ProcessInstance, Timer
from tests.conftest import snapshot

TODAY = datetime(2026, 11, 27, 10, tzinfo=TZ)  # after the policy expired: the demo must not need to start anything


def test_demo_cases_show_every_state_of_every_procedure_and_seed_once(rt, app, browser, clock):
    summary = seed_demo_cases(rt, TODAY)
    assert "未能完整生成" not in summary, summary
    with rt.session() as s:
        instances = list(s.scalars(select(ProcessInstance)))
        open_tasks = list(s.scalars(select(HumanTask).where(HumanTask.status == "open")))
        timers = list(s.scalars(select(Timer)))
    assert {i.process_key for i in instances} == set(rt.bundles) == {p.process_key for p in plans()}
    assert {i.status for i in instances} == {"running", "completed"}
    assert all(datetime(2021, 11, 20, tzinfo=TZ) <= i.started_at <= datetime(2026, 11, 20, tzinfo=TZ)
               for i in instances)
    # overdue: supervision opened by the timers the minute after the deadline, not today
    supervision = [t for t in open_tasks if t.kind == "supervision"]
    assert supervision and all(t.created_at < TODAY - timedelta(days=5) for t in supervision)
    late = [t for t in open_tasks if t.due_at and t.due_at < TODAY]
    assert late and all(t.due_at.astimezone(TZ).year == 2026 for t in open_tasks if t.due_at)
    # waiting: tasks still within their time, or waiting on the other unit
    assert any(t.due_at and t.due_at > TODAY for t in open_tasks)
    assert any(t.element_id == "review_transfer" for t in open_tasks)
    assert all(t.due_at <= datetime(2027, 1, 1, tzinfo=TZ) for t in timers)  # at most the Q4 meeting at 24:00

    before = snapshot(rt)
    assert "新建 0 件" in seed_demo_cases(rt, TODAY)
    assert snapshot(rt) == before

    clock.set(TODAY)
    sup = browser("supervision.officer").get("/").get_data(as_text=True)
    assert "督办移送函逾期" in sup and "已逾期" in sup
    health = browser("health.officer").get("/").get_data(as_text=True)
    assert "审查移送案件" in health and "剩" in health
    start = browser("market_regulation.officer").get("/start").get_data(as_text=True)
    assert "已失效" in start and "已于 2026-11-19 失效" in start


def test_administrators_are_warned_when_next_years_holidays_are_missing(browser, clock):
    clock.set(TODAY)
    assert "2027 年的国务院节假日安排尚未载入" in browser("admin").get("/").get_data(as_text=True)
    assert "节假日安排尚未载入" not in browser("market_regulation.officer").get("/").get_data(as_text=True)
