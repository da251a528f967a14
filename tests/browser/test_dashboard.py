"""In a real browser: the dashboard's charts are drawn (Chart.js from our own bundle, CSP intact), and a
number drills down through the case list to a case's page. Saves docs/screenshots/dashboard.png and
docs/screenshots/quarter_report.png."""

import re
from datetime import datetime

from playwright.sync_api import expect

from runner.calendar import TZ
from runner.config import ROOT
from runner.demo import seed_demo_cases
from tests.runner.test_dashboard import second_quarter, seed

TODAY = datetime(2026, 11, 27, 10, tzinfo=TZ)
SCREENSHOTS = ROOT / "docs" / "screenshots"

# Whether a canvas has any pixel painted (a chart drawn, not an empty box).
PAINTED = """canvas => {
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
  return painted;
}"""


def test_charts_are_drawn_and_a_number_drills_down_to_a_case(rt, live_server, signed_in, clock, console_errors):
    second_quarter(rt, seed(rt))        # first and second quarter cases, then the demo's fourth quarter
    seed_demo_cases(rt, TODAY)
    clock.set(TODAY)

    page = signed_in("supervision.officer", viewport=(1366, 1000))
    page.get_by_role("link", name="统计看板").click()
    expect(page.locator("body[data-charts='3']")).to_be_attached()
    for chart in ("#chart-units", "#chart-rates", "#chart-trend"):
        assert page.locator(chart).evaluate(PAINTED) > 1000, chart
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)

    # a past quarter, drilled down: the market regulator's overdue matters at the end of the first quarter
    page.get_by_label("季度", exact=True).select_option("2026Q1")
    page.get_by_role("button", name="查看").click()
    expect(page.locator("body[data-charts='3']")).to_be_attached()
    cell = page.locator("#unit-figures tr[data-unit='market_regulation'] td[data-measure='overdue'] a")
    expect(cell).to_have_text("1")
    cell.click()
    expect(page).to_have_url(re.compile(r"/instances\?.*show=overdue"))
    expect(page.locator("#drill-note")).to_contain_text("共 1 件")
    page.get_by_role("link", name="丙案").click()
    expect(page).to_have_url(re.compile(r"/instances/\d+$"))
    expect(page.locator("h1")).to_contain_text("丙案")

    page.goto(live_server + "/dashboard/report?quarter=2026Q4")
    page.emulate_media(media="print")
    page.screenshot(path=str(SCREENSHOTS / "quarter_report.png"), full_page=True)
    assert console_errors == []
