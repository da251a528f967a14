"""Demo seeding: historical cases inside the policy window, in every state, seen at today's date."""

from datetime import datetime, timedelta

from sqlalchemy import select

from runner.calendar import TZ
from runner.demo import plans, seed_demo_cases
from runner.models import CatalogueEntry, Document, HumanTask, ProcessInstance, Receipt, StandingGrant, Timer
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

    # the catalogue, its standing authorisation, and a transfer letter issued, sent and signed for
    with rt.session() as s:
        modes = sorted(s.scalars(select(CatalogueEntry.answer_mode).where(CatalogueEntry.unit_code == "health")))
        grants = [(g.grantee_unit, s.get(CatalogueEntry, g.entry_id).answer_mode)
                  for g in s.scalars(select(StandingGrant))]
        letters = list(s.scalars(select(Document).where(Document.kind == "transfer_letter")))
        receipts = list(s.scalars(select(Receipt)))
        case = s.get(ProcessInstance, letters[0].instance_id) if letters else None
    assert modes == ["copy", "copy", "lookup", "lookup", "statistics", "statistics"]
    assert grants == [("market_regulation", "lookup")]
    assert [d.number for d in letters] == ["县市场监管局移〔2026〕第1号"] and letters[0].issued_on == "2026-11-17"
    assert case.data_summary["letter_number"] == letters[0].number  # the case carries the issued number
    assert [(r.unit_code, r.received_on) for r in receipts] == [("health", "2026-11-25")]
    assert case.data_summary["letter_received_date"] == "2026-11-25"
    review = [t for t in open_tasks if t.element_id == "review_transfer" and t.instance_id == case.id]
    assert review and review[0].due_at > TODAY  # the review deadline runs from the receipt, still in time
    assert "执法信息资源目录：县卫生健康局新公布 6 条，常设查询授权 1 项" in summary

    before = snapshot(rt)
    again = seed_demo_cases(rt, TODAY)
    assert "新建 0 件" in again and "新公布 0 条" in again
    assert snapshot(rt) == before

    clock.set(TODAY)
    sup = browser("supervision.officer").get("/").get_data(as_text=True)
    assert "督办移送函逾期" in sup and "已逾期" in sup
    health = browser("health.officer").get("/").get_data(as_text=True)
    assert "审查移送案件" in health and "剩" in health
    catalogue = browser("market_regulation.officer").get("/catalogue?unit=health").get_data(as_text=True)
    assert "医疗机构执业登记信息" in catalogue and "提供统计数据" in catalogue and "县市场监管局" in catalogue
    start = browser("market_regulation.officer").get("/start").get_data(as_text=True)
    assert "已失效" in start and "已于 2026-11-19 失效" in start


def test_administrators_are_warned_when_next_years_holidays_are_missing(browser, clock):
    clock.set(TODAY)
    assert "2027 年的国务院节假日安排尚未载入" in browser("admin").get("/").get_data(as_text=True)
    assert "节假日安排尚未载入" not in browser("market_regulation.officer").get("/").get_data(as_text=True)
