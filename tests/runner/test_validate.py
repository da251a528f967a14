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


# -- scripts, sample data and hostile expressions (issue 8: "unknown functions or variables in expressions",
#    "timer expressions that do not evaluate on sample data", "never crashes") -----------------------------------
SCRIPT = "<bpmn:script>notice_date = today()</bpmn:script>"


def script_line(path) -> int:
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if "<bpmn:script>" in line)


@pytest.mark.parametrize(("script", "offset", "words"), [
    ("notice_date = todey()", 0, "脚本中使用了未知的函数 todey"),
    ("notice_date = today()\nfirst = notice_date\nlast = first_day", 2, "脚本中使用了未知的变量 first_day"),
    ("notice_date = today()\nif title:\n    notice_date = today(\n", 2, "脚本语法错误"),
])
def test_scripts_are_checked_for_unknown_names_and_syntax_at_their_line(diagram, script, offset, words):
    line = script_line(diagram)
    mutate(diagram, SCRIPT, f"<bpmn:script>{script}</bpmn:script>")
    hits = [p for p in problems(diagram) if words in p.message]
    assert len(hits) == 1, [str(p) for p in problems(diagram)]
    assert hits[0].element_id == "notify_receiver" and hits[0].line == line + offset


def test_names_a_script_sets_and_form_fields_are_known_to_scripts(diagram):
    mutate(diagram, SCRIPT, "<bpmn:script>notice_date = today()\nlabel = title + str(len(receiver_unit))\n"
                            "names = [n for n in [label] if n]</bpmn:script>")
    assert problems(diagram) == []


def test_each_branch_of_a_deadline_a_script_computes_is_tried_on_sample_data(diagram):
    # the urgent branch computes; the other does not: both are tried, whatever the sample's flag is
    mutate(diagram, SCRIPT, '<bpmn:script>notice_date = today()\ndue = working_days_after(notice_date, 3) if title '
                            'else working_days_after("not a date", 3)</bpmn:script>')
    mutate(diagram, "working_days_after(notice_date, 3)</bpmn:timeDate>", "due</bpmn:timeDate>")
    (found,) = problems(diagram)
    assert found.element_id == "letter_overdue" and found.line and "无法算出时间" in found.message
    assert "not a date" in found.message


@pytest.mark.parametrize("expression", [
    '"a" * 99999 * 99999',
    "sum(sum(range(99999)) for x in range(99999))",
    "[0] * 99999 * 99999",
    "(lambda f: f(f))(lambda f: f(f))",
    "2 ** 99999 ** 99999",
])
def test_a_hostile_timer_expression_gets_a_message_and_is_never_run(diagram, expression):
    mutate(diagram, "working_days_after(notice_date, 3)", expression)
    found = [p for p in problems(diagram) if p.element_id == "letter_overdue"]
    assert found and all(p.line and re.search(r"[\u4e00-\u9fff]", p.message) for p in found), [str(p) for p in found]
    assert any("无法在示例数据上试算" in p.message for p in found)


def test_a_very_long_flat_condition_is_checked_without_crashing(diagram):
    mutate(diagram, 'decision == "accept"', " or ".join(['decision == "accept"'] * 20000 + ["decison"]))
    found = [p.message for p in problems(diagram) if p.element_id == "flow_decision_accepted"]
    assert found == ["条件表达式中使用了未知的变量 decison"]


def test_sample_data_follows_the_form_schemas():
    from runner.validate import _sample

    assert _sample({"type": "string", "oneOf": [{"const": "accept", "title": "受理"}]}) == "accept"
    assert _sample({"type": "integer", "minimum": 3, "maximum": 9}) == 3
    assert _sample({"type": "object", "properties": {"called_at": {"type": "string", "format": "date-time"},
                                                     "n": {"type": "number"}}}) == {
        "called_at": "2026-03-02T09:00:00+08:00", "n": 1.0}
    assert _sample({"type": "array", "items": {"type": "string", "format": "date"}}) == ["2026-03-02"]
    assert _sample({"type": "boolean"}) is True


def test_an_unknown_name_in_an_assignment_is_named_with_the_property_people_know(diagram):
    mutate(diagram, '<spiffworkflow:property name="lateUnit" value="initiator_unit" />',
           '<spiffworkflow:property name="lateUnit" value="sender_unit" />')
    hits = [p for p in problems(diagram) if p.element_id == "supervise_letter" and "sender_unit" in p.message]
    assert [p.message for p in hits] == ["逾期单位（lateUnit）的表达式中使用了未知的变量 sender_unit"]
    assert hits[0].line
