"""In a real browser: a transfer letter sent late shows on the case diagram as completed late (red border and a
逾期 badge, with a legend entry), and the 督办 names the late unit, task, deadline and working days late."""

import re
from datetime import datetime

from playwright.sync_api import expect

from runner.calendar import TZ
from runner.services import complete_task, fire_due_timers
from tests.conftest import T0
from tests.webui.conftest import LETTER, SENDER, open_task, start_transfer

TITLE = "某药店销售假药案"


def test_letter_sent_late_is_marked_on_the_diagram(rt, live_server, signed_in, clock, artifacts, console_errors):
    iid = start_transfer(rt, T0, TITLE, upto="letter")
    clock.set(datetime(2026, 3, 6, 9, tzinfo=TZ))
    fire_due_timers(rt, clock.now)  # the 督办 opens the day after the 3rd working day
    clock.set(datetime(2026, 3, 10, 11, tzinfo=TZ))
    complete_task(rt, SENDER, open_task(rt, iid, "send_letter").id, LETTER, clock.now)

    page = signed_in("supervision.officer")
    row = page.locator("tr", has_text="督办移送函逾期")
    expect(row).to_contain_text(
        "督办：县市场监管局 未按期办理「发出移送函并移送材料」，期限 2026-03-05 24:00，已逾期 3 个工作日")
    expect(row).not_to_contain_text("无期限")
    page.goto(f"{live_server}/instances/{iid}")
    expect(page.locator("#canvas[data-ready='1']")).to_be_visible()
    letter = page.locator(".djs-element[data-element-id='send_letter']")
    expect(letter).to_have_class(re.compile(r"\bstate-late\b"))
    expect(page.locator(".djs-element[data-element-id='register_case']")).to_have_class(
        re.compile(r"\bstate-completed\b"))
    badge = page.locator(".djs-overlays[data-container-id='send_letter'] .late-badge")
    expect(badge).to_have_text("逾期")
    expect(page.locator(".legend")).to_contain_text("逾期办结")
    name_cell = page.locator("td[data-label='任务']", has_text=re.compile("^发出移送函并移送材料"))
    done = page.locator("tr").filter(has=name_cell)
    expect(done).to_contain_text("逾期 3 个工作日办结")
    page.get_by_text("环节列表").click()
    chip = page.locator("#element-list").get_by_role("button", name="发出移送函并移送材料")
    expect(chip).to_have_class(re.compile(r"\bchip-late\b"))
    chip.click()
    expect(page.locator("#element-info")).to_contain_text("逾期 3 个工作日办结")
    page.get_by_role("button", name="适应").click()  # the whole diagram, the late step among the others
    page.screenshot(path=str(artifacts / "lateness.png"), full_page=True)
    assert console_errors == []
