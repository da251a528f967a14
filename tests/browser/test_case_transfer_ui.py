"""A whole case transfer across two units in a real browser, each officer in a browser context of their own."""

import re
from datetime import datetime, timedelta

from playwright.sync_api import expect

from runner.calendar import TZ
from runner.services import fire_due_timers
from tests.conftest import T0
from tests.webui.conftest import RECEIVER, SENDER, open_task, start_transfer

TITLE = "某诊所涉嫌非法行医案"


def nav(page, name: str):
    return page.get_by_role("navigation", name="主导航").get_by_role("link", name=name, exact=True)


def seed_other_cases(rt) -> str:
    """Two earlier transfers of the sender's unit: one already overdue (with supervision), one waiting."""
    start_transfer(rt, datetime(2026, 2, 24, 9, tzinfo=TZ), "某餐馆超范围经营案", upto="letter")
    fire_due_timers(rt, T0)
    iid = start_transfer(rt, T0 - timedelta(hours=20), "某药店销售过期药品案", upto="letter")
    return open_task(rt, iid, "send_letter").id


def test_case_transfer_across_two_units(rt, live_server, signed_in, clock, artifacts, console_errors):
    foreign_task = seed_other_cases(rt)
    sender = signed_in(SENDER)
    receiver = signed_in(RECEIVER)

    # 1. the sender starts a case transfer and registers it (after one refused attempt)
    nav(sender, "发起").click()
    sender.get_by_role("link", name="发起「案件移送」").click()
    sender.get_by_label("案件名称").fill(TITLE)
    sender.get_by_role("button", name="发起").click()
    expect(sender.get_by_role("heading", name="登记移送案件", level=1)).to_be_visible()
    sender.screenshot(path=str(artifacts / "task-form.png"), full_page=True)
    sender.get_by_label("接收单位").select_option("health")
    sender.get_by_role("button", name="提交办理").click()
    expect(sender.locator("#f-basic_facts-error")).to_have_text("必填")  # the error beside its field
    expect(sender.locator("#f-receiver_unit")).to_have_value("health")  # and the input kept
    expect(sender.get_by_role("alert").first).to_contain_text("表单有误")
    sender.screenshot(path=str(artifacts / "task-form-errors.png"), full_page=True)
    sender.get_by_label("不属于本部门管辖").check()
    sender.get_by_label("基本案情").fill("某诊所未取得医疗机构执业许可证，擅自开展诊疗活动，群众举报。")
    sender.get_by_label("证据名称").fill("举报材料")
    for question in ("supervision_penalty_separated", "criminal_suspect", "urgent_onsite"):
        sender.locator(f"#f-{question}").get_by_label("否").check()
    expect(sender.get_by_label("基本违法事实书面材料")).to_be_hidden()  # asked only when powers are separated
    sender.get_by_role("button", name="提交办理").click()
    expect(sender.get_by_text("已办理「登记移送案件」")).to_be_visible()

    # 2. the receiving officer sees the notified case, opens it, and the active task is highlighted
    receiver.reload()
    notified = receiver.get_by_role("region", name="其他单位通报本单位的在办案件")
    notified.get_by_role("link", name=TITLE).click()
    canvas = receiver.locator("#canvas[data-ready='1']")
    expect(canvas).to_be_visible()
    send_letter = receiver.locator(".djs-element[data-element-id='send_letter']")
    expect(send_letter).to_have_class(re.compile(r"\bstate-active\b"))
    expect(receiver.locator(".djs-element[data-element-id='register_case']")).to_have_class(
        re.compile(r"\bstate-completed\b"))
    send_letter.click()
    info = receiver.locator("#element-info")
    expect(info).to_contain_text("发出移送函并移送材料")
    expect(info).to_contain_text("在通报之日起3个工作日内发出移送函")  # clause P5, original text
    receiver.screenshot(path=str(artifacts / "instance.png"), full_page=True)

    # 3. next day the sender sends the letter from the inbox
    clock.advance(days=1)
    nav(sender, "待办").click()
    sender.screenshot(path=str(artifacts / "inbox.png"), full_page=True)
    row = sender.get_by_role("row").filter(has_text=TITLE)
    expect(row).to_contain_text("剩 2 个工作日")
    row.get_by_role("link", name="办理", exact=True).click()
    # the letter's number and date are the system's: issue it from the task, then come back to send it
    sender.get_by_role("link", name="出具涉嫌违法案件移送函").click()
    sender.locator("#issue-transfer_letter").locator("..").get_by_role("button", name="出具").click()
    expect(sender.get_by_text("已出具：县市场监管局移〔2026〕第1号")).to_be_visible()
    sender.get_by_label("材料名称").fill("涉嫌违法案件移送函")
    sender.get_by_label("页数").fill("2")
    sender.get_by_label("平台送达").check()
    sender.get_by_role("button", name="提交办理").click()
    expect(sender.get_by_text("已办理「发出移送函并移送材料」")).to_be_visible()

    # ... the receiver signs for it (its review deadline runs from today) ...
    nav(receiver, "待办").click()
    receipt = receiver.get_by_role("row").filter(has_text=TITLE)
    expect(receipt).to_contain_text("签收移送函")
    receipt.get_by_role("link", name="办理", exact=True).click()
    receiver.get_by_role("group", name="本单位已收到移送函及随函材料").get_by_label("是", exact=True).check()
    receiver.get_by_role("button", name="提交办理").click()
    expect(receiver.get_by_text("已办理「签收移送函」")).to_be_visible()
    # ... and accepts it
    nav(receiver, "待办").click()
    review = receiver.get_by_role("row").filter(has_text=TITLE)
    expect(review).to_contain_text("审查移送案件")
    receiver.screenshot(path=str(artifacts / "inbox-receiver.png"), full_page=True)
    review.get_by_role("link", name="办理", exact=True).click()
    receiver.get_by_label("受理", exact=True).check()
    receiver.get_by_role("button", name="提交办理").click()
    expect(receiver.get_by_role("heading", level=1)).to_contain_text("已办结")
    expect(receiver.locator("#canvas[data-ready='1']")).to_be_visible()
    expect(receiver.locator(".djs-element[data-element-id='end_accepted']")).to_have_class(
        re.compile(r"\bstate-completed\b"))

    # a task of another unit is refused (403), by URL as by any other way
    response = receiver.goto(f"{live_server}/tasks/{foreign_task}")
    assert response.status == 403
    expect(receiver.get_by_role("alert")).to_contain_text("无权办理")
    assert console_errors == []  # no script errors, nothing blocked by the content security policy


def test_pages_fit_a_phone(rt, live_server, signed_in, artifacts):
    seed_other_cases(rt)
    phone = signed_in(SENDER, viewport=(390, 844))
    expect(phone.get_by_role("heading", name="待办任务")).to_be_visible()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"horizontal scrolling on a phone ({width}px)"
    phone.screenshot(path=str(artifacts / "inbox-phone.png"), full_page=True)
    phone.get_by_role("link", name="办理", exact=True).first.click()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.screenshot(path=str(artifacts / "task-form-phone.png"), full_page=True)


def test_keyboard_reaches_the_form_and_submits(rt, live_server, signed_in):
    phone = signed_in(SENDER)
    phone.goto(f"{live_server}/start/case_transfer")
    phone.keyboard.press("Tab")  # skip link first
    expect(phone.get_by_role("link", name="跳到正文")).to_be_focused()
    phone.get_by_label("案件名称").focus()
    phone.keyboard.type("键盘发起的案")
    phone.keyboard.press("Enter")
    expect(phone.get_by_role("heading", name="登记移送案件", level=1)).to_be_visible()
