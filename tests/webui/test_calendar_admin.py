"""The holiday schedule page: administrators only, preview before storing, errors beside the field with the
database unchanged, confirm (audited), the moved deadlines listed, and the banner on 2026-12-02.

The 2027 schedule used here is a TEST FIXTURE with made-up dates (no real 2027 schedule was available)."""

import io
import json
import re
from datetime import datetime

from sqlalchemy import func, select

from runner.calendar import TZ
from runner.models import AuditEntry, CalendarYear
from tests.conftest import snapshot
from tests.runner.test_holidays import FIXTURE_2027, with_2026_holiday
from tests.webui.conftest import denied, start_transfer

TODAY = datetime(2026, 12, 2, 10, 0, tzinfo=TZ)
BANNER = "2027 年的国务院节假日安排尚未载入"


def paste(doc: dict) -> str:
    return json.dumps(doc, ensure_ascii=False)


def test_only_administrators_reach_the_page(browser, rt, app):
    for user in ("market_regulation.officer", "justice.legal", "supervision.officer"):
        before = denied(rt)
        resp = browser(user).get("/admin/calendar/")
        assert resp.status_code == 403
        assert "只有系统管理员可以管理节假日安排" in resp.get_data(as_text=True)
        assert denied(rt) == before + 1  # the refusal is audited
    officer = browser("market_regulation.officer")
    before = snapshot(rt)
    assert officer.post("/admin/calendar/confirm", data={"schedule": paste(FIXTURE_2027)}).status_code == 403
    assert snapshot(rt) == before
    assert app.test_client().get("/admin/calendar/").status_code == 302  # to the sign-in page
    page = browser("admin").get("/admin/calendar/")
    assert page.status_code == 200 and "载入一年的安排" in page.get_data(as_text=True)


def test_preview_shows_the_year_and_stores_nothing(browser, rt):
    admin = browser("admin")
    before = snapshot(rt)
    resp = admin.post("/admin/calendar/preview", data={"schedule": paste(FIXTURE_2027)})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert re.search(r'class="cal-day cal-holiday" data-date="2027-02-08" title="2027-02-08 春节"', html)
    assert 'class="cal-day cal-makeup" data-date="2027-02-13"' in html
    assert "2 月 · 工作日 16 天" in html and "确认载入" in html
    assert snapshot(rt) == before


def test_uploaded_file_previews_too(browser):
    resp = browser("admin").post("/admin/calendar/preview", data={
        "file": (io.BytesIO(paste(FIXTURE_2027).encode()), "2027.json")}, content_type="multipart/form-data")
    assert resp.status_code == 200 and 'data-date="2027-02-13"' in resp.get_data(as_text=True)


def test_entry_errors_beside_the_field_and_nothing_stored(browser, rt):
    admin = browser("admin")
    before = snapshot(rt)
    for change, words in [({"workdays": ["2027-02-10"]}, "2027-02-10 是星期三"),
                          ({"holidays": [{"name": "元旦", "dates": ["2028-01-01"]}]}, "不在 2027 年内"),
                          ({"workdays": ["2027-02-13", "2027-02-13"]}, "重复")]:
        for url in ("/admin/calendar/preview", "/admin/calendar/confirm"):
            resp = admin.post(url, data={"schedule": paste({**FIXTURE_2027, **change})})
            html = resp.get_data(as_text=True)
            assert resp.status_code == 400
            errors = html[html.index('id="schedule-errors"'):]
            assert words in errors[:errors.index("</ul>")]
    assert snapshot(rt) == before


def test_confirm_stores_audits_and_lists_moved_deadlines(browser, rt, clock):
    iid = start_transfer(rt, clock(), upto="letter")  # notice Mon 03-02: the letter is due by the end of 03-05
    admin = browser("admin")
    resp = admin.post("/admin/calendar/confirm", data={"schedule": paste(with_2026_holiday(rt, "2026-03-04"))})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/admin/calendar/2026/result")
    html = admin.get("/admin/calendar/2026/result").get_data(as_text=True)
    assert f"/instances/{iid}" in html
    assert "2026-03-05 24:00" in html and "2026-03-06 24:00" in html and "推后 1 个工作日" in html
    with rt.session() as s:
        assert s.get(CalendarYear, 2026).loaded_by == "admin"
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.action.in_(
            ["calendar_load", "deadline_moved"]))))
        assert sorted(actions) == ["calendar_load", "deadline_moved"]
    listing = admin.get("/admin/calendar/").get_data(as_text=True)
    assert "测试用虚构文号〔2026〕1号" in listing and "县司法局·系统管理员" in listing


def test_banner_today_for_administrators_and_legal_staff(browser, rt, clock):
    clock.set(TODAY)
    assert BANNER in browser("admin").get("/").get_data(as_text=True)
    assert BANNER in browser("justice.legal").get("/instances").get_data(as_text=True)
    assert BANNER not in browser("market_regulation.officer").get("/").get_data(as_text=True)
    admin = browser("admin")
    assert admin.post("/admin/calendar/confirm", data={"schedule": paste(FIXTURE_2027)}).status_code == 302
    assert BANNER not in admin.get("/").get_data(as_text=True)
    with rt.session() as s:
        assert s.scalar(select(func.count()).select_from(CalendarYear)) == 1


def test_show_a_year_of_the_package(browser):
    html = browser("admin").get("/admin/calendar/2026").get_data(as_text=True)
    assert 'class="cal-day cal-makeup" data-date="2026-02-14"' in html  # chinesecalendar's make-up Saturday
    assert browser("admin").get("/admin/calendar/2031").status_code == 404


def test_preview_of_a_change_lists_the_changed_day(browser, rt):
    html = browser("admin").post("/admin/calendar/preview", data={
        "schedule": paste(with_2026_holiday(rt, "2026-03-04"))}).get_data(as_text=True)
    changed = html[html.index('class="changed-days"'):]
    assert '<li data-date="2026-03-04">2026-03-04：工作日 → 休息日</li>' in changed[:changed.index("</ul>")]
    assert "将取代软件自带的 2026 年安排" in html and "将替换" not in html  # nothing loaded for 2026 yet


def test_english_page_and_banner(browser, clock):
    clock.set(TODAY)
    admin = browser("admin")
    admin.post("/lang", {"lang": "en"})
    html = admin.get("/admin/calendar/").get_data(as_text=True)
    assert "Load a year’s schedule" in html
    assert "The State Council holiday schedule for 2027 is not loaded" in html
    preview = admin.post("/admin/calendar/preview", data={"schedule": paste(FIXTURE_2027)}).get_data(as_text=True)
    assert "Month 2 · 16 working days" in preview and "Confirm and load" in preview
