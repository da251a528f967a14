"""The cost of an action: whole case_transfer paths through the runner against bare SpiffWorkflow in memory,
and the cost of one action at step N of a long-lived instance (a loop of return and supplement)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import func, select

from runner.calendar import TZ
from runner.config import ROOT, Settings
from runner.models import HumanTask, ProcessInstance
from runner.org import seed_demo_users, seed_units
from runner.runtime import deploy_definitions, make_runtime
from runner.services import _form_variable, complete_task, start_process

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)  # a Monday
OFFICER = "market_regulation.officer"
RECEIVER = "health.officer"
START = {"title": "基准：某诊所涉嫌非法行医案"}
REGISTER = {"receiver_unit": "health", "transfer_reason": "not_jurisdiction",
            "basic_facts": "检查发现某诊所无执业许可证开展诊疗活动，涉嫌非法行医，属卫生健康部门管辖。",
            "evidence": [{"name": "现场检查笔录", "description": "共3页"}],
            "supervision_penalty_separated": False, "criminal_suspect": False, "urgent_onsite": False}
LETTER = {"letter_number": "源市监移〔2026〕3号", "letter_date": "2026-03-02",
          "materials": [{"name": "涉嫌违法案件移送函", "pages": 1}], "delivery": "platform"}
ACCEPT = {"review_decision": "accept", "acceptance_number": "源卫健立〔2026〕15号"}
RETURN = {"review_decision": "return_incomplete", "return_reasons": "缺少现场照片，无法认定违法事实。",
          "missing_materials": ["现场照片"]}
SUPPLEMENT = {"supplemented": [{"name": "现场照片"}], "supplement_note": "按要求补充。"}
RECEIPT = {"receipt_confirmed": True}
# (element, who, data) after the start: one whole path to an accepted transfer
PATH = [("register_case", OFFICER, REGISTER), ("send_letter", OFFICER, LETTER),
        ("receive_letter", RECEIVER, RECEIPT), ("review_transfer", RECEIVER, ACCEPT)]
TO_REVIEW = PATH[:3]  # up to the receiver's review (the return-and-supplement loop starts there)


def runtime(url: str):
    rt = make_runtime(Settings(database_url=url, bpmn_dir=ROOT / "bpmn", rules_file=ROOT / "policy" / "RULES.md",
                               calendar_dir=ROOT / "runner" / "data" / "calendar"))
    with rt.session() as s, s.begin():
        seed_units(s)
        seed_demo_users(s)
    deploy_definitions(rt, T0)
    return rt


def _open_task(rt, instance_id: int, element_id: str) -> str:
    with rt.session() as s:
        return s.scalar(select(HumanTask.id).where(HumanTask.instance_id == instance_id,
                                                   HumanTask.element_id == element_id, HumanTask.status == "open"))


def persisted_paths(rt, paths: int) -> float:
    """Seconds per action over PATHS whole paths through the services (each action its own transaction)."""
    actions, spent = 0, 0.0
    for i in range(paths):
        now = T0 + timedelta(minutes=i)
        t = time.perf_counter()
        iid = start_process(rt, OFFICER, "case_transfer", {"title": f"{START['title']} {i}"}, now)
        spent += time.perf_counter() - t
        actions += 1
        for element, who, data in PATH:
            task_id = _open_task(rt, iid, element)  # the inbox's lookup, not part of the action
            t = time.perf_counter()
            complete_task(rt, who, task_id, data, now)
            spent += time.perf_counter() - t
            actions += 1
    return spent / actions


def bare_paths(rt, paths: int) -> float:
    """Seconds per action over PATHS whole paths in SpiffWorkflow alone, in memory, same diagram and data."""
    with rt.session() as s:
        from runner.runtime import active_definition

        bundle = rt.bundle_for(active_definition(s, "case_transfer", T0))
    engine = rt.engine
    actions, spent = 0, 0.0
    for i in range(paths):
        now = T0 + timedelta(minutes=i)
        t = time.perf_counter()
        wf = engine.new_workflow(bundle, {"title": f"{START['title']} {i}", "initiator": OFFICER,
                                          "initiator_unit": "market_regulation", "initiator_unit_kind": "department",
                                          "started_at": now.isoformat(), "business_key": f"B-{i}"})
        engine.advance(wf, now)
        spent += time.perf_counter() - t
        actions += 1
        for element, _who, data in PATH:
            task = next(t for t in engine.ready_user_tasks(wf) if t.element_id == element)
            variable = _form_variable(bundle, element)
            t = time.perf_counter()
            engine.complete(wf, task.id, {variable: data} if variable else data, now)
            spent += time.perf_counter() - t
            actions += 1
    return spent / actions


def step_costs(rt, steps: int) -> tuple[list[tuple[int, float]], list[tuple[int, int]], str | None]:
    """Run one case_transfer through STEPS actions of return-and-supplement; return (step, seconds) for each
    action, (step, stored state bytes), and the refusal that stopped it early, if any.

    Each action is a minute after the one before, as a case's real actions are: at one fixed instant every
    action would also re-examine each earlier completion of that same instant (the notices look up the tasks
    completed "now"), a cost that grows with the step for a reason no real case has."""
    now = T0
    iid = start_process(rt, OFFICER, "case_transfer", START, now)
    for element, who, data in TO_REVIEW:
        complete_task(rt, who, _open_task(rt, iid, element), data, now)
    costs, sizes = [], []
    for step in range(3, steps + 1):
        element, who, data = (("review_transfer", RECEIVER, RETURN) if step % 2 else
                              ("supplement_materials", OFFICER, SUPPLEMENT))
        task_id = _open_task(rt, iid, element)
        now += timedelta(minutes=1)
        t = time.perf_counter()
        try:
            complete_task(rt, who, task_id, data, now)
        except Exception as exc:  # noqa: BLE001 - a refusal ends the run; the report says where and why
            return costs, sizes, f"step {step}: {exc}"
        costs.append((step, time.perf_counter() - t))
        if step % 10 == 0:
            with rt.session() as s:
                sizes.append((step, s.scalar(select(func.length(ProcessInstance.state_json))
                                             .where(ProcessInstance.id == iid))))
    return costs, sizes, None


def growth(costs: list[tuple[int, float]], early: int, late: int, window: int = 10) -> float:
    """Median cost around step LATE over the median around step EARLY."""
    import statistics

    def around(n):
        xs = [c for s, c in costs if n - window // 2 <= s < n + window // 2] or [costs[-1][1]]
        return statistics.median(xs)
    return around(late) / around(early)
