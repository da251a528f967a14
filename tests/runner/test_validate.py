"""The validator: each kind of broken diagram is reported with file, element id and a line."""

import re
import shutil

import pytest

from runner.calendar import WorkingCalendar
from runner.config import ROOT
from runner.engine import Engine
from runner.rules import load_rules
from runner.validate import Unchecked, validate_file
from tests.runner.conftest import FIXTURES

ENGINE = Engine(WorkingCalendar.load())
RULES = load_rules(ROOT / "policy" / "RULES.md")


@pytest.fixture
def diagram(tmp_path):
    shutil.copytree(FIXTURES / "forms", tmp_path / "forms")
    path = tmp_path / "mini.bpmn"
    path.write_text((FIXTURES / "mini.bpmn").read_text(encoding="utf-8"), encoding="utf-8")
    return path


def mutate(path, old, new, count=1):
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def problems(path):
    return validate_file(path, ENGINE, RULES)


def test_fixture_diagram_is_clean(diagram):
    assert problems(diagram) == []


def test_every_shipped_diagram_is_clean():
    paths = sorted((ROOT / "bpmn").glob("*.bpmn"))
    found = [str(p) for path in paths for p in problems(path)]
    assert found == []


@pytest.mark.parametrize(("old", "new", "element", "words"), [
    ('<spiffworkflow:property name="role" value="officer" />\n          <spiffworkflow:property name="unit" '
     'value="initiator_unit" />', '<spiffworkflow:property name="unit" value="initiator_unit" />',
     "send_letter", "role"),
    ("<bpmn:documentation>P5：通报之日起3个工作日内发出移送函</bpmn:documentation>", "", "send_letter", "规则编号"),
    ("<bpmn:documentation>F3：接收单位审查移送</bpmn:documentation>",
     "<bpmn:documentation>Z9 不存在</bpmn:documentation>", "review_transfer", "规则编号"),
    ("<bpmn:documentation>F3：接收单位审查移送</bpmn:documentation>",
     "<bpmn:documentation>P99</bpmn:documentation>", "review_transfer", "P99"),
    ('decision == "accept"', 'decision == = "accept"', "flow_decision_accepted", "语法错误"),
    ("working_days_after(notice_date, 3)", "working_days_after(notice_date, 3", "letter_overdue", "语法错误"),
    ('<dc:Bounds x="600" y="235"', '<dc:Bounds x="440" y="95"', "send_letter", "重叠"),
    ('<bpmndi:BPMNEdge id="flow_notify_send_di" bpmnElement="flow_notify_send">'
     '<di:waypoint x="370" y="125" /><di:waypoint x="430" y="125" /></bpmndi:BPMNEdge>', "",
     "flow_notify_send", "BPMNEdge"),
    ('name="接收审查"', 'name="Review"', "review_transfer", "中文"),
    ('id="review_transfer"', 'id="ReviewTransfer"', None, None),
    ('value="mini.review_transfer.json"', 'value="missing.json"', "review_transfer", "missing.json"),
    ('<dc:Bounds x="882" y="257"', '<dc:Bounds x="882" y="420"', "end_accepted", "泳道"),
])
def test_broken_diagram_is_reported_with_element_and_line(diagram, old, new, element, words):
    mutate(diagram, old, new)
    found = problems(diagram)
    assert found, "the broken diagram passed validation"
    if element is not None:
        hits = [p for p in found if p.element_id == element and words in p.message]
        assert hits, [str(p) for p in found]
        assert all(p.line for p in hits)
    assert all(p.file == "mini.bpmn" for p in found)


def test_malformed_xml_reports_line(diagram):
    mutate(diagram, "<bpmn:endEvent id=\"end_accepted\"", "<bpmn:endEvent id=\"end_accepted\" <<")
    (found,) = problems(diagram)
    assert found.line and "XML" in found.message


def test_process_id_must_match_file_name(diagram, tmp_path):
    other = diagram.rename(tmp_path / "other.bpmn")
    found = problems(other)
    assert found and any("other" in p.message or "mini" in p.message for p in found)


def test_fee_field_in_form_is_rejected(diagram, tmp_path):
    form = tmp_path / "forms" / "mini.send_letter.json"
    form.write_text(form.read_text(encoding="utf-8").replace('"letter_no": {', '"fee": {"type": "number"}, '
                                                              '"letter_no": {'), encoding="utf-8")
    assert any("P9" in p.message and p.element_id == "send_letter" for p in problems(diagram))


@pytest.mark.parametrize(("form", "old", "new", "element", "words"), [
    ("mini.send_letter.json", '"title": "移送函文号", "maxLength": 100, ', '"title": "移送函文号", ',
     "send_letter", "表单 mini.send_letter.json 的字段「移送函文号」（letter_no）缺少长度上限 maxLength"),
    ("mini.start.json", '"title": "案件名称", "maxLength": 100, ', '"title": "案件名称", ',
     "start", "表单 mini.start.json 的字段「案件名称」（title）缺少长度上限 maxLength"),
    ("mini.send_letter.json", '"letter_no": {', '"copies": {"type": "array", "title": "抄送", "items": '
     '{"type": "string", "maxLength": 10}}, "letter_no": {', "send_letter", "「抄送」（copies）缺少项数上限 maxItems"),
    ("mini.send_letter.json", '"letter_no": {', '"pages": {"type": "integer", "title": "页数", "minimum": 1}, '
     '"letter_no": {', "send_letter", "「页数」（pages）缺少数值上限 maximum"),
])
def test_validate_requires_a_bound_on_every_text_list_and_number(diagram, tmp_path, form, old, new, element, words):
    mutate(tmp_path / "forms" / form, old, new)
    found = problems(diagram)
    assert len(found) == 1 and words in found[0].message, [p.message for p in found]
    assert found[0].element_id.startswith(element) and found[0].line


def test_all_problems_are_reported_at_once(diagram):
    mutate(diagram, 'name="接收审查"', 'name="Review"')
    mutate(diagram, "<bpmn:documentation>F3：接收单位审查移送</bpmn:documentation>",
           "<bpmn:documentation>P99</bpmn:documentation>")
    mutate(diagram, 'decision == "accept"', 'decision == = "accept"')
    found = problems(diagram)
    assert {("review_transfer", "中文"), ("review_transfer", "P99"), ("flow_decision_accepted", "语法错误")} <= {
        (p.element_id, w) for p in found for w in ("中文", "P99", "语法错误") if w in p.message}


@pytest.mark.parametrize(("old", "new", "element", "words"), [
    # a flow cut: the end event can no longer be reached and the gateway leads nowhere on that side
    ('<bpmn:sequenceFlow id="flow_supervise_end" sourceRef="supervise_letter" targetRef="end_supervised" />', "",
     "end_supervised", "无法到达"),
    ('<bpmn:sequenceFlow id="flow_supervise_end" sourceRef="supervise_letter" targetRef="end_supervised" />', "",
     "supervise_letter", "没有出口"),
    ('decision == "accept"', 'decison == "accept"', "flow_decision_accepted", "未知的变量 decison"),
    ('decision == "accept"', 'lookup(decision) == "accept"', "flow_decision_accepted", "未知的函数 lookup"),
    ("working_days_after(notice_date, 3)", "working_days_after(notice_date, 3) + 1", "letter_overdue",
     "无法算出"),
    ("working_days_after(notice_date, 3)", " + ".join(["notice_date"] * 3000), "letter_overdue", "表达式过于复杂"),
    ('<bpmn:sequenceFlow id="flow_start_notify"', '<bpmn:bogus id="x1" /><bpmn:sequenceFlow id="flow_start_notify"',
     None, "不应出现在这里"),
])
def test_graph_names_timers_and_schema_are_checked(diagram, old, new, element, words):
    mutate(diagram, old, new)
    found = problems(diagram)
    hits = [p for p in found if words in p.message and (element is None or p.element_id == element)]
    assert hits and all(p.line for p in hits), [str(p) for p in found]


def test_messages_from_schema_and_engine_are_chinese(diagram):
    mutate(diagram, 'isExecutable="true"', 'isExecutable="maybe"')
    found = problems(diagram)
    assert found and all(re.search(r"[\u4e00-\u9fff]", p.message) for p in found), [str(p) for p in found]
    assert not [p for p in found if re.search(r"[A-Za-z]+ [A-Za-z]+ [A-Za-z]+", p.message)]


def test_engine_error_is_wrapped_and_translated(diagram):
    mutate(diagram, 'isExecutable="true"', 'isExecutable="false"')
    found = problems(diagram)
    assert any(p.element_id == "mini" and "未标记为可执行" in p.message and p.line for p in found), \
        [str(p) for p in found]


def test_file_named_differently_says_so_plainly(diagram, tmp_path):
    other = diagram.rename(tmp_path / "other.bpmn")
    found = problems(other)
    assert [p.message for p in found] == ["流程标识须与文件名一致：文件名为 other，流程标识为 mini"]


def test_missing_file_is_reported_as_missing_not_invalid_xml(tmp_path):
    (found,) = problems(tmp_path / "nowhere.bpmn")
    assert isinstance(found, Unchecked) and found.message == "文件不存在"
