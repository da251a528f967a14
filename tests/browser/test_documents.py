"""In a real browser: the officer issues the transfer letter from the case, opens it, prints it to PDF, and a
picture of the PDF's first page is kept (docs/screenshots/transfer-letter.png), rasterised from the PDF itself
with pypdfium2 (PDFium's Python binding, from PyPI)."""

import io

from playwright.sync_api import expect

from runner.config import ROOT
from runner.services import complete_task
from tests.conftest import T0
from tests.webui.conftest import LETTER, RECEIVER, SENDER, open_task, start_transfer

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
    (artifacts / "transfer-letter-chromium.png").write_bytes(first_page_png(pdf))
    assert_a4_letter_page(first_page_png(pdf))
    # the server's PDF (WeasyPrint, from the stored HTML): its first page, rasterised from the PDF itself
    response = sender.request.get(letter.url.replace("/print", "/pdf"))
    assert response.ok and response.body().startswith(b"%PDF")
    server_pdf = response.body()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "transfer-letter.pdf").write_bytes(server_pdf)  # for the closing note: the PDF itself
    (artifacts / "transfer-letter-server.pdf").write_bytes(server_pdf)
    picture = first_page_png(server_pdf)
    (SCREENSHOTS / "transfer-letter.png").write_bytes(picture)
    (artifacts / "transfer-letter.png").write_bytes(picture)
    assert_a4_letter_page(picture)

    # the letter goes out with 发出移送函并移送材料; then the receiving unit signs for it
    complete_task(rt, SENDER, open_task(rt, iid, "send_letter").id,
                  {**LETTER, "letter_number": "县市场监管局移〔2026〕第1号"}, clock.now)
    receiver = signed_in(RECEIVER)
    clock.advance(days=1)
    receiver.goto(letter.url.replace("/print", ""))
    receiver.get_by_role("button", name="签收").click()
    expect(receiver.get_by_text("已签收，收到日期 2026-03-03")).to_be_visible()
    receiver.goto(f"{live_server}/instances/{iid}")
    expect(receiver.get_by_text("县卫生健康局 于 2026-03-03 签收")).to_be_visible()
    assert console_errors == []


def first_page_png(pdf: bytes, scale: float = 2.0) -> bytes:
    """The PDF's first page as a PNG (pypdfium2 renders it; 2 × 72 dpi = 144 dpi)."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    try:
        image = document[0].render(scale=scale).to_pil()
    finally:
        document.close()
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def assert_a4_letter_page(png: bytes) -> None:
    """Not blank: an A4 page (portrait, 1:√2), mostly white paper, with dark text and the red head."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    width, height = image.size
    assert abs(height / width - 297 / 210) < 0.01, image.size
    small = image.resize((width // 4, height // 4))
    data = small.tobytes()
    pixels = list(zip(data[0::3], data[1::3], data[2::3], strict=True))
    ink = sum(1 for r, g, b in pixels if r + g + b < 300) / len(pixels)
    red = sum(1 for r, g, b in pixels if r > 150 and g < 90 and b < 90) / len(pixels)
    white = sum(1 for r, g, b in pixels if min(r, g, b) > 235) / len(pixels)
    assert 0.002 < ink < 0.3, ink  # text is there, and the page is not a black box
    assert red > 0.0005, red  # the red head (unit name and rule)
    assert white > 0.6, white


def test_a_unit_publishes_its_catalogue(rt, live_server, signed_in, console_errors):
    page = signed_in("health.officer")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="信息资源目录").click()
    page.get_by_label("数据集名称").fill("医疗机构执业登记信息")
    page.get_by_label("说明").fill("全县医疗机构执业许可证登记事项，每日更新")
    page.get_by_label("数据项（每行一项）").fill("机构名称\n统一社会信用代码\n诊疗科目\n有效期")
    page.get_by_label("即时查询").check()
    page.get_by_role("button", name="保存").click()
    page.get_by_label("数据集名称").fill("医疗卫生行政处罚案卷")
    page.get_by_label("数据项（每行一项）").fill("案件编号\n当事人\n处罚决定书\n执行情况")
    page.get_by_label("限制提供的法律依据（无限制的不填）").fill("涉及个人信息的，依照《中华人民共和国个人信息保护法》第十三条仅在履行法定职责所必需的范围内提供")
    page.get_by_label("提供文书复印件").check()
    page.get_by_role("button", name="保存").click()
    row = page.get_by_role("row").filter(has_text="医疗机构执业登记信息")
    row.get_by_label("授权单位").select_option(label="县市场监管局")
    row.get_by_role("button", name="授予常设授权").click()
    expect(page.get_by_role("row").filter(has_text="医疗机构执业登记信息")).to_contain_text("县市场监管局")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "catalogue-health.png"), full_page=True)
    assert console_errors == []
