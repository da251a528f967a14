"""The dashboard's pages: who may see them, every number's drill-down, refused filters, the XLSX and printable
report, and the report on the quarterly joint meeting's task."""

import re
from io import BytesIO
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from runner.models import HumanTask
from runner.services import fire_due_timers
from runner.standing import ensure_standing_processes
from tests.conftest import snapshot
from tests.runner.test_dashboard import at, second_quarter, seed
from tests.webui.conftest import denied

NUMBER_LINK = re.compile(r'<a class="num" href="([^"]+)">(\d+)</a>')
CASE_LINK = re.compile(r'<td data-label="案件"><a href="/instances/(\d+)"')
TOTAL = re.compile(r"共 (\d+) 件")


@pytest.fixture
def seeded(rt, clock):
    ids = seed(rt)
    clock.set(at("2026-03-12"))
    return ids


@pytest.mark.parametrize(("user", "status", "links"), [
    ("supervision.officer", 200, True),
    ("justice.reviewer", 200, True),
    ("admin", 200, True),
    ("county.head", 200, True),        # the leading group opens the matters behind its figures
    ("county.leader_a", 200, True),
    ("market_regulation.head", 200, True),
    ("market_regulation.officer", 403, False),
    ("govoffice.clerk", 403, False),
])
def test_who_sees_the_dashboard(rt, browser, seeded, user, status, links):
    b = browser(user)
    before, refused = snapshot(rt), denied(rt)
    resp = b.get("/dashboard")
    html = resp.get_data(as_text=True)
    assert resp.status_code == status
    assert snapshot(rt) == before
    assert denied(rt) == refused + (status == 403)
    if status == 403:
        assert "统计看板仅供督查室、司法局、领导小组、县长和各单位负责人查看" in html
        return
    assert bool(NUMBER_LINK.search(html)) is links
    assert 'id="dashboard-data"' in html and "vendor/bundles/dashboard.js" in html
    assert "统计看板" in b.get("/").get_data(as_text=True)  # the nav link


def test_a_unit_head_sees_only_the_own_unit(rt, browser, seeded):
    html = browser("health.head").get("/dashboard").get_data(as_text=True)
    assert 'data-unit="health"' in html and 'data-unit="market_regulation"' not in html
    assert "县卫生健康局" in html
    for href, _n in NUMBER_LINK.findall(html):
        assert parse_qs(urlsplit(unquote(href.replace("&amp;", "&"))).query)["unit"] == ["health"]


def drill_down(b, html):
    """(number shown, rows its link lists, total the list states) for every linked number on HTML."""
    out = []
    for href, n in NUMBER_LINK.findall(html):
        href = href.replace("&amp;", "&")
        page = b.get(href)
        assert page.status_code == 200, href
        text = page.get_data(as_text=True)
        out.append((href, int(n), len(set(CASE_LINK.findall(text))), int(TOTAL.search(text).group(1))))
    return out


@pytest.mark.parametrize(("user", "quarter"), [("supervision.officer", "2026Q1"), ("supervision.officer", "2026Q2"),
                                               ("market_regulation.head", "2026Q1")])
def test_every_number_is_the_count_of_rows_its_link_shows(rt, browser, clock, user, quarter):
    ids = seed(rt)
    second_quarter(rt, ids)
    clock.set(at("2026-04-09"))
    b = browser(user)
    links = drill_down(b, b.get(f"/dashboard?quarter={quarter}").get_data(as_text=True))
    assert len(links) > 20
    assert any(n > 0 for _h, n, _r, _t in links) and any(n == 0 for _h, n, _r, _t in links)
    for href, n, rows, total in links:
        assert (rows, total) == (n, n), href


def test_the_case_list_shows_the_current_step_and_the_unit_it_waits_on(rt, browser, seeded):
    html = browser("supervision.officer").get("/instances?show=overdue&quarter=2026Q1").get_data(as_text=True)
    assert "当前环节" in html and "等待单位" in html
    row = html.split("丙案")[1].split("</tr>")[0]
    assert "发出移送函并移送材料" in row and "督办移送函逾期" in row and "县市场监管局" in row and "县政府督查室" in row
    # 甲案's review is past its deadline (3 working days from the receipt), so it is overdue too
    assert "审查移送案件" in html.split("甲案")[1].split("</tr>")[0] and "统计看板明细" in html


@pytest.mark.parametrize(("query", "field"), [
    ("show=everything", "指标"), ("unit=atlantis", "单位"), ("quarter=2026Q5", "季度"), ("quarter=2027Q1", "季度"),
    ("show=overdue&quarter=soon", "季度"),
])
def test_bad_drill_down_filters_are_refused_naming_the_field(rt, browser, seeded, query, field):
    b = browser("supervision.officer")
    before = snapshot(rt)
    resp = b.get(f"/instances?{query}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert f"「{field}」" in html and 'class="field-error"' in html
    assert "丙案" not in html
    assert snapshot(rt) == before


def test_a_bad_quarter_on_the_dashboard_is_a_400(rt, browser, seeded):
    b = browser("supervision.officer")
    before = snapshot(rt)
    for query in ("quarter=Q9", "quarter=2031Q1"):
        resp = b.get(f"/dashboard?{query}")
        assert resp.status_code == 400 and "季度" in resp.get_data(as_text=True)
    assert snapshot(rt) == before


def test_the_report_exports_as_xlsx_with_the_figures(rt, browser, seeded):
    resp = browser("supervision.officer").get("/dashboard/report.xlsx?quarter=2026Q1")
    assert resp.status_code == 200
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = load_workbook(BytesIO(resp.data))
    assert book.sheetnames == ["概况", "各单位", "各流程", "季度趋势"]
    summary = {row[0]: row[1] for row in book["概况"].iter_rows(values_only=True)}
    assert "2026年第1季度联动执法工作情况" in next(iter(summary))
    figures = (summary["本季发起（件）"], summary["逾期（件）"], summary["督办（件）"], summary["按期办结率"])
    assert figures == (3, 2, 3, "50.0%")  # C's letter and A's review overdue; 督办 for B, C and A
    units = list(book["各单位"].iter_rows(values_only=True))
    assert units[0][:3] == ("单位", "待办（件）", "逾期（件）")
    market = next(r for r in units if r[0] == "县市场监管局")
    assert market[1:11] == (1, 1, 2, 1, 1, "50.0%", 1.2, 2, 1, 1)
    assert [r[0] for r in book["各流程"].iter_rows(values_only=True)] == ["流程", "案件移送"]


def test_the_printable_report(rt, browser, seeded):
    b = browser("supervision.officer")
    html = b.get("/dashboard/report?quarter=2026Q1").get_data(as_text=True)
    assert "2026年第1季度联动执法工作情况" in html and 'class="print-page"' in html
    css = b.get("/static/dashboard.css").get_data(as_text=True)
    assert "dashboard.css" in html and "size: A4" in css and "@media print" in css
    assert browser("market_regulation.officer").get("/dashboard/report?quarter=2026Q1").status_code == 403
    assert browser("govoffice.clerk").get("/dashboard/report?quarter=2026Q1").status_code == 200


def test_the_quarterly_meeting_task_shows_the_quarters_report(rt, browser, clock):
    ensure_standing_processes(rt, at("2026-01-05"))
    seed(rt)
    fire_due_timers(rt, at("2026-04-01", 1))  # the quarter is over: the meeting's task opens
    clock.set(at("2026-04-02"))
    with rt.session() as s:
        task = s.scalars(select(HumanTask).where(HumanTask.element_id == "convene_joint_meeting",
                                                 HumanTask.status == "open")).one()
    html = browser("govoffice.clerk").get(f"/tasks/{task.id}").get_data(as_text=True)
    report = html.split('id="quarter-report"')[1].split("</section>")[0]
    assert "2026年第1季度联动执法工作情况" in report
    market = report.split('data-unit="market_regulation"')[1].split("</tr>")[0]
    assert '<span class="num">1</span>' in market.split('data-measure="overdue"')[1].split("</td>")[0]
    assert "50.0%" in market
    assert "/dashboard/report.xlsx?quarter=2026Q1" in html
    # any other task has no report
    with rt.session() as s:
        other = s.scalars(select(HumanTask).where(HumanTask.element_id == "review_transfer",
                                                  HumanTask.status == "open")).first()
    assert 'id="quarter-report"' not in browser("health.officer").get(f"/tasks/{other.id}").get_data(as_text=True)


def test_the_dashboard_in_english(rt, browser, seeded):
    b = browser("supervision.officer")
    b.post("/lang", {"lang": "en"})
    html = b.get("/dashboard").get_data(as_text=True)
    assert "Overdue (matters)" in html and "On-time rate" in html and "Q1 2026" in html
    assert "逾期（件）" not in html
