"""The worker writes each reminder and each referral proposal to the audit log once, when it first arises, and
tells the supervision office of a proposal."""

from datetime import datetime

from sqlalchemy import select

from runner.calendar import TZ
from runner.models import AuditEntry, HumanTask, Notice
from runner.notices import record_deadline_events
from runner.services import complete_task, fire_due_timers, start_process
from tests.runner.conftest import SENDER

MON = datetime(2026, 3, 2, 9, tzinfo=TZ)
REGISTER = {"receiver_unit": "health", "transfer_reason": "not_jurisdiction", "basic_facts": "某诊所无证行医。",
            "evidence": [{"name": "举报材料"}], "supervision_penalty_separated": False, "criminal_suspect": False,
            "urgent_onsite": False}


def _audit(rt, action):
    with rt.session() as s:
        return list(s.scalars(select(AuditEntry.detail).where(AuditEntry.action == action)))


def test_reminders_and_referral_proposals_are_audited_once(rt):
    iid = start_process(rt, SENDER, "case_transfer", {"title": "某诊所涉嫌非法行医案"}, MON)
    with rt.session() as s:
        task = s.scalars(select(HumanTask).where(HumanTask.instance_id == iid,
                                                 HumanTask.element_id == "register_case")).one()
    complete_task(rt, SENDER, task.id, REGISTER, MON)  # send_letter due Thursday 3-5 24:00
    assert record_deadline_events(rt, MON) == 0
    wednesday = datetime(2026, 3, 4, 9, tzinfo=TZ)
    assert record_deadline_events(rt, wednesday) == 1
    assert record_deadline_events(rt, wednesday) == 0
    assert _audit(rt, "reminder") == [
        "期限提醒：县市场监管局「发出移送函并移送材料」期限 2026-03-05 24:00，还剩 1 个工作日"]
    fire_due_timers(rt, datetime(2026, 3, 6, 9, tzinfo=TZ))
    assert record_deadline_events(rt, datetime(2026, 3, 11, 9, tzinfo=TZ)) == 0  # 4 working days late
    assert record_deadline_events(rt, datetime(2026, 3, 12, 9, tzinfo=TZ)) == 1  # 5: proposed
    assert record_deadline_events(rt, datetime(2026, 3, 13, 9, tzinfo=TZ)) == 0
    (detail,) = _audit(rt, "referral_proposed")
    assert detail.startswith("建议将县市场监管局移送纪检监察机关追责（逾期已达 5 个工作日）")
    with rt.session() as s:
        told = list(s.execute(select(Notice.unit_code, Notice.kind).where(Notice.instance_id == iid)
                              .order_by(Notice.id)))
    assert told == [("market_regulation", "supervision"), ("supervision_office", "referral")]
