"""Quarter statistics (S2) over real instances driven through the joint_enforcement diagram."""

import json
from datetime import datetime

import pytest
from sqlalchemy import select

from runner.calendar import TZ
from runner.models import HumanTask
from runner.services import complete_task, fire_due_timers, start_process
from runner.standing import ensure_standing_processes
from runner.statistics import quarter_bounds, quarter_statistics

LEAD = "market_regulation.officer"
START = {"title": "校园周边食品安全联合整治", "initiation": "unit_initiated", "linkage_type": "joint",
         "joint_grounds": ["special_campaign"], "grounds_explanation": "专项治理", "summary": "无证经营"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


def stats(rt, label: str) -> dict:
    with rt.session() as s:
        return quarter_statistics(s, label)


def act(rt, iid: int, element: str, user: str, data: dict, when: datetime, unit: str | None = None) -> None:
    with rt.session() as s:
        query = select(HumanTask.id).where(HumanTask.instance_id == iid, HumanTask.element_id == element,
                                           HumanTask.status == "open")
        if unit:
            query = query.where(HumanTask.unit_code == unit)
        task_id = s.scalars(query).first()
    assert task_id, f"no open {element}"
    complete_task(rt, user, task_id, data, when)


def start_and_approve(rt, when: datetime, participants: list[str], time_limit: str) -> int:
    """A P4a matter led by the market regulator, driven up to the participants' reports."""
    iid = start_process(rt, LEAD, "joint_enforcement", START, when)
    act(rt, iid, "draft_plan", LEAD, {
        "basic_facts": "无证经营 5 家", "necessity": "多部门职责", "tasks": "查处",
        "lead_department": "market_regulation", "participant_units": participants, "duties_division": "各司其职",
        "time_limit": time_limit,
        "safeguards": "抽调人员", "extent": "area", "area": "南麻街道", "fields": ["market"], "s5_acknowledged": True,
    }, when)
    for unit in participants:
        act(rt, iid, "collect_opinions", f"{unit}.officer", {"opinion": {"stance": "agree"}}, when, unit)
    act(rt, iid, "review_opinions", LEAD, {"opinion_handling": "同意", "next_step": "submit"}, when)
    act(rt, iid, "record_filing_supervision", "supervision.officer",
        {"filing_number": "DC-1", "filed_on": when.date().isoformat()}, when)
    act(rt, iid, "record_filing_justice", "justice.reviewer",
        {"filing_number": "SF-1", "filed_on": when.date().isoformat()}, when)
    act(rt, iid, "approve_single_field", "county.leader_a", {"decision": "approve"}, when)
    act(rt, iid, "convene_meeting", LEAD, {"meeting_date": when.date().isoformat(),
                                           "attendee_units": ["market_regulation", *participants],
                                           "arrangements": "统一行动"}, when)
    return iid


def report(rt, iid: int, unit: str, when: datetime) -> None:
    act(rt, iid, "report_implementation", f"{unit}.officer", {"implementation_report": {
        "actions_taken": "已落实", "tasks_completed": True, "parties_rights": "informed"}}, when, unit)


def close(rt, iid: int, when: datetime) -> None:
    act(rt, iid, "report_to_supervision", LEAD, {"implementation_summary": "已落实", "s6_situation": False}, when)
    act(rt, iid, "close_matter", "supervision.officer", {"decision": "close", "supervision_opinion": "办结"}, when)


def test_quarters_are_shanghai_calendar_quarters():
    assert quarter_bounds("2026Q1") == (at("2026-01-01T00:00"), at("2026-04-01T00:00"))
    assert quarter_bounds("2026q4") == (at("2026-10-01T00:00"), at("2027-01-01T00:00"))
    with pytest.raises(ValueError, match="2026Q1"):
        quarter_bounds("2026-Q5")


def test_started_and_finished_count_in_the_local_quarter(rt):
    late_q1 = start_and_approve(rt, at("2026-03-31T23:30"), ["health"], "2026-04-30")
    # 07:00 on 1 April in the county is still 31 March in UTC: it belongs to the second quarter
    early_q2 = start_process(rt, LEAD, "joint_enforcement", START, at("2026-04-01T07:00"))
    report(rt, late_q1, "health", at("2026-04-02T10:00"))
    close(rt, late_q1, at("2026-04-02T11:00"))

    q1, q2 = stats(rt, "2026Q1"), stats(rt, "2026Q2")
    assert (q1["started"], q1["finished"], q1["running_at_end"]) == (1, 0, 1)
    assert (q2["started"], q2["finished"], q2["running_at_end"]) == (1, 1, 1)
    assert q1["by_process"] == {"joint_enforcement": {"started": 1, "finished": 0, "overdue": 0, "escalations": 0}}
    assert q2["by_unit"]["market_regulation"] == {"initiated": 1, "involved": 1, "finished": 1, "overdue": 0,
                                                  "escalations": 0}
    assert q1["by_unit"]["health"]["involved"] == 1
    assert early_q2 != late_q1


def test_overdue_tasks_and_escalations_per_process_and_unit(rt):
    iid = start_and_approve(rt, at("2026-03-02T09:00"), ["health", "nanma_street"], "2026-03-20")
    fire_due_timers(rt, at("2026-03-23T09:00"))  # both reports still open: two 督办 tasks, one per late unit
    report(rt, iid, "health", at("2026-03-25T10:00"))  # late, inside the quarter

    q1 = stats(rt, "2026Q1")
    assert (q1["overdue"], q1["overdue_open_at_end"], q1["completed_late"], q1["escalations"]) == (2, 1, 1, 2)
    assert q1["by_process"]["joint_enforcement"] == {"started": 1, "finished": 0, "overdue": 2, "escalations": 2}
    late = {u: (c["overdue"], c["escalations"]) for u, c in q1["by_unit"].items() if c["overdue"] or c["escalations"]}
    assert late == {"health": (1, 1), "nanma_street": (1, 1)}
    assert q1["by_unit"]["supervision_office"]["involved"] == 1
    assert [(t["unit"], t["due"], t["completed"]) for t in q1["overdue_tasks"]] == [
        ("health", "2026-03-20 24:00", "2026-03-25 10:00"), ("nanma_street", "2026-03-20 24:00", None)]

    # the street reports in the next quarter: still open at the end of Q1, completed late in Q2
    report(rt, iid, "nanma_street", at("2026-04-10T10:00"))
    q1_again, q2 = stats(rt, "2026Q1"), stats(rt, "2026Q2")
    assert q1_again["overdue_open_at_end"] == 1
    assert (q2["overdue"], q2["overdue_open_at_end"], q2["completed_late"], q2["escalations"]) == (1, 0, 1, 0)


def test_statistics_are_plain_json_and_leave_out_the_meeting_itself(rt):
    ensure_standing_processes(rt, at("2026-03-02T09:00"))
    q1 = stats(rt, "2026Q1")
    assert json.loads(json.dumps(q1)) == q1
    assert (q1["started"], q1["by_process"], q1["by_unit"]) == (0, {}, {})
