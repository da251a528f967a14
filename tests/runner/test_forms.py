"""Form validation against the shipped schemas: bounds on every field, dates checked at entry,
fields that do not apply refused, text that cannot be stored refused (issues 6 and 7)."""

import json
from datetime import date, datetime

import pytest

from runner.calendar import TZ, WorkingCalendar
from runner.config import ROOT
from runner.errors import Invalid
from runner.forms import limit_problems, show_conditions, validate_form
from scripts.form_limits import add_limits

FORMS = ROOT / "bpmn" / "forms"
CALENDAR = WorkingCalendar.load(ROOT / "runner" / "data" / "calendar")
TODAY = date(2026, 3, 3)
NOW = datetime(2026, 3, 3, 9, 0, tzinfo=TZ)


def form(name: str) -> dict:
    return json.loads((FORMS / f"{name}.json").read_text(encoding="utf-8"))


def refused(schema, data, **kw) -> Invalid:
    with pytest.raises(Invalid) as info:
        validate_form(schema, data, **kw)
    return info.value


REGISTER = {"receiver_unit": "health", "transfer_reason": "not_jurisdiction", "basic_facts": "某诊所无证行医。",
            "evidence": [{"name": "举报材料"}], "supervision_penalty_separated": False, "criminal_suspect": False,
            "urgent_onsite": False}
LETTER = {"letter_number": "源市监移〔2026〕1号", "letter_date": "2026-03-03", "materials": [{"name": "移送函"}],
          "delivery": "platform"}
PLAN = {"basic_facts": "某河道非法采砂", "necessity": "涉及多个部门", "tasks": "联合整治", "lead_department": "water",
        "participant_units": ["natural_resources"], "duties_division": "分工", "time_limit": "2026-04-30",
        "safeguards": "抽调人员", "extent": "area", "area": "燕崖镇", "fields": ["market"], "s5_acknowledged": True}


# -- bounds on every field -------------------------------------------------------------------------
@pytest.mark.parametrize("path", sorted(FORMS.glob("*.json")), ids=lambda p: p.stem)
def test_every_shipped_form_bounds_every_text_list_and_number(path):
    assert limit_problems(json.loads(path.read_text(encoding="utf-8"))) == []


def test_a_million_character_answer_is_refused_beside_its_field():
    err = refused(form("case_transfer.register_case"), {**REGISTER, "basic_facts": "案" * 1_000_000})
    assert set(err.field_errors) == {"basic_facts"} and "过长" in err.field_errors["basic_facts"]


def test_an_over_long_list_item_is_refused():
    rows = [{"name": f"材料{i}"} for i in range(51)]
    err = refused(form("case_transfer.send_letter"), {**LETTER, "materials": rows}, today=TODAY)
    assert err.field_errors == {"materials": "最多 50 项"}


def test_the_script_adds_missing_bounds_keeps_chosen_ones_and_can_be_rerun():
    schema = {"type": "object", "properties": {
        "title": {"type": "string"}, "facts": {"type": "string", "x-widget": "textarea"},
        "note": {"type": "string", "maxLength": 30}, "pages": {"type": "integer", "minimum": 1},
        "units": {"type": "array", "items": {"type": "string", "x-options": "units"}},
        "rows": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}}}}
    assert len(limit_problems(schema)) == 7
    assert add_limits(schema) == 7 and limit_problems(schema) == []
    props = schema["properties"]
    assert props["title"]["maxLength"] == 200 and props["facts"]["maxLength"] == 5000
    assert props["note"]["maxLength"] == 30 and props["pages"]["minimum"] == 1 and props["pages"]["maximum"] > 1
    assert props["units"]["maxItems"] >= 60 and props["rows"]["items"]["properties"]["name"]["maxLength"] == 100
    assert add_limits(schema) == 0


def test_numbers_of_1e308_are_refused():
    rows = [{"name": "移送函", "pages": 1e308}]
    err = refused(form("case_transfer.send_letter"), {**LETTER, "materials": rows}, today=TODAY)
    assert err.field_errors == {"materials.0.pages": "不能大于 10000"}


# -- dates that feed deadlines --------------------------------------------------------------------
def test_a_far_future_time_limit_is_refused_at_entry():
    schema = form("joint_enforcement.draft_plan")
    err = refused(schema, {**PLAN, "time_limit": "9999-12-31"}, today=NOW, calendar=CALENDAR)
    assert set(err.field_errors) == {"time_limit"}
    assert "已载入节假日安排的年份" in err.field_errors["time_limit"]
    assert validate_form(schema, PLAN, today=NOW, calendar=CALENDAR) == PLAN


def test_a_time_limit_before_today_is_refused():
    err = refused(form("joint_enforcement.draft_plan"), {**PLAN, "time_limit": "2026-03-02"}, today=NOW,
                  calendar=CALENDAR)
    assert err.field_errors == {"time_limit": "不能早于今天（2026-03-03）"}


def test_a_new_report_deadline_is_bounded_too():
    schema = form("joint_enforcement.supervise_late_report")
    record = {"supervision_measures": "约谈", "handling_opinion": "限期报告", "new_deadline": "9999-12-31"}
    opinions = schema["properties"]["supervision_record"]["properties"]["handling_opinion"]
    record["handling_opinion"] = (opinions.get("oneOf") or [{"const": opinions.get("enum", [""])[0]}])[0]["const"]
    err = refused(schema, {"supervision_record": record}, today=NOW, calendar=CALENDAR)
    assert "已载入节假日安排的年份" in err.field_errors["supervision_record.new_deadline"]


@pytest.mark.parametrize(("letter_date", "words"), [
    ("2026-03-01", "不能早于通报之日（2026-03-02）"),  # before the notice
    ("2026-03-04", "不能晚于今天（2026-03-03）"),  # tomorrow
    ("9999-12-31", "不能晚于今天"),
])
def test_the_letter_date_follows_the_notice_and_is_not_in_the_future(letter_date, words):
    err = refused(form("case_transfer.send_letter"), {**LETTER, "letter_date": letter_date}, today=TODAY,
                  context={"notice_date": "2026-03-02"})
    assert set(err.field_errors) == {"letter_date"} and words in err.field_errors["letter_date"]


@pytest.mark.parametrize("letter_date", ["2026-03-02", "2026-03-03"])
def test_a_letter_dated_between_notice_and_today_is_accepted(letter_date):
    data = {**LETTER, "letter_date": letter_date}
    assert validate_form(form("case_transfer.send_letter"), data, today=TODAY,
                         context={"notice_date": "2026-03-02"}) == data


# -- text that cannot be stored, or is only spaces ------------------------------------------------
def test_a_lone_surrogate_is_refused_beside_its_field():
    err = refused(form("case_transfer.register_case"), {**REGISTER, "basic_facts": "A\ud800B"})
    assert set(err.field_errors) == {"basic_facts"} and "无法识别的字符" in err.field_errors["basic_facts"]
    (err.message + json.dumps(err.field_errors, ensure_ascii=False)).encode("utf-8")  # the refusal itself is storable


def test_a_lone_surrogate_in_a_nested_row_or_a_key_is_refused():
    err = refused(form("case_transfer.register_case"), {**REGISTER, "evidence": [{"name": "x\udfffy"}]})
    assert "无法识别的字符" in err.field_errors["evidence.0.name"]
    err = refused(form("case_transfer.register_case"), {**REGISTER, "\ud800": "x"})
    json.dumps(err.field_errors, ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize("blank", ["   ", "\n\t ", "\u3000"])
def test_required_text_of_only_whitespace_is_refused(blank):
    err = refused(form("case_transfer.register_case"), {**REGISTER, "basic_facts": blank})
    assert err.field_errors == {"basic_facts": "不能只填空白"}


def test_optional_text_may_stay_empty():
    data = {**LETTER, "note": ""}
    assert validate_form(form("case_transfer.send_letter"), data, today=TODAY) == data


# -- conditional fields ---------------------------------------------------------------------------
START = {"title": "某河道非法采砂联合整治", "initiation": "unit_initiated", "linkage_type": "joint",
         "joint_grounds": ["multiple_agencies"], "grounds_explanation": "涉及多个部门", "summary": "概况"}


def test_conditions_show_the_designated_lead_only_for_a_county_decision():
    shown = show_conditions(form("joint_enforcement.start"))
    assert shown["designated_lead_unit"] == [("initiation", "county_decision")]
    assert shown["coordinated_grounds"] == [("linkage_type", "coordinated")]
    assert shown["joint_grounds"] == [("linkage_type", "joint")]


@pytest.mark.parametrize(("name", "data", "field"), [
    ("joint_enforcement.start", {**START, "designated_lead_unit": "water"}, "designated_lead_unit"),
    ("joint_enforcement.start", {**START, "coordinated_grounds": ["major_complex"]}, "coordinated_grounds"),
    ("case_transfer.review_transfer", {"review_decision": "return_not_competent", "return_reasons": "不属管辖",
                                       "jurisdiction_basis": "三定方案", "acceptance_number": "源卫健立1号"},
     "acceptance_number"),
    ("info_query.answer_query", {"answer_decision": "refuse", "refusal_ground": "law_prohibits",
                                 "refusal_legal_article": "某法第十条", "refusal_explanation": "依法不得提供",
                                 "provided_items": [{"name": "处罚决定书"}]}, "provided_items"),
])
def test_a_value_for_a_field_that_does_not_apply_is_refused(name, data, field):
    err = refused(form(name), data)
    assert set(err.field_errors) == {field} and err.field_errors[field].startswith("不适用：仅在")


def test_fields_that_apply_are_accepted():
    county = {**START, "initiation": "county_decision", "designated_lead_unit": "water", "decision_basis": "县长办公会"}
    assert validate_form(form("joint_enforcement.start"), county) == county
    coordinated = {**START, "linkage_type": "coordinated", "coordinated_grounds": ["major_complex"]}
    del coordinated["joint_grounds"]
    assert validate_form(form("joint_enforcement.start"), coordinated) == coordinated
    accepted = {"review_decision": "accept", "acceptance_number": "源卫健立1号"}
    assert validate_form(form("case_transfer.review_transfer"), accepted) == accepted


def test_the_p1_hint_no_longer_tells_an_initiating_unit_that_someone_else_leads():
    hint = form("joint_enforcement.start")["properties"]["designated_lead_unit"]["description"]
    assert "仅县政府直接决定启动时填写" in hint and "谁发起谁牵头" in hint


# -- the summary -----------------------------------------------------------------------------------
def test_the_summary_names_each_field_once():
    rows = [{"name": "", "pages": 0}, {"name": "", "pages": 0}]
    err = refused(form("case_transfer.send_letter"), {**LETTER, "materials": rows}, today=TODAY)
    assert len(err.field_errors) == 4
    assert err.message == "表单有误：随函移送的材料和证据"
