"""The policy's roles, enforced at the service layer (issue 7): nobody is handed a task nobody can do."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from runner.calendar import TZ
from runner.errors import Conflict, Forbidden, Invalid
from runner.lifecycle import close_instance, withdraw_instance
from runner.models import AuditEntry, HumanTask, ProcessDefinition, ProcessInstance, Timer, User
from runner.services import complete_task, fire_due_timers, start_process
from tests.conftest import T0, snapshot

REGISTER = {
    "receiver_unit": "health", "transfer_reason": "not_jurisdiction",
    "basic_facts": "某诊所无证开展诊疗活动，涉嫌非法行医。", "evidence": [{"name": "现场检查笔录"}],
    "supervision_penalty_separated": False, "criminal_suspect": False, "urgent_onsite": False,
}

LETTER = {"letter_number": "源市监移〔2026〕3号", "letter_date": "2026-03-02",
          "materials": [{"name": "涉嫌违法案件移送函", "pages": 1}], "delivery": "platform"}


def _open(rt, iid, element):
    with rt.session() as s:
        return s.scalars(select(HumanTask).where(HumanTask.instance_id == iid, HumanTask.element_id == element,
                                                 HumanTask.status == "open")).one()


def _notices(rt):
    with rt.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == "admin_notice")))


def _without_notices(snap):
    return {t: [r for r in rows if "'admin_notice'" not in r] for t, rows in snap.items()}


def test_task_for_unit_without_active_account_is_refused_and_admin_told(rt):
    iid = start_process(rt, "market_regulation.officer", "case_transfer", {"title": "某诊所涉嫌非法行医案"}, T0)
    complete_task(rt, "market_regulation.officer", _open(rt, iid, "register_case").id, REGISTER, T0)
    send = _open(rt, iid, "send_letter")
    with rt.session() as s, s.begin():
        s.execute(update(User).where(User.unit_code == "health", User.role == "officer").values(active=False))
    before = snapshot(rt)
    with pytest.raises(Invalid) as err:
        complete_task(rt, "market_regulation.officer", send.id, LETTER, T0)
    assert "县卫生健康局没有在岗的执法人员账号" in err.value.message
    assert "已通知系统管理员" in err.value.message
    assert "health" not in err.value.message
    assert _without_notices(snapshot(rt)) == _without_notices(before)
    notices = _notices(rt)
    assert len(notices) == 1
    assert (notices[0].instance_id, notices[0].task_id) == (iid, send.id)
    assert "签收移送函" in notices[0].detail  # the receiving unit's next step: it signs for the letter


def test_task_for_unit_with_an_active_account_is_handed_over(rt):
    iid = start_process(rt, "market_regulation.officer", "case_transfer", {"title": "某诊所涉嫌非法行医案"}, T0)
    with rt.session() as s, s.begin():
        s.execute(update(User).where(User.username == "health.head").values(active=False))
    complete_task(rt, "market_regulation.officer", _open(rt, iid, "register_case").id, REGISTER, T0)
    complete_task(rt, "market_regulation.officer", _open(rt, iid, "send_letter").id, LETTER, T0)
    assert _open(rt, iid, "receive_letter").unit_code == "health"
    complete_task(rt, "health.officer", _open(rt, iid, "receive_letter").id, {"receipt_confirmed": True}, T0)
    assert _open(rt, iid, "review_transfer").unit_code == "health"
    assert _notices(rt) == []


def _registered(rt):
    iid = start_process(rt, "market_regulation.officer", "case_transfer", {"title": "某诊所涉嫌非法行医案"}, T0)
    complete_task(rt, "market_regulation.officer", _open(rt, iid, "register_case").id, REGISTER, T0)
    return iid


def _rows(rt, iid):
    with rt.session() as s:
        inst = s.get(ProcessInstance, iid)
        tasks = {r.element_id: r.status for r in s.scalars(select(HumanTask).where(HumanTask.instance_id == iid))}
        timers = [t.status for t in s.scalars(select(Timer).where(Timer.instance_id == iid))]
        audit = [(a.action, a.detail) for a in s.scalars(select(AuditEntry).where(AuditEntry.instance_id == iid))]
        return inst.status, tasks, timers, audit


def test_initiator_withdraws_a_matter_nobody_else_has_acted_on(rt):
    iid = _registered(rt)
    withdraw_instance(rt, "market_regulation.officer", iid, "当事人已自行整改，经核实不属移送情形", T0)
    status, tasks, timers, audit = _rows(rt, iid)
    assert status == "withdrawn"
    assert tasks["send_letter"] == "cancelled" and tasks["acknowledge_notice"] == "cancelled"
    assert timers and set(timers) == {"done"}
    assert ("withdraw", "撤回：当事人已自行整改，经核实不属移送情形") in audit
    assert fire_due_timers(rt, T0 + timedelta(days=30)) == 0
    assert _rows(rt, iid)[1]["send_letter"] == "cancelled"


@pytest.mark.parametrize("who, reason, error, message", [
    ("health.officer", "理由", Forbidden, "不能撤回"),
    ("market_regulation.officer", "   ", Invalid, "请写明撤回理由"),
])
def test_withdrawal_refused_changes_nothing(rt, who, reason, error, message):
    iid = _registered(rt)
    before = snapshot(rt)
    with pytest.raises(error) as err:
        withdraw_instance(rt, who, iid, reason, T0)
    assert message in err.value.message
    assert snapshot(rt) == before


def test_no_withdrawal_once_the_receiver_has_acted(rt):
    iid = _registered(rt)
    complete_task(rt, "market_regulation.officer", _open(rt, iid, "send_letter").id, LETTER, T0)
    complete_task(rt, "health.officer", _open(rt, iid, "receive_letter").id, {"receipt_confirmed": True}, T0)
    complete_task(rt, "health.officer", _open(rt, iid, "review_transfer").id,
                  {"review_decision": "return_incomplete", "return_reasons": "缺少现场照片",
                   "missing_materials": ["现场照片"]}, T0)
    before = snapshot(rt)
    with pytest.raises(Invalid) as err:
        withdraw_instance(rt, "market_regulation.officer", iid, "不再移送", T0)
    assert "其他单位已办理「签收移送函」" in err.value.message  # its first act: the receipt
    assert snapshot(rt) == before


def test_supervision_closes_a_stuck_matter(rt):
    iid = _registered(rt)
    with pytest.raises(Forbidden):
        close_instance(rt, "health.officer", iid, "久拖不决", T0)
    close_instance(rt, "supervision.officer", iid, "移送单位已撤销该案，督查结案", T0 + timedelta(days=40))
    status, tasks, _timers, audit = _rows(rt, iid)
    assert status == "closed"
    assert "open" not in tasks.values()
    assert ("close", "督查结案：移送单位已撤销该案，督查结案") in audit
    with pytest.raises(Conflict):
        close_instance(rt, "supervision.officer", iid, "再次结案", T0 + timedelta(days=41))


def test_deadline_into_an_unloaded_year_names_the_year(rt):
    """A successor policy's transfer registered on 2026-12-29: the letter deadline falls in 2027."""
    with rt.session() as s, s.begin():
        s.execute(update(ProcessDefinition).where(ProcessDefinition.process_key == "case_transfer")
                  .values(effective_to="2031-12-31"))
    when = datetime(2026, 12, 29, 9, tzinfo=TZ)
    iid = start_process(rt, "market_regulation.officer", "case_transfer", {"title": "某诊所涉嫌非法行医案"}, when)
    register = _open(rt, iid, "register_case")
    before = snapshot(rt)
    with pytest.raises(Invalid) as err:
        complete_task(rt, "market_regulation.officer", register.id, REGISTER, when)
    assert "2027 年的国务院节假日安排尚未载入" in err.value.message
    assert "Error evaluating" not in err.value.message and "working_days_after" not in err.value.message
    assert snapshot(rt) == before
