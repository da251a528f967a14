"""The readable text of a procedure and the traceability report, read from a version's own XML and forms."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from runner.calendar import TZ
from runner.models import ProcessDefinition
from runner.procedure_text import procedure_text
from runner.queries import unit_names
from runner.trace import scenario_elements, trace

NEW_DAY = datetime(2026, 12, 2, 9, 0, tzinfo=TZ)


def _text(rt, key):
    bundle = rt.bundles[key]
    return procedure_text(bundle.xml, bundle.forms, unit_names(rt), rt.rules, rt.originals, rt.engine.config)


def _steps(text):
    return {s.name: (lane.name, s) for lane in text.lanes for s in lane.steps}


def test_case_transfer_reads_lane_by_lane_with_who_deadline_and_original_clause(rt):
    text = _text(rt, "case_transfer")
    steps = _steps(text)
    lane, letter = steps["发出移送函并移送材料"]
    assert lane == "移送单位执法人员" and letter.who == "发起单位的执法人员"
    assert letter.deadline.startswith("自通报日期起 3 个工作日内")
    assert [c.rule_id for c in letter.clauses] == ["P5", "P6"] and letter.clauses[0].text == rt.originals["P5"]
    assert steps["督办移送函逾期"][1].who == "县政府督查室的督查室督查人员"
    assert steps["立即现场处置"][1].deadline == "立即（系统设定的时限，现为 2 小时）"
    # the order: registering comes before the letter, the letter before its review by the receiver
    assert steps["登记移送案件"][1].number < letter.number < steps["审查移送案件"][1].number
    assert [lane.name for lane in text.lanes][:2] == ["移送单位执法人员", "接收单位执法人员"]


def test_deadlines_computed_by_a_script_are_read_through_it(rt):
    answer = _steps(_text(rt, "info_query"))["答复查询"][1]
    assert "自收到请求之日起 3 个工作日内" in answer.deadline and "特别紧急的" in answer.deadline
    assert _steps(_text(rt, "quarterly_meeting"))["季度结束"][1].deadline == "所在季度结束时"


def test_no_internal_name_reaches_the_text(rt):
    for key in rt.bundles:
        text = _text(rt, key)
        words = [s.name + s.who + s.deadline for lane in text.lanes for s in lane.steps]
        assert not any(w for w in words if "_" in w), key


def test_a_scenario_exercises_a_rule_by_naming_it_or_through_an_element_that_carries_it(rt):
    doc = {"steps": [{"at": "x"}, {"complete": "send_letter"}, {"expect": {"open_tasks": ["review_transfer"],
                                                                           "escalations": ["supervise_letter@x"]}}]}
    assert scenario_elements(doc) == {"send_letter", "review_transfer", "supervise_letter"}
    report = trace(rt, NEW_DAY)
    p6 = next(r for r in report.rules if r.rule_id == "P6")
    named = {e.scenario for e in p6.scenarios if e.named}
    assert named == {"case_transfer__separated_powers_requires_p6"}
    assert any(not e.named for e in p6.scenarios)
    assert "register_case" in {c.element_id for c in p6.carriers}
    assert report.uncarried == [] and "V1" in report.untested
    assert all(not v.in_force for v in report.versions)  # nothing is in force on 2026-12-02


def test_trace_reads_the_versions_own_scenarios(rt):
    with rt.session() as s, s.begin():
        row = s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == "joint_enforcement")).one()
        row.scenarios = {}
    report = trace(rt, NEW_DAY)
    assert "F2" in report.untested and "P4a" in report.untested and "P5" not in report.untested


def test_a_task_done_once_per_unit_of_a_list_names_that_list(rt):
    steps = _steps(_text(rt, "joint_enforcement"))
    assert steps["参与部门提出意见"][1].who == "每个参与配合部门的执法人员"
    assert steps["落实分工并报告"][1].deadline == "执法时限当日 24:00 前"
