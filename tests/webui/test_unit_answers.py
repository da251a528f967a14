"""What each unit enters stays its own: a step that runs once per unit (or per field) opens empty for the
next unit, stores each unit's own answer, and every answer is shown, labelled, to those who decide on them."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select

from runner.calendar import TZ
from runner.models import AuditEntry, HumanTask, ProcessInstance
from runner.services import complete_task, fire_due_timers, start_process
from tests.conftest import T0, snapshot
from tests.webui.test_api import Api

LEAD = "yanya_town.officer"
LATE = datetime(2026, 4, 1, 9, tzinfo=TZ)  # the day after the plan's time limit
UNITS = ("natural_resources", "ecology_environment")
START = {"title": "燕崖镇沂河沿岸非法采砂及违规排污联合整治", "initiation": "unit_initiated", "linkage_type": "joint",
         "joint_grounds": ["multiple_agencies"], "grounds_explanation": "非法采砂同时涉及自然资源、生态环境违法",
         "summary": "沂河燕崖段夜间非法采砂，洗砂废水直排河道"}
PLAN = {"basic_facts": "沂河燕崖段发现 3 处非法采砂点", "necessity": "需两部门与镇政府联合查处",
        "tasks": "取缔采砂点、查处排污", "lead_department": "yanya_town", "participant_units": list(UNITS),
        "duties_division": "自然资源局查处非法采砂；生态环境分局查处排污", "time_limit": "2026-03-31",
        "safeguards": "镇政府提供车辆", "extent": "area", "area": "燕崖镇沂河沿岸", "fields": ["ecology", "market"],
        "s5_acknowledged": True}
OPINIONS = {"natural_resources": {"stance": "agree_with_comments", "comments": "请写明采砂点坐标"},
            "ecology_environment": {"stance": "agree"}}
APPROVALS = {"county.leader_b": {"decision": "approve", "opinion": "生态领域同意，注意夜间取证"},
             "county.leader_a": {"decision": "approve", "opinion": "市场领域同意"}}
REPORTS = {"natural_resources": {"actions_taken": "取缔采砂点 3 处，立案 2 起", "tasks_completed": True,
                                 "parties_rights": "informed"},
           "ecology_environment": {"actions_taken": "查封洗砂设备 2 套", "tasks_completed": False,
                                   "outstanding_issues": "一处排污口待监测结果", "parties_rights": "not_applicable"}}


def open_rows(rt, iid: int, element: str) -> list[HumanTask]:
    with rt.session() as s:
        return list(s.scalars(select(HumanTask).where(HumanTask.instance_id == iid, HumanTask.status == "open",
                                                      HumanTask.element_id == element)))


def task_of(rt, iid: int, element: str, unit: str | None = None, field: str | None = None) -> HumanTask:
    rows = [r for r in open_rows(rt, iid, element)
            if (unit is None or r.unit_code == unit) and (field is None or r.field == field)]
    assert len(rows) == 1, f"{element} {unit or field}: {[(r.unit_code, r.field) for r in rows]}"
    return rows[0]


def done(rt, iid: int, element: str, user: str, data: dict, unit: str | None = None, field: str | None = None):
    complete_task(rt, user, task_of(rt, iid, element, unit, field).id, data, T0)


def joint_matter(rt, upto: str) -> int:
    """A P4b joint matter led by 燕崖镇 with two participants, driven through the services up to UPTO
    (collect_opinions | review_opinions | approve_by_field | report_implementation | report_to_supervision |
    close_matter); each step before it is done with each unit's own answer."""
    iid = start_process(rt, "yanya_town.head", "joint_enforcement", START, T0)
    done(rt, iid, "draft_plan", LEAD, PLAN)
    steps = [
        ("collect_opinions", lambda: [done(rt, iid, "collect_opinions", f"{u}.officer", {"opinion": OPINIONS[u]}, u)
                                      for u in UNITS]),
        ("review_opinions", lambda: done(rt, iid, "review_opinions", LEAD,
                                         {"opinion_handling": "已补充坐标", "next_step": "submit"})),
        ("record_filing", lambda: (
            done(rt, iid, "record_filing_supervision", "supervision.officer",
                 {"filing_number": "DC-2026-021", "filed_on": "2026-03-03"}),
            done(rt, iid, "record_filing_justice", "justice.reviewer",
                 {"filing_number": "SF-2026-015", "filed_on": "2026-03-03"}),
            done(rt, iid, "justice_review", "justice.reviewer",
                 {"decision": "approve", "review_opinion": "要素齐全"}))),
        ("approve_by_field", lambda: [
            done(rt, iid, "approve_by_field", leader, {"field_approval": APPROVALS[leader]}, field=field)
            for leader, field in (("county.leader_b", "ecology"), ("county.leader_a", "market"))]),
        ("issue_notice", lambda: (
            done(rt, iid, "issue_notice", "govoffice.clerk", {"notice_number": "源政办字〔2026〕15号",
                                                              "issued_on": "2026-03-05"}),
            done(rt, iid, "convene_meeting", LEAD, {"meeting_date": "2026-03-06", "arrangements": "统一行动",
                                                    "attendee_units": ["yanya_town", *UNITS]}))),
        ("report_implementation", lambda: [
            done(rt, iid, "report_implementation", f"{u}.officer", {"implementation_report": REPORTS[u]}, u)
            for u in UNITS]),
        ("report_to_supervision", lambda: done(rt, iid, "report_to_supervision", LEAD,
                                               {"implementation_summary": "采砂点全部取缔", "s6_situation": False})),
    ]
    for name, run in steps:
        if name == upto or (upto == "close_matter" and name == "close_matter"):
            return iid
        run()
    assert upto == "close_matter", upto
    return iid


def stored(rt, iid: int) -> dict:
    with rt.session() as s:
        return dict(s.get(ProcessInstance, iid).data_summary)


def completions(rt, iid: int, element: str) -> list[AuditEntry]:
    with rt.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.instance_id == iid, AuditEntry.action == "complete",
                                                       AuditEntry.element_id == element).order_by(AuditEntry.id)))


# -- the form a second unit opens -------------------------------------------------------------
def test_second_units_report_form_opens_empty_and_an_unchanged_submit_is_refused(rt, browser, clock):
    iid = joint_matter(rt, "report_implementation")
    first, second = UNITS
    done(rt, iid, "report_implementation", f"{first}.officer", {"implementation_report": REPORTS[first]}, first)
    task = task_of(rt, iid, "report_implementation", second)
    b = browser(f"{second}.officer")
    page = b.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert REPORTS[first]["actions_taken"] not in page.split("案件信息")[0]  # the form itself, not the case data
    assert 'value="informed" checked' not in page and 'value="true" checked' not in page
    before = snapshot(rt)
    resp = b.post(f"/tasks/{task.id}", {})  # what the empty form sends back
    assert resp.status_code == 422
    assert "必填" in resp.get_data(as_text=True)
    assert snapshot(rt) == before


def test_second_units_opinion_form_opens_empty(rt, browser):
    iid = joint_matter(rt, "collect_opinions")
    first, second = UNITS
    done(rt, iid, "collect_opinions", f"{first}.officer", {"opinion": OPINIONS[first]}, first)
    task = task_of(rt, iid, "collect_opinions", second)
    page = browser(f"{second}.officer").get(f"/tasks/{task.id}").get_data(as_text=True)
    form = page.split("案件信息")[0]
    assert OPINIONS[first]["comments"] not in form
    assert 'value="agree_with_comments" checked' not in form


def test_second_late_units_supervision_form_opens_empty_and_records_differ(rt, browser):
    iid = joint_matter(rt, "report_implementation")
    fire_due_timers(rt, LATE)
    tasks = {r.late_unit: r for r in open_rows(rt, iid, "supervise_late_report")}
    assert set(tasks) == set(UNITS)
    first, second = UNITS
    record = {"supervision_measures": "电话督促并下发督办通知", "handling_opinion": "recommend_accountability"}
    complete_task(rt, "supervision.officer", tasks[first].id, {"supervision_record": record}, LATE)
    page = browser("supervision.officer").get(f"/tasks/{tasks[second].id}").get_data(as_text=True)
    assert "电话督促并下发督办通知" not in page.split("案件信息")[0]
    assert 'value="recommend_accountability" checked' not in page
    complete_task(rt, "supervision.officer", tasks[second].id,
                  {"supervision_record": {"supervision_measures": "约谈", "handling_opinion": "urge"}}, LATE)
    records = {r["unit"]: r["supervision_measures"] for r in stored(rt, iid)["supervision_records"]}
    assert records == {first: "电话督促并下发督办通知", second: "约谈"}


def test_second_leaders_approval_form_opens_empty(rt, browser):
    iid = joint_matter(rt, "approve_by_field")
    done(rt, iid, "approve_by_field", "county.leader_b", {"field_approval": APPROVALS["county.leader_b"]},
         field="ecology")
    task = task_of(rt, iid, "approve_by_field", field="market")
    form = browser("county.leader_a").get(f"/tasks/{task.id}").get_data(as_text=True).split("案件信息")[0]
    assert APPROVALS["county.leader_b"]["opinion"] not in form


def test_api_task_offers_no_other_units_answer_and_refuses_an_empty_one(rt, app):
    iid = joint_matter(rt, "report_implementation")
    first, second = UNITS
    done(rt, iid, "report_implementation", f"{first}.officer", {"implementation_report": REPORTS[first]}, first)
    task = task_of(rt, iid, "report_implementation", second)
    client = Api(app, f"{second}.officer")
    body = client.get(f"/api/tasks/{task.id}").get_json()
    assert body["form_data"] == {}
    assert "implementation_report" not in body["data"]
    before = snapshot(rt)
    resp = client.post(f"/api/tasks/{task.id}/complete", {})
    assert resp.status_code == 422
    assert "implementation_report" in resp.get_json()["fields"]
    assert snapshot(rt) == before


# -- what is stored -----------------------------------------------------------------------------
def test_each_units_report_opinion_and_approval_is_stored_as_its_own(rt):
    iid = joint_matter(rt, "report_to_supervision")
    data = stored(rt, iid)
    reports = {r["unit"]: r for r in data["implementation_reports"]}
    assert set(reports) == set(UNITS)
    for unit in UNITS:
        assert {k: reports[unit][k] for k in REPORTS[unit]} == REPORTS[unit]
    assert {o["unit"]: o["stance"] for o in data["opinions"]} == {u: OPINIONS[u]["stance"] for u in UNITS}
    assert {a["field"]: a.get("opinion") for a in data["field_approvals"]} == {
        "ecology": APPROVALS["county.leader_b"]["opinion"], "market": APPROVALS["county.leader_a"]["opinion"]}
    # no single unit's answer stands for the case
    for name in ("opinion", "implementation_report", "field_approval", "reporting_unit", "opinion_unit"):
        assert name not in data
    for entry in completions(rt, iid, "report_implementation"):
        text = repr(entry.changes)
        mine = REPORTS[entry.actor.split(".")[0]]["actions_taken"]
        others = [REPORTS[u]["actions_taken"] for u in UNITS if REPORTS[u]["actions_taken"] != mine]
        assert mine in text and not any(o in text for o in others)


def test_reports_so_far_are_in_the_case_data_while_others_are_still_reporting(rt):
    iid = joint_matter(rt, "report_implementation")
    first = UNITS[0]
    done(rt, iid, "report_implementation", f"{first}.officer", {"implementation_report": REPORTS[first]}, first)
    assert [r["unit"] for r in stored(rt, iid)["implementation_reports"]] == [first]


def revise(rt, iid: int, plan: dict) -> None:
    """Every participant agrees, the lead still revises the plan and drafts it again as PLAN."""
    for u in UNITS:
        done(rt, iid, "collect_opinions", f"{u}.officer", {"opinion": {"stance": "agree"}}, u)
    done(rt, iid, "review_opinions", LEAD, {"opinion_handling": "再调整", "next_step": "revise"})
    done(rt, iid, "draft_plan", LEAD, plan)


def test_an_optional_field_left_empty_in_a_new_round_stays_empty(rt):
    """The task's inherited data is not its answer: the earlier round's value does not stand in."""
    iid = joint_matter(rt, "collect_opinions")
    revise(rt, iid, {**PLAN, "revision_note": "补充了采砂点坐标"})
    assert stored(rt, iid)["revision_note"] == "补充了采砂点坐标"
    revise(rt, iid, PLAN)
    assert stored(rt, iid).get("revision_note") is None


def test_the_submitted_answer_is_stored_as_given_and_the_callers_copy_is_untouched(rt):
    iid = joint_matter(rt, "collect_opinions")
    answer = {"opinion": {"stance": "agree"}}
    done(rt, iid, "collect_opinions", f"{UNITS[0]}.officer", answer, UNITS[0])
    assert answer == {"opinion": {"stance": "agree"}}  # the diagram's post-script adds the unit to its own copy
    assert stored(rt, iid)["opinions"] == [{"stance": "agree", "unit": UNITS[0]}]


# -- what reviewers see -------------------------------------------------------------------------
def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def section(html: str, heading: str) -> str:
    """The text of the card whose heading is HEADING."""
    start = html.index(f">{heading}</h2>")
    end = html.find("</section>", start)
    return text_of(html[start:end])


def test_lead_sees_every_units_opinion_labelled_on_the_review_page(rt, browser):
    iid = joint_matter(rt, "review_opinions")
    html = browser(LEAD).get(f"/tasks/{task_of(rt, iid, 'review_opinions').id}").get_data(as_text=True)
    shown = section(html, "各单位意见、报告和审批")
    assert "参与部门提出意见" in shown
    for label in ("单位", "意见", "具体意见"):
        assert label in shown
    assert "县自然资源局" in shown and "原则同意，有调整意见" in shown and "请写明采砂点坐标" in shown
    assert "市生态环境局沂源分局" in shown
    assert "同意" in shown
    for raw in ("agree_with_comments", "natural_resources", "stance", "{'"):
        assert raw not in text_of(html)


def test_supervision_sees_every_units_report_and_every_leaders_approval_when_closing(rt, browser):
    iid = joint_matter(rt, "close_matter")
    html = browser("supervision.officer").get(f"/tasks/{task_of(rt, iid, 'close_matter').id}").get_data(as_text=True)
    shown = section(html, "各单位意见、报告和审批")
    for text in ("落实分工并报告", "采取的执法措施", "本部门分工任务已完成", "报告时间", "当事人权利告知（S4）",
                 REPORTS["natural_resources"]["actions_taken"], REPORTS["ecology_environment"]["actions_taken"],
                 "一处排污口待监测结果", "本部门未作出影响当事人权益的决定，不涉及", "2026-03-02 09:00",
                 "各领域分管县领导审批", "执法领域", "生态环境", "市场监管", "批准执行", "审批意见说明",
                 APPROVALS["county.leader_b"]["opinion"], APPROVALS["county.leader_a"]["opinion"]):
        assert text in shown, text
    page = text_of(html)
    for raw in ("implementation_reports", "reported_at", "actions_taken", "not_applicable", "{'", "+08:00"):
        assert raw not in page, raw


def test_case_page_labels_each_answer_by_its_own_form_and_keeps_internals_for_admins(rt, browser):
    iid = joint_matter(rt, "close_matter")
    done(rt, iid, "close_matter", "supervision.officer", {"decision": "close", "supervision_opinion": "已落实"})
    html = browser(LEAD).get(f"/instances/{iid}").get_data(as_text=True)
    data = section(html, "案件数据")
    assert "办结方式" in data and "落实完毕，办结" in data  # not 审批意见
    assert "本部门意见" not in data.split("各领域分管县领导审批")[1].split("落实分工并报告")[0]
    for text in ("参与部门提出意见", "落实分工并报告", "各领域分管县领导审批", "县自然资源局",
                 REPORTS["natural_resources"]["actions_taken"], REPORTS["ecology_environment"]["actions_taken"]):
        assert text in data, text
    assert "流程内部变量" not in html
    assert "{'" not in text_of(html)
    assert "流程内部变量" in browser("admin").get(f"/instances/{iid}").get_data(as_text=True)


def test_a_participant_does_not_see_the_other_units_answers_to_the_same_step(rt, browser):
    iid = joint_matter(rt, "collect_opinions")
    first, second = UNITS
    done(rt, iid, "collect_opinions", f"{first}.officer", {"opinion": OPINIONS[first]}, first)
    html = browser(f"{second}.officer").get(f"/tasks/{task_of(rt, iid, 'collect_opinions', second).id}")
    assert OPINIONS[first]["comments"] not in html.get_data(as_text=True)


def test_a_new_round_opens_with_the_units_own_earlier_text_but_no_decision(rt, browser):
    iid = joint_matter(rt, "collect_opinions")
    for u in UNITS:
        done(rt, iid, "collect_opinions", f"{u}.officer", {"opinion": OPINIONS[u]}, u)
    done(rt, iid, "review_opinions", LEAD, {"opinion_handling": "调整方案", "next_step": "revise"})
    done(rt, iid, "draft_plan", LEAD, {**PLAN, "revision_note": "补充了坐标"})
    first, second = UNITS
    form = browser(f"{first}.officer").get(f"/tasks/{task_of(rt, iid, 'collect_opinions', first).id}") \
        .get_data(as_text=True).split("案件信息")[0]
    assert OPINIONS[first]["comments"] in form  # its own earlier draft
    assert 'value="agree_with_comments" checked' not in form  # the decision is asked again
    other = browser(f"{second}.officer").get(f"/tasks/{task_of(rt, iid, 'collect_opinions', second).id}") \
        .get_data(as_text=True).split("案件信息")[0]
    assert OPINIONS[first]["comments"] not in other
