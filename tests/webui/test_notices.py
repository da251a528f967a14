"""Reminders and notices in the inbox and the API; the overdue 督办 counted at read time; the parked timers
page for administrators."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from runner.calendar import TZ
from runner.models import AuditEntry, Notice, Timer
from runner.services import complete_task, fire_due_timers
from tests.conftest import snapshot
from tests.webui.conftest import LETTER, RECEIVER, SENDER, open_task, start_transfer
from tests.webui.test_api import Api

MON = datetime(2026, 3, 2, 9, tzinfo=TZ)  # send_letter due Thursday 3-5 24:00


def _accepted(rt) -> int:
    iid = start_transfer(rt, MON, upto="review")
    complete_task(rt, RECEIVER, open_task(rt, iid, "review_transfer").id,
                  {"review_decision": "accept", "acceptance_number": "源卫健立〔2026〕1号"}, MON)
    return iid


def _notices(rt, unit):
    with rt.session() as s:
        return list(s.scalars(select(Notice).where(Notice.unit_code == unit).order_by(Notice.id)))


def test_the_unit_sees_a_reminder_one_working_day_before_the_deadline(rt, browser, clock):
    start_transfer(rt, MON, upto="letter")
    sender = browser(SENDER)
    clock.set(MON)
    page = sender.get("/").get_data(as_text=True)
    assert "期限提醒" not in page and "即将到期" not in page
    clock.set(datetime(2026, 3, 4, 9, tzinfo=TZ))  # Wednesday: the deadline is the next working day
    page = sender.get("/").get_data(as_text=True)
    assert "期限提醒" in page and "即将到期" in page and "发出移送函并移送材料" in page
    # the receiver's inbox has no reminder: it is not the responsible unit
    assert "期限提醒" not in browser(RECEIVER).get("/").get_data(as_text=True)
    clock.set(datetime(2026, 3, 6, 9, tzinfo=TZ))  # past the deadline: overdue, no longer a reminder
    page = sender.get("/").get_data(as_text=True)
    assert "期限提醒" not in page


def test_the_initiator_is_told_of_acceptance_and_marks_it_read(rt, browser, clock):
    iid = _accepted(rt)
    (notice,) = _notices(rt, "market_regulation")
    assert notice.text == "接收单位县卫生健康局已受理移送的案件「某诊所涉嫌非法行医案」" and notice.read_at is None
    assert _notices(rt, "health") == []
    sender = browser(SENDER)
    page = sender.get("/").get_data(as_text=True)
    assert notice.text in page and "1 条未读" in page
    assert "已受理" in sender.get("/notices").get_data(as_text=True)
    # another unit cannot mark it: not found, nothing changed
    before = snapshot(rt)
    assert browser(RECEIVER).post(f"/notices/{notice.id}/read").status_code == 404
    assert snapshot(rt) == before
    # without the CSRF token: refused, nothing changed
    assert sender.client.post(f"/notices/{notice.id}/read").status_code == 400
    assert snapshot(rt) == before
    assert sender.post(f"/notices/{notice.id}/read", {"next": "/"}).status_code == 302
    (notice,) = _notices(rt, "market_regulation")
    assert notice.read_at is not None and notice.read_by == SENDER
    with rt.session() as s:
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.instance_id == iid)))
    assert actions.count("notice") == 1 and actions.count("notice_read") == 1
    assert "1 条未读" not in sender.get("/").get_data(as_text=True)


def test_notices_are_in_the_api(rt, app):
    _accepted(rt)
    api = Api(app, SENDER)
    got = api.get("/api/notices").get_json()
    assert got["unread"] == 1 and [n["text"] for n in got["notices"]] == [
        "接收单位县卫生健康局已受理移送的案件「某诊所涉嫌非法行医案」"]
    notice_id = got["notices"][0]["id"]
    assert Api(app, RECEIVER).post(f"/api/notices/{notice_id}/read").status_code == 404
    assert api.client.post(f"/api/notices/{notice_id}/read", json={}).status_code == 400  # no CSRF header
    resp = api.post(f"/api/notices/{notice_id}/read")
    assert resp.status_code == 200 and resp.get_json()["read_by"] == SENDER
    assert api.get("/api/notices?unread=1").get_json() == {"notices": [], "unread": 0}


def test_the_overdue_supervision_counts_working_days_late_when_read(rt, browser, clock):
    iid = start_transfer(rt, MON, upto="letter")
    fire_due_timers(rt, datetime(2026, 3, 6, 9, tzinfo=TZ))
    supervision = browser("supervision.officer")
    clock.set(datetime(2026, 3, 6, 9, tzinfo=TZ))
    page = supervision.get("/").get_data(as_text=True)
    assert "督办：县市场监管局 未按期办理「发出移送函并移送材料」，期限 2026-03-05 24:00，已逾期 1 个工作日" in page
    assert "建议移送追责" not in page
    clock.set(datetime(2026, 3, 9, 9, tzinfo=TZ))  # the weekend does not count
    assert "已逾期 2 个工作日" in supervision.get("/").get_data(as_text=True)
    clock.set(datetime(2026, 3, 12, 9, tzinfo=TZ))
    page = supervision.get("/").get_data(as_text=True)
    assert "已逾期 5 个工作日" in page
    assert "建议移送纪检监察机关追责：逾期已达 5 个工作日（本流程规定 5 个工作日）" in page
    task = open_task(rt, iid, "supervise_letter")
    assert "建议移送纪检监察机关追责" in supervision.get(f"/tasks/{task.id}").get_data(as_text=True)
    # the late unit was told of the 督办 raised against it
    assert [n.kind for n in _notices(rt, "market_regulation")] == ["supervision"]
    # once the late task is done the 督办 keeps counting until the 督办 itself is completed
    complete_task(rt, SENDER, open_task(rt, iid, "send_letter").id, LETTER, datetime(2026, 3, 12, 10, tzinfo=TZ))
    clock.set(datetime(2026, 3, 13, 9, tzinfo=TZ))
    assert "已逾期 6 个工作日" in supervision.get("/").get_data(as_text=True)


def test_administrators_see_parked_timers_and_put_them_back(rt, browser, clock):
    iid = start_transfer(rt, MON, upto="letter")
    with rt.session() as s, s.begin():
        timer = s.scalars(select(Timer).where(Timer.instance_id == iid, Timer.element_id == "letter_overdue")).one()
        timer.parked, timer.attempts = True, 5
        timer.last_error = "流程图中的期限或办理单位设置未能计算，请联系系统管理员"
        timer_id = timer.id
    assert browser(SENDER).get("/admin/timers").status_code == 403
    admin = browser("admin")
    page = admin.get("/admin/timers").get_data(as_text=True)
    assert "移送函期限届满" in page and "已暂停" in page and "未能计算" in page and "重新排队" in page
    assert "letter_overdue" not in page and timer_id not in page.replace(f"/admin/timers/{timer_id}/retry", "")
    assert admin.post(f"/admin/timers/{timer_id}/retry").status_code == 302
    with rt.session() as s:
        timer = s.get(Timer, timer_id)
        assert (timer.parked, timer.attempts) == (False, 0)
    assert "没有处理失败的定时器" in admin.get("/admin/timers").get_data(as_text=True)
    assert fire_due_timers(rt, MON + timedelta(days=5)) == 1
