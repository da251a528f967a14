"""The policy's roles, enforced at the service layer (issue 7): nobody is handed a task nobody can do."""

import pytest
from sqlalchemy import select, update

from runner.errors import Invalid
from runner.models import AuditEntry, HumanTask, User
from runner.services import complete_task, start_process
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
    assert "审查移送案件" in notices[0].detail


def test_task_for_unit_with_an_active_account_is_handed_over(rt):
    iid = start_process(rt, "market_regulation.officer", "case_transfer", {"title": "某诊所涉嫌非法行医案"}, T0)
    with rt.session() as s, s.begin():
        s.execute(update(User).where(User.username == "health.head").values(active=False))
    complete_task(rt, "market_regulation.officer", _open(rt, iid, "register_case").id, REGISTER, T0)
    complete_task(rt, "market_regulation.officer", _open(rt, iid, "send_letter").id, LETTER, T0)
    assert _open(rt, iid, "review_transfer").unit_code == "health"
    assert _notices(rt) == []
