"""In a real browser: the officer issues the transfer letter from the case, opens it, prints it to PDF, and a
picture of its first page is kept (docs/screenshots/transfer-letter.png)."""

from playwright.sync_api import expect

from runner.config import ROOT
from tests.conftest import T0
from tests.webui.conftest import RECEIVER, SENDER, start_transfer

SCREENSHOTS = ROOT / "docs" / "screenshots"


def test_issue_open_print_a_transfer_letter(rt, live_server, signed_in, clock, artifacts, console_errors):
    iid = start_transfer(rt, T0, "某诊所涉嫌非法行医案", upto="letter")
    sender = signed_in(SENDER)
    sender.goto(f"{live_server}/instances/{iid}")
    sender.get_by_role("link", name="文书和证据材料").click()
    form = sender.locator("#issue-transfer_letter").locator("..")
    form.get_by_label("联系人").fill("张三")
    form.get_by_label("联系电话").fill("0533-3221234")
    form.get_by_role("button", name="出具").click()
    expect(sender.get_by_role("heading", name="县市场监管局移〔2026〕第1号")).to_be_visible()
    expect(sender.get_by_text("县卫生健康局", exact=True)).to_be_visible()

    with sender.context.expect_page() as opened:
        sender.get_by_role("link", name="打印版").click()
    letter = opened.value
    letter.wait_for_load_state()
    expect(letter.get_by_role("heading", name="涉嫌违法案件移送函")).to_be_visible()
    expect(letter.get_by_text("县市场监管局移〔2026〕第1号")).to_be_visible()
    expect(letter.get_by_text("县卫生健康局：")).to_be_visible()
    # Chromium's own print to PDF: one A4 page or more, the number on it
    pdf = letter.pdf(format="A4", print_background=True, prefer_css_page_size=True)
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    (artifacts / "transfer-letter.pdf").write_bytes(pdf)
    # the first page as it prints: print media, an A4-sized window (96 dpi)
    letter.emulate_media(media="print")
    letter.set_viewport_size({"width": 794, "height": 1123})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    letter.screenshot(path=str(SCREENSHOTS / "transfer-letter.png"))
    assert (SCREENSHOTS / "transfer-letter.png").stat().st_size > 10_000

    # the server's PDF (WeasyPrint) is served too, and the receiver signs for the letter
    response = sender.request.get(letter.url.replace("/print", "/pdf"))
    assert response.ok and response.body().startswith(b"%PDF")
    receiver = signed_in(RECEIVER)
    clock.advance(days=1)
    receiver.goto(letter.url.replace("/print", ""))
    receiver.get_by_role("button", name="签收").click()
    expect(receiver.get_by_text("已签收，收到日期 2026-03-03")).to_be_visible()
    receiver.goto(f"{live_server}/instances/{iid}")
    expect(receiver.get_by_text("县卫生健康局 于 2026-03-03 签收")).to_be_visible()
    assert console_errors == []
