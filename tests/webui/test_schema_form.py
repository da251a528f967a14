"""The JSON-Schema form: every widget the issue names, parsed back to JSON shaped by the schema."""

import io
import json
import re

import pytest
from werkzeug.datastructures import FileStorage, MultiDict

from runner.config import ROOT
from runner.documents import issue_document
from runner.errors import Invalid
from runner.services import complete_task
from tests.conftest import T0, snapshot
from tests.webui.conftest import LETTER, RECEIVER, REGISTER, SENDER, open_task, start_transfer
from tests.webui.test_api import Api
from webui.readable import Readable
from webui.schema_form import build_fields, conditions, parse_submission

UNITS = [("health", "县卫生健康局", "department"), ("water", "县水利局", "department"),
         ("yanya_town", "燕崖镇", "town")]
SCHEMA = {
    "type": "object", "additionalProperties": False,
    "required": ["title", "kind", "decided", "units"],
    "properties": {
        "title": {"type": "string", "title": "案件名称", "description": "如：某诊所案"},
        "facts": {"type": "string", "title": "基本案情", "x-widget": "textarea"},
        "day": {"type": "string", "title": "日期", "format": "date"},
        "when": {"type": "string", "title": "时间", "format": "date-time"},
        "kind": {"type": "string", "title": "类别",
                 "oneOf": [{"const": "a", "title": "甲"}, {"const": "b", "title": "乙"}]},
        "many": {"type": "string", "title": "多项", "enum": ["1", "2", "3", "4", "5"],
                 "x-enumNames": list("一二三四五")},
        "decided": {"type": "boolean", "title": "是否决定"},
        "flag": {"type": "boolean", "title": "标记"},
        "count": {"type": "integer", "title": "数量"},
        "unit": {"type": "string", "title": "单位", "x-options": "units"},
        "units": {"type": "array", "title": "参与单位", "items": {"type": "string", "x-options": "units"}},
        "tags": {"type": "array", "title": "标签", "items": {"type": "string", "enum": ["x", "y"]}},
        "lines": {"type": "array", "title": "清单", "items": {"type": "string"}},
        "scan": {"type": "string", "title": "扫描件", "x-widget": "file"},
        "evidence": {"type": "array", "title": "证据", "items": {
            "type": "object", "required": ["name"],
            "properties": {"name": {"type": "string", "title": "名称"},
                           "pages": {"type": "integer", "title": "页数"}}}},
        "phone": {"type": "object", "title": "电话记录", "properties": {"who": {"type": "string", "title": "接听人"}}},
        "reason": {"type": "string", "title": "理由"},
    },
    "allOf": [{"if": {"properties": {"kind": {"const": "b"}}, "required": ["kind"]}, "then": {"required": ["reason"]}}],
}


def by_path(fields):
    return {f.path: f for f in fields}


def test_every_widget_is_chosen_from_the_schema():
    fields = by_path(build_fields(SCHEMA, {}, {}, UNITS))
    widgets = {path: f.widget for path, f in fields.items()}
    assert widgets == {
        "title": "text", "facts": "textarea", "day": "date", "when": "datetime", "kind": "radio", "many": "select",
        "decided": "yesno", "flag": "checkbox", "count": "number", "unit": "unit", "units": "units", "tags": "multi",
        "lines": "lines", "scan": "file", "evidence": "items", "phone": "group", "reason": "text"}
    assert fields["title"].label == "案件名称" and fields["title"].help == "如：某诊所案" and fields["title"].required
    assert fields["kind"].options == [("a", "甲"), ("b", "乙")]
    assert fields["many"].options[0] == ("1", "一")
    assert fields["units"].groups[0] == ("县直部门", [("health", "县卫生健康局"), ("water", "县水利局")])
    assert [f.path for f in fields["evidence"].rows[0]] == ["evidence.0.name", "evidence.0.pages"]
    assert fields["reason"].show_when == [("kind", "b")] and "「类别」为「乙」时填写" == fields["reason"].condition


def test_submission_is_parsed_into_schema_shaped_json(tmp_path):
    form = MultiDict([
        ("title", "  某案  "), ("facts", "第一行\r\n第二行\n"), ("day", "2026-03-02"), ("when", "2026-03-02T09:30"),
        ("kind", "b"), ("decided", "false"), ("flag", "on"), ("count", "3"), ("unit", "health"),
        ("units", "health"), ("units", "yanya_town"), ("tags", "y"), ("lines", "甲\n\n乙 "),
        ("evidence.0.name", "照片"), ("evidence.0.pages", "2"), ("evidence.1.name", ""), ("evidence.3.name", "笔录"),
        ("phone.who", "张三"), ("reason", ""), ("not_in_schema", "x")])
    files = MultiDict([("scan", FileStorage(io.BytesIO(b"pdf"), filename="扫描.pdf"))])
    data = parse_submission(SCHEMA, form, files, lambda f: f"upload:{'0' * 64}/{f.filename}")
    assert data == {
        "title": "某案", "facts": "第一行\n第二行", "day": "2026-03-02", "when": "2026-03-02T09:30:00+08:00",
        "kind": "b", "decided": False, "flag": True, "count": 3, "unit": "health", "units": ["health", "yanya_town"],
        "tags": ["y"], "lines": ["甲", "乙"], "scan": f"upload:{'0' * 64}/扫描.pdf",
        "evidence": [{"name": "照片", "pages": 2}, {"name": "笔录"}], "phone": {"who": "张三"}}


def test_bad_values_are_kept_for_the_validator_and_empty_ones_left_out():
    form = MultiDict([("count", "三"), ("decided", "maybe"), ("evidence.x.name", "?"), ("evidence.99999.name", "y")])
    data = parse_submission(SCHEMA, form, MultiDict())
    assert data == {"count": "三", "decided": "maybe", "flag": False}


def test_a_kept_upload_survives_a_failed_submission_but_a_forged_one_does_not():
    kept = "upload:" + "a" * 64 + "/证据.jpg"
    assert parse_submission(SCHEMA, MultiDict([("scan__kept", kept)]), MultiDict())["scan"] == kept
    assert "scan" not in parse_submission(SCHEMA, MultiDict([("scan__kept", "upload:../../etc/passwd")]), MultiDict())


def test_remove_drops_one_row_and_errors_land_on_their_fields():
    form = MultiDict([("evidence.0.name", "甲"), ("evidence.1.name", "乙")])
    assert parse_submission(SCHEMA, form, MultiDict(), drop="evidence.0")["evidence"] == [{"name": "乙"}]
    fields = by_path(build_fields(SCHEMA, {"evidence": [{"name": ""}], "units": ["ghost"]},
                                  {"evidence.0.name": "必填", "units.0": "未知的单位：ghost", "title": "必填"}, UNITS))
    assert fields["title"].error == "必填"
    assert fields["evidence"].rows[0][0].error == "必填"
    assert fields["units"].error == "未知的单位：ghost"


def test_conditions_read_if_then_branches():
    assert conditions(SCHEMA) == {"reason": [("kind", "b")]}


def test_readable_data_uses_labels_units_options_and_local_time():
    readable = Readable({"f": SCHEMA}, {"health": "县卫生健康局"}, variables={"filing": "县司法局备案"})
    data = {"title": "某案", "kind": "b", "decided": True, "receiver_unit": "health",
            "started_at": "2026-03-02T01:00:00+00:00", "evidence": [{"name": "照片", "pages": 2}],
            "initiator_unit_kind": "department", "filing": {"number": "SF-1"}, "plan_round": 2, "empty": []}
    shown = {i.label: (i.kind, i.value) for i in readable.items(data)}
    internal = {i.label: i.value for i in readable.others(data)}
    assert shown["案件名称"] == ("text", "某案")
    assert shown["类别"] == ("text", "乙")
    assert shown["是否决定"] == ("text", "是")
    assert internal == {"receiver_unit": "县卫生健康局", "plan_round": "2"}
    assert shown["县司法局备案"][0] == "group"
    assert shown["发起时间"] == ("text", "2026-03-02 09:00")
    assert shown["证据"] == ("table", [["照片", "2"]])
    assert "initiator_unit_kind" not in shown


# -- issue 6 and 7: bounds, dates, conditional fields, on the real forms and through the server ------
@pytest.fixture
def api(app):
    return lambda username=None: Api(app, username)


def _shipped(name: str) -> dict:
    return json.loads((ROOT / "bpmn" / "forms" / f"{name}.json").read_text(encoding="utf-8"))


def test_conditional_fields_show_only_when_they_apply():
    start = _shipped("joint_enforcement.start")
    fields = by_path(build_fields(start, {}, {}, UNITS))
    # 本单位发起 must not show the county's designated lead; 联合执法 must not show F2 grounds
    assert fields["designated_lead_unit"].show_when == [("initiation", "county_decision")]
    assert fields["coordinated_grounds"].show_when == [("linkage_type", "coordinated")]
    assert fields["designated_lead_unit"].hidden and fields["joint_grounds"].hidden
    chosen = by_path(build_fields(start, {"initiation": "unit_initiated", "linkage_type": "joint"}, {}, UNITS))
    assert chosen["designated_lead_unit"].hidden and chosen["decision_basis"].hidden
    assert not chosen["joint_grounds"].hidden and chosen["coordinated_grounds"].hidden
    county = by_path(build_fields(start, {"initiation": "county_decision"}, {}, UNITS))
    assert not county["designated_lead_unit"].hidden and not county["decision_basis"].hidden
    # a field with an error stays in sight, so its message is read
    wrong = by_path(build_fields(start, {"initiation": "unit_initiated"}, {"designated_lead_unit": "不适用"}, UNITS))
    assert not wrong["designated_lead_unit"].hidden


def test_acceptance_number_and_provided_items_leave_with_a_return_or_a_refusal():
    review = _shipped("case_transfer.review_transfer")
    assert by_path(build_fields(review, {"review_decision": "accept"}, {}, UNITS))["acceptance_number"].hidden is False
    assert by_path(build_fields(review, {"review_decision": "return_incomplete"}, {}, UNITS))[
        "acceptance_number"].hidden
    answer = _shipped("info_query.answer_query")
    assert by_path(build_fields(answer, {"answer_decision": "refuse"}, {}, UNITS))["provided_items"].hidden
    assert not by_path(build_fields(answer, {"answer_decision": "provide"}, {}, UNITS))["provided_items"].hidden


def test_a_page_count_of_zero_is_kept_not_dropped():
    schema = _shipped("case_transfer.send_letter")
    data = parse_submission(schema, MultiDict({"materials.0.name": "移送函", "materials.0.pages": "0",
                                               "materials.1.pages": "0"}), {})
    assert data["materials"] == [{"name": "移送函", "pages": 0}, {"pages": 0}]
    rows = by_path(build_fields(schema, data, {}, UNITS))["materials"].rows
    assert [[f.value for f in row if f.path.endswith("pages")] for row in rows] == [[0], [0]]


def test_task_and_start_pages_render_fields_that_do_not_apply_hidden(rt, browser):
    iid = start_transfer(rt, T0, upto="review")
    html = browser(RECEIVER).get(f"/tasks/{open_task(rt, iid, 'review_transfer').id}").get_data(as_text=True)
    assert re.search(r'<div class="field field-text" data-path="acceptance_number"[^>]* hidden>', html)
    html = browser(SENDER).get("/start/joint_enforcement").get_data(as_text=True)
    assert re.search(r'data-path="designated_lead_unit"[^>]* hidden>', html)
    assert re.search(r'data-path="coordinated_grounds"[^>]* hidden>', html)
    assert not re.search(r'data-path="title"[^>]* hidden>', html)


def test_an_over_long_answer_is_refused_beside_its_field_and_changes_nothing(rt, browser, api):
    iid = start_transfer(rt, T0)
    task = open_task(rt, iid, "register_case")
    before = snapshot(rt)
    form = {"receiver_unit": "health", "transfer_reason": "not_jurisdiction", "basic_facts": "案" * 100_000,
            "evidence.0.name": "举报材料", "supervision_penalty_separated": "false", "criminal_suspect": "false",
            "urgent_onsite": "false"}
    resp = browser(SENDER).post(f"/tasks/{task.id}", form)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "表单有误：基本案情" in html
    assert re.search(r'id="f-basic_facts-error">过长，最多 5000 个字<', html)
    resp = api(SENDER).post(f"/api/tasks/{task.id}/complete", {**REGISTER, "basic_facts": "案" * 1_000_000})
    assert resp.status_code == 422 and resp.get_json()["fields"] == {"basic_facts": "过长，最多 5000 个字"}
    assert snapshot(rt) == before


def test_a_lone_surrogate_is_refused_and_the_case_stays_readable(rt, api):
    iid = start_transfer(rt, T0)
    task = open_task(rt, iid, "register_case")
    sender = api(SENDER)
    before = snapshot(rt)
    body = json.dumps({**REGISTER, "basic_facts": "A\ud800B"})  # as a client sends it: "\\ud800" escaped
    resp = sender.client.post(f"/api/tasks/{task.id}/complete", data=body, content_type="application/json",
                              headers={"X-CSRFToken": sender.token})
    # refused at the door (webui/inputs.py) before the form is read; validate_form refuses it too (test_forms)
    assert resp.status_code == 400 and "无法保存的字符" in resp.get_json()["fields"]["basic_facts"]
    assert snapshot(rt) == before
    assert sender.get(f"/api/instances/{iid}").status_code == 200


@pytest.mark.parametrize(("letter_date", "words"), [("2026-03-01", "不能早于通报之日（2026-03-02）"),
                                                    ("9999-12-31", "不能晚于今天（2026-03-02）")])
def test_the_letter_date_is_checked_against_the_notice_and_today(rt, api, letter_date, words):
    iid = start_transfer(rt, T0, upto="letter")
    task = open_task(rt, iid, "send_letter")
    before = snapshot(rt)
    # the web and the API take the date from the issued letter; the diagram's check still guards the step
    with pytest.raises(Invalid) as refused:
        complete_task(rt, SENDER, task.id, {**LETTER, "letter_date": letter_date}, T0)
    assert refused.value.field_errors == {"letter_date": words}
    assert snapshot(rt) == before


def test_the_summary_names_a_field_once_and_a_zero_page_count_comes_back(rt, browser):
    iid = start_transfer(rt, T0, upto="letter")
    task = open_task(rt, iid, "send_letter")
    issue_document(rt, SENDER, iid, "transfer_letter", T0)  # its number and date are the letter's, not typed
    form = {"delivery": "platform",
            "materials.0.name": "移送函", "materials.0.pages": "0",
            "materials.1.name": "笔录", "materials.1.pages": "0"}
    before = snapshot(rt)
    resp = browser(SENDER).post(f"/tasks/{task.id}", form)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "表单有误：随函移送的材料和证据<" in html.replace("</", "<")
    assert 'name="materials.1.pages" value="0"' in html and "不能小于 1" in html
    assert snapshot(rt) == before
