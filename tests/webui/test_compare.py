"""The compare page: any signed-in user reads the Chinese list of what changed between two versions, drawn on
version b's diagram; a bad parameter is refused with a Chinese message beside its picker and nothing changes."""

import copy
import html
import json
import re

import pytest
from sqlalchemy import select

from runner.models import ProcessDefinition
from tests.compare_support import LETTER_3, LETTER_5, add_version
from tests.conftest import T0, snapshot

URL = "/legal/case_transfer/compare"


def visible(page: str) -> str:
    """What a person reads: no scripts, no tags (so no data attributes)."""
    page = re.sub(r"<script.*?</script>", "", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def compare_data(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="compare-data">(.*?)</script>', page, re.S)
    return json.loads(found.group(1))


@pytest.fixture
def two_versions(rt):
    return add_version(rt, "case_transfer", T0, (LETTER_3, LETTER_5))


def test_compare_lists_the_letter_deadline_before_and_after_in_working_days(browser, two_versions):
    resp = browser("justice.legal").get(f"{URL}?a=1&b={two_versions}")
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    text = visible(page)
    assert "移送函期限届满" in text
    assert re.search(r"原为通报之日起 3 个工作日，改为通报之日起 5 个工作日", text)
    assert "修改 1 处" in text
    # the element id is only a data attribute for the diagram colouring, never the text
    assert "letter_overdue" not in text and 'data-element-id="letter_overdue"' in page
    data = compare_data(page)
    assert LETTER_3 in data["xmlA"] and LETTER_5 in data["xmlB"]
    assert 'src="/static/vendor/bundles/compare.js"' in page


def test_defaults_compare_the_newest_with_the_one_before(browser, two_versions):
    page = browser("market_regulation.officer").get(URL).get_data(as_text=True)
    assert "第 1 版（旧）与第 2 版（新）" in visible(page)
    assert 'data-element-id="letter_overdue"' in page


@pytest.mark.parametrize("user", ["market_regulation.officer", "supervision.officer", "justice.legal"])
def test_any_signed_in_user_may_read(browser, two_versions, user):
    assert browser(user).get(f"{URL}?a=1&b=2").status_code == 200


def test_anonymous_is_sent_to_sign_in(app, two_versions):
    resp = app.test_client().get(f"{URL}?a=1&b=2")
    assert resp.status_code in (302, 401) and "/login" in resp.headers.get("Location", "/login")


@pytest.mark.parametrize(("query", "status", "words", "field"), [
    ("?a=abc&b=2", 400, "版本号须为正整数", "a"),
    ("?a=1&b=-3", 400, "版本号须为正整数", "b"),
    ("?a=1&b=1.5", 400, "版本号须为正整数", "b"),
    ("?a=1&b=99", 404, "没有第 99 版", "b"),
    ("?a=0&b=2", 400, "版本号须为正整数", "a"),
    ("?a=" + "9" * 40 + "&b=2", 400, "版本号须为正整数", "a"),
])
def test_bad_parameters_are_refused_in_chinese_beside_the_picker(rt, browser, two_versions, query, status, words,
                                                                 field):
    b = browser("justice.legal")
    before = snapshot(rt)
    resp = b.get(URL + query)
    assert resp.status_code == status
    page = resp.get_data(as_text=True)
    error = re.search(rf'<p id="err-{field}" class="field-error">([^<]*)</p>', page)
    assert error and words in html.unescape(error.group(1))
    assert "compare.js" not in page  # no diagram for a refused request
    assert snapshot(rt) == before


def test_unknown_procedure_is_404_in_chinese(browser):
    resp = browser("justice.legal").get("/legal/no_such_thing/compare?a=1&b=2")
    assert resp.status_code == 404
    assert "没有编号为 no_such_thing 的流程" in visible(resp.get_data(as_text=True))


def test_form_change_alone_is_listed_field_by_field_and_marked_for_the_diagram(rt, browser):
    with rt.session() as s:
        forms = copy.deepcopy(s.scalars(select(ProcessDefinition.forms).where(
            ProcessDefinition.process_key == "case_transfer", ProcessDefinition.version == 1)).one())
    forms["case_transfer.send_letter.json"]["required"].append("delivery_note")
    forms["case_transfer.send_letter.json"]["properties"]["delivery_note"] = {
        "type": "string", "title": "送达说明", "maxLength": 200}
    v = add_version(rt, "case_transfer", T0, forms=forms)
    page = browser("justice.legal").get(f"{URL}?a=1&b={v}").get_data(as_text=True)
    assert "表单：新增字段「送达说明」（文本，必填）" in visible(page)
    assert compare_data(page)["formOnly"] == ["send_letter"]


def test_layout_only_version_is_reported_as_layout_only(rt, browser):
    from runner.runtime import new_definition

    with rt.session() as s, s.begin():
        base = s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == "case_transfer")).one()
        moved = base.bpmn_xml.replace('<dc:Bounds x="1140" y="90"', '<dc:Bounds x="1160" y="90"')
        assert moved != base.bpmn_xml
        # versions refuses to store a layout-only copy; an older database may hold one all the same
        s.add(new_definition(rt, rt.engine.parse_text(moved, base.forms), 2, "draft", T0))
    page = browser("justice.legal").get(f"{URL}?a=1&b=2").get_data(as_text=True)
    summary = visible(re.search(r'<p id="diff-summary".*?</p>', page, re.S).group(0))
    assert "仅布局变化" in summary
    assert 'data-kind="layout"' in page and "发出移送函并移送材料" in visible(page)
    assert not re.search(r'data-kind="(changed|added|removed)"', page)
