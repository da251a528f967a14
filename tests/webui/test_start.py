"""The start page: what this user may start, the policy window (V1), and starting a case transfer."""

from datetime import datetime

from sqlalchemy import func, select

from runner.calendar import TZ
from runner.models import ProcessInstance
from tests.conftest import snapshot
from tests.webui.conftest import SENDER, denied, open_task

AFTER_EXPIRY = datetime(2026, 11, 27, 10, tzinfo=TZ)


def instances(rt) -> int:
    with rt.session() as s:
        return s.scalar(select(func.count()).select_from(ProcessInstance))


def test_start_page_lists_what_my_role_may_start_with_its_window(browser):
    html = browser(SENDER).get("/start").get_data(as_text=True)
    assert "案件移送" in html and "2021-11-20 至 2026-11-19" in html and "有效" in html
    assert 'href="/start/case_transfer"' in html
    assert "发起后由本单位执法人员登记移送信息" in html  # the short description
    assert "案件移送" not in browser("supervision.officer").get("/start").get_data(as_text=True)


def test_starting_a_case_transfer_goes_straight_to_registration(rt, browser):
    b = browser(SENDER)
    form = b.get("/start/case_transfer").get_data(as_text=True)
    assert '<label for="f-title">案件名称' in form and "如：某诊所涉嫌非法行医案" in form
    resp = b.post("/start/case_transfer", {"title": "某诊所涉嫌非法行医案"})
    assert resp.status_code == 302
    with rt.session() as s:
        inst = s.scalars(select(ProcessInstance)).one()
    assert resp.headers["Location"] == f"/tasks/{open_task(rt, inst.id, 'register_case').id}"
    assert (inst.title, inst.business_key, inst.initiator) == ("某诊所涉嫌非法行医案", "AJYS-20260302-0001", SENDER)


def test_invalid_start_keeps_input_and_changes_nothing(rt, browser):
    b = browser(SENDER)
    before = snapshot(rt)
    resp = b.post("/start/case_transfer", {"title": "   "})
    assert resp.status_code == 422 and 'id="f-title-error">必填<' in resp.get_data(as_text=True)
    resp = b.post("/start/case_transfer", {"title": "长" * 300})
    assert resp.status_code == 422 and "过长" in resp.get_data(as_text=True)
    assert snapshot(rt) == before


def test_after_the_policy_expired_the_page_says_so_and_starting_is_refused(rt, browser, clock):
    clock.set(AFTER_EXPIRY)
    b = browser(SENDER)
    html = b.get("/start").get_data(as_text=True)
    assert "已失效" in html and "已于 2026-11-19 失效（V1）" in html
    assert 'href="/start/case_transfer"' not in html
    form = b.get("/start/case_transfer").get_data(as_text=True)
    assert "已失效" in form and "disabled" in form
    before = snapshot(rt)
    resp = b.post("/start/case_transfer", {"title": "过期后发起"})
    assert resp.status_code == 422 and "已于 2026-11-19 失效" in resp.get_data(as_text=True)
    assert snapshot(rt) == before and instances(rt) == 0


def test_a_role_that_may_not_start_is_refused_with_403_and_audited(rt, browser):
    b = browser("supervision.officer")
    before, refused = snapshot(rt), denied(rt)
    assert b.get("/start/case_transfer").status_code == 403
    assert b.post("/start/case_transfer", {"title": "越权发起"}).status_code == 403
    assert snapshot(rt) == before and denied(rt) == refused + 2


def test_unknown_procedure_is_404(browser):
    assert browser(SENDER).get("/start/no_such_process").status_code == 404
