"""The modeler's endpoints: who may edit, saving as a draft, refusals (4xx, nothing stored), form preview."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from runner.models import ProcessDefinition
from tests.conftest import snapshot
from tests.webui.conftest import denied

LEGAL = "justice.legal"
EDIT = "/legal/case_transfer/1/edit"
OLD_TIMER = "working_days_after(notice_date, 3)"
NEW_TIMER = "working_days_after(notice_date, 5)"


def _row(rt, version=1) -> ProcessDefinition:
    with rt.session() as s:
        return s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == "case_transfer",
                                                         ProcessDefinition.version == version)).first()


def _post(b, path, body, token=True):
    headers = {"X-CSRFToken": b.token} if token else {}
    return b.client.post(path, json=body, headers=headers)


def _page_data(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="modeler-data">(.*?)</script>', html, re.S)
    assert match, "no modeler data on the page"
    return json.loads(match.group(1))


def test_legal_staff_open_the_modeler_with_chinese_choices(rt, browser):
    resp = browser(LEGAL).get(EDIT)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "vendor/bundles/modeler.js" in html and "vendor/bundles/properties-panel.css" in html
    assert not re.search(r"<script(?![^>]*(src=|application/json))", html), "inline script on the page"
    data = _page_data(html)
    assert OLD_TIMER in data["xml"] and "case_transfer.send_letter.json" in data["forms"]
    units = {u["value"]: u["label"] for u in data["choices"]["units"]}
    assert units["initiator_unit"].startswith("发起单位") and units['"supervision_office"'] == "县政府督查室"
    assert "接收单位" in units["receiver_unit"]
    assert {r["label"] for r in data["choices"]["roles"]} >= {"执法人员", "督查室督查人员"}
    assert any(v["value"] == "notice_date" and "通报" in v["label"] for v in data["choices"]["variables"])
    assert data["labels"]["工作日数"] == "工作日数" and data["labels"]["User Task"] == "用户任务"
    assert data["csrf"] and data["saveUrl"] == EDIT
    review = next(f for f in data["choices"]["conditionFields"] if f["value"] == "review_decision")
    assert {"value": '"accept"', "label": "受理"} in review["options"] and "审查结论" in review["label"]


@pytest.mark.parametrize("user", ["market_regulation.officer", "supervision.officer"])
def test_other_roles_are_refused_in_chinese(rt, browser, user):
    b = browser(user)
    before = denied(rt)
    resp = b.get(EDIT)
    assert resp.status_code == 403 and "只有法制审核人员或系统管理员可以编辑流程图" in resp.get_data(as_text=True)
    assert denied(rt) == before + 1
    state = snapshot(rt)
    xml = _row(rt).bpmn_xml.replace(OLD_TIMER, NEW_TIMER)
    resp = _post(b, EDIT, {"xml": xml, "forms": _row(rt).forms})
    assert resp.status_code == 403 and "法制审核" in resp.get_json()["error"]
    assert snapshot(rt) == state


def test_signed_out_users_are_sent_to_sign_in(app):
    resp = app.test_client().get(EDIT)
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_saving_an_edit_of_the_active_version_makes_a_draft(rt, browser):
    b = browser(LEGAL)
    row = _row(rt)
    resp = _post(b, EDIT, {"xml": row.bpmn_xml.replace(OLD_TIMER, NEW_TIMER), "forms": row.forms,
                           "comment": "移送函期限改为5个工作日"})
    body = resp.get_json()
    assert resp.status_code == 200, body
    assert body["version"] == 2 and body["created"] and body["url"] == "/legal/case_transfer/2/edit"
    assert "第 2 版草稿" in body["message"]
    draft = _row(rt, 2)
    assert draft.status == "draft" and NEW_TIMER in draft.bpmn_xml and draft.author == LEGAL
    assert draft.comment == "移送函期限改为5个工作日"
    assert OLD_TIMER in _row(rt, 1).bpmn_xml
    # the draft's own page edits it in place
    moved = draft.bpmn_xml.replace('<dc:Bounds x="', '<dc:Bounds x="1', 1)
    again = _post(b, body["url"], {"xml": moved, "forms": draft.forms}).get_json()
    assert again["version"] == 2 and not again["created"] and again["layout_only"]
    assert "只调整了版式" in again["message"]


def test_a_diagram_with_problems_is_refused_with_every_problem(rt, browser):
    b = browser(LEGAL)
    row = _row(rt)
    broken = (row.bpmn_xml.replace('<spiffworkflow:property name="role" value="officer" />', "", 1)
              .replace(OLD_TIMER, "working_days_after(no_such_date, 5)"))
    state = snapshot(rt)
    resp = _post(b, EDIT, {"xml": broken, "forms": row.forms})
    body = resp.get_json()
    assert resp.status_code == 422 and "处问题，未保存" in body["error"]
    assert len(body["problems"]) >= 2
    assert all(p["message"] and re.search(r"[\u4e00-\u9fff]", p["message"]) for p in body["problems"])
    assert {"register_case", "letter_overdue"} <= {p["element_id"] for p in body["problems"]}
    assert snapshot(rt) == state


@pytest.mark.parametrize("payload", [
    {"xml": "<bpmn:definitions", "forms": {}},
    {"xml": "not xml at all", "forms": {}},
    {"xml": "", "forms": {}},
    {"xml": None, "forms": {}},
    {"xml": '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><d>&b;</d>',
     "forms": {}},
    {"xml": "<x>" * 5000, "forms": {}},
])
def test_bad_xml_is_a_422_and_nothing_is_stored(rt, browser, payload):
    b = browser(LEGAL)
    state = snapshot(rt)
    resp = _post(b, EDIT, payload)
    assert resp.status_code == 422 and re.search(r"[\u4e00-\u9fff]", resp.get_json()["error"])
    assert snapshot(rt) == state


@pytest.mark.parametrize("forms", ["{not json", [], {"../evil.json": {}}, {"case_transfer.start.json": "x"}])
def test_bad_forms_are_a_4xx_and_nothing_is_stored(rt, browser, forms):
    b = browser(LEGAL)
    row = _row(rt)
    state = snapshot(rt)
    resp = _post(b, EDIT, {"xml": row.bpmn_xml.replace(OLD_TIMER, NEW_TIMER), "forms": forms})
    assert 400 <= resp.status_code < 500 and resp.get_json()["error"]
    assert snapshot(rt) == state


def test_a_body_that_is_not_json_is_refused(rt, browser):
    b = browser(LEGAL)
    state = snapshot(rt)
    resp = b.client.post(EDIT, data="xml=1", headers={"X-CSRFToken": b.token, "Content-Type": "text/plain"})
    assert resp.status_code == 422 and "JSON" in resp.get_json()["error"]
    assert snapshot(rt) == state


def test_saving_without_the_csrf_token_is_refused(rt, browser):
    b = browser(LEGAL)
    row = _row(rt)
    state = snapshot(rt)
    resp = _post(b, EDIT, {"xml": row.bpmn_xml.replace(OLD_TIMER, NEW_TIMER), "forms": row.forms}, token=False)
    assert resp.status_code == 400
    assert snapshot(rt) == state


def test_an_unknown_version_is_404(rt, browser):
    b = browser(LEGAL)
    assert b.get("/legal/case_transfer/99/edit").status_code == 404
    assert _post(b, "/legal/case_transfer/99/edit", {"xml": _row(rt).bpmn_xml, "forms": {}}).status_code == 404


def test_the_preview_renders_the_form_as_officers_see_it(rt, browser):
    b = browser(LEGAL)
    schema = _row(rt).forms["case_transfer.send_letter.json"]
    resp = _post(b, EDIT + "/preview", {"schema": schema})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    for prop in schema["properties"].values():
        if not prop.get("readOnly"):
            assert prop["title"] in html
    assert 'name="delivery"' in html  # letter_number is readOnly now (set from the issued letter)
    bad = _post(b, EDIT + "/preview", {"schema": ["not", "an", "object"]})
    assert bad.status_code == 422 and bad.get_json()["error"]


def test_the_page_speaks_english_in_the_english_locale(rt, browser):
    b = browser(LEGAL)
    b.post("/lang", {"lang": "en", "next": EDIT})
    html = b.get(EDIT).get_data(as_text=True)
    data = _page_data(html)
    assert "Save draft" in html and "Edit diagram" in html
    assert data["labels"]["工作日数"] == "Working days" and data["labels"]["User Task"] == "User Task"
