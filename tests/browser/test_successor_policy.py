"""The successor policy in a real browser: after V1's window ended no matter can be started; legal staff
create a successor with a new window and basis and activate it through the pages; officers can start again."""

from datetime import datetime

from playwright.sync_api import expect

from runner.calendar import TZ
from runner.config import ROOT
from tests.webui.conftest import SENDER

NEW_DAY = datetime(2026, 12, 2, 9, 0, tzinfo=TZ)  # after 2026-11-19, the end of V1
SCREENSHOTS = ROOT / "docs" / "screenshots"


def nav(page, name: str):
    return page.get_by_role("navigation", name="主导航").get_by_role("link", name=name, exact=True)


def test_successor_policy_lets_matters_start_again(rt, live_server, signed_in, clock, console_errors):
    clock.set(NEW_DAY)
    officer = signed_in(SENDER)
    legal = signed_in("justice.legal")

    # 1. starting a matter is refused, and the refusal names the role and the page that fix it
    nav(officer, "发起").click()
    card = officer.locator(".procedure").filter(has_text="案件移送").first
    expect(card).to_contain_text("已失效")
    expect(card).to_contain_text("法制审核人员")
    expect(card.get_by_role("link", name="前往流程版本库")).to_have_attribute("href", "/legal/")
    expect(officer.get_by_role("link", name="发起「案件移送」")).to_have_count(0)
    expect(nav(officer, "流程版本库")).to_have_count(0)  # officers have no nav link (they may still read)

    # 2. legal staff create the successor from the library and activate it
    nav(legal, "流程版本库").click()
    section = legal.locator("section[data-key='case_transfer']")
    expect(section).to_contain_text("今日无现行版本，不能发起新事项")
    legal.screenshot(path=str(SCREENSHOTS / "legal-library.png"), full_page=True)
    section.get_by_role("link", name="由现行版本建立新版本").first.click()
    legal.get_by_label("施行起始日").fill("2026-11-20")
    legal.get_by_label("施行截止日").fill("2031-11-19")
    legal.get_by_label("依据的政策文件文号").fill("源政办发〔2026〕8号")
    legal.get_by_label("依据的政策文件标题").fill("关于完善行政执法联动机制的意见")
    legal.get_by_role("button", name="建立草稿").click()
    expect(legal.get_by_text("已建立第 2 版草稿")).to_be_visible()
    expect(legal.locator("#canvas[data-ready='1']")).to_be_visible()  # the draft in the viewer
    expect(legal.locator(".procedure-text")).to_contain_text("自通报日期起 3 个工作日内")
    legal.screenshot(path=str(SCREENSHOTS / "legal-read.png"), full_page=True)
    legal.get_by_role("link", name="检验并启用").first.click()
    legal.get_by_role("button", name="运行检验并启用").click()  # no reason: refused beside the field
    expect(legal.locator("#reason-error")).to_contain_text("须写明启用理由")
    legal.get_by_label("启用理由").fill("源政办发〔2026〕8号自2026年11月20日起施行")
    legal.set_default_timeout(240_000)  # the gate runs every scenario of the draft
    legal.get_by_role("button", name="运行检验并启用").click()
    expect(legal.locator(".activation-done")).to_be_visible()
    expect(legal.locator(".gate-run.failed")).to_have_count(0)
    scenarios = list((ROOT / "tests" / "scenarios").glob("case_transfer__*.yaml"))
    expect(legal.locator(".gate-run.passed")).to_have_count(len(scenarios))
    legal.screenshot(path=str(SCREENSHOTS / "legal-activation.png"), full_page=True)
    legal.set_default_timeout(15_000)
    nav(legal, "流程版本库").click()
    expect(legal.locator("section[data-key='case_transfer']")).to_contain_text("现行第 2 版")

    # 3. the officer can start a matter again, on the new version
    officer.reload()
    officer.get_by_role("link", name="发起「案件移送」").click()
    officer.get_by_label("案件名称").fill("某诊所涉嫌非法行医案")
    officer.get_by_role("button", name="发起").click()
    expect(officer.get_by_role("heading", name="登记移送案件", level=1)).to_be_visible()
    assert console_errors == []


def test_every_reference_diagram_uploads_and_shows_in_the_viewer(rt, live_server, signed_in, clock, console_errors):
    """Each of the 21 public reference diagrams is drawn by bpmn-js beside its Chinese report; nothing stored."""
    clock.set(NEW_DAY)
    legal = signed_in("justice.legal")
    shown = []
    for path in sorted((ROOT / "tests" / "fixtures" / "bpmn-reference").glob("*.bpmn")):
        legal.goto(live_server + "/legal/import")
        legal.get_by_label("流程图文件").set_input_files(str(path))
        legal.get_by_role("button", name="上传").click()
        expect(legal.locator(".import-report")).to_contain_text("无法在此运行的原因")
        expect(legal.locator("#canvas[data-ready='1']")).to_be_visible()
        if path.stem == "C.4.0":
            legal.screenshot(path=str(SCREENSHOTS / "legal-import-report.png"), full_page=True)
        shown.append(path.stem)
    assert len(shown) == 21
    assert console_errors == []
