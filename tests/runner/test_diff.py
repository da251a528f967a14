"""The semantic diff of two versions: what changed, in Chinese, and the same elements bpmn-js-differ marks."""

import copy
import json
import re
import shutil
import subprocess

import pytest

from runner.config import ROOT
from runner.diff import diff_versions

XML = (ROOT / "bpmn" / "case_transfer.bpmn").read_text(encoding="utf-8")
FORMS = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in (ROOT / "bpmn" / "forms").glob("case_transfer.*")}
CONFIG = {"urgent_onsite_limit": "PT2H", "urgent_query_limit": "PT2H"}
ID = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")  # an element id or a variable name: never in the text people read


def edit(*pairs, xml=XML):
    for old, new in pairs:
        assert old in xml, old
        xml = xml.replace(old, new)
    return xml


def changed(xml_b, forms_b=None):
    return diff_versions(XML, FORMS, xml_b, forms_b or FORMS, CONFIG)


def lines_of(result, element_id):
    (item,) = [c for c in result.changes if c.element_id == element_id]
    return item.details


def assert_readable(result):
    for c in result.changes + result.layout:
        for text in [c.name, c.type_zh, *c.details]:
            assert not ID.search(text), text


def test_letter_deadline_three_to_five_working_days_shows_both():
    result = changed(edit(("working_days_after(notice_date, 3)", "working_days_after(notice_date, 5)")))
    assert result.ids("changed") == {"letter_overdue"}
    (line,) = lines_of(result, "letter_overdue")
    assert "3 个工作日" in line and "5 个工作日" in line and line.index("3 个") < line.index("5 个")
    assert "通报之日" in line
    assert [c.name for c in result.changes] == ["移送函期限届满"]
    assert not result.layout_only and not result.identical
    assert_readable(result)


def test_name_change_names_old_and_new():
    result = changed(edit(('name="审查移送案件"', 'name="审查移送的案件"')))
    assert lines_of(result, "review_transfer") == ["名称：「审查移送案件」改为「审查移送的案件」"]


def test_condition_change_reads_field_titles_and_option_titles():
    result = changed(edit(('review_decision == "accept"', 'review_decision == "return_incomplete"')))
    (line,) = lines_of(result, "flow_accept")
    assert "「审查结论」为「受理」" in line and "「审查结论」为「材料不全，退回补充」" in line
    assert_readable(result)


def test_assignment_change_shows_role_and_unit_names():
    xml = edit(('<spiffworkflow:property name="role" value="officer" />\n          '
                '<spiffworkflow:property name="unit" value="receiver_unit" />\n          '
                '<spiffworkflow:property name="formJsonSchemaFilename" value="case_transfer.review_transfer.json" />',
                '<spiffworkflow:property name="role" value="unit_head" />\n          '
                '<spiffworkflow:property name="unit" value="&quot;justice_bureau&quot;" />\n          '
                '<spiffworkflow:property name="formJsonSchemaFilename" value="case_transfer.review_transfer.json" />'))
    lines = lines_of(changed(xml), "review_transfer")
    assert "办理角色：原为「执法人员」，改为「单位负责人」" in lines
    assert "办理单位：原为「接收单位」，改为「县司法局」" in lines


def test_lane_move_is_an_assignment_change_of_the_step():
    xml = edit(("<bpmn:flowNodeRef>respond_return</bpmn:flowNodeRef>\n", ""),
               ("<bpmn:flowNodeRef>coordinate_dispute</bpmn:flowNodeRef>",
                "<bpmn:flowNodeRef>coordinate_dispute</bpmn:flowNodeRef><bpmn:flowNodeRef>respond_return"
                "</bpmn:flowNodeRef>"))
    (line,) = lines_of(changed(xml), "respond_return")
    assert line == "所在泳道：「移送单位执法人员」改为「县司法局（联动执法领导小组办公室）」"


def test_form_fields_added_removed_and_required_changed_field_by_field():
    forms = copy.deepcopy(FORMS)
    review = forms["case_transfer.review_transfer.json"]
    review["required"] = []
    review["properties"]["review_note"] = {"type": "string", "title": "审查意见", "maxLength": 500}
    del review["properties"]["jurisdiction_basis"]
    review["properties"]["return_reasons"]["maxLength"] = 2000
    result = changed(XML, forms)
    lines = lines_of(result, "review_transfer")
    assert "表单：「审查结论」：必填改为选填" in lines
    assert "表单：新增字段「审查意见」（文本，选填）" in lines
    assert "表单：删除字段「不属本单位管辖的依据」" in lines
    assert "表单：「退回理由」：最多字数由 5000 改为 2000" in lines
    # the XML is the same: only this module knows, and says so for the diagram's colouring
    assert result.form_only == ["review_transfer"]
    assert_readable(result)


def test_rule_citation_change_is_named():
    result = changed(edit(("<bpmn:documentation>P7：有处罚权的机关已现场处置</bpmn:documentation>",
                           "<bpmn:documentation>P7、S4：有处罚权的机关已现场处置</bpmn:documentation>")))
    lines = lines_of(result, "end_onsite_handled")
    assert "依据的规则：新增引用 S4" in lines and any(line.startswith("说明：") for line in lines)


def test_window_of_the_procedure_is_a_change_of_the_pool():
    result = changed(edit(('name="effectiveTo" value="2026-11-19"', 'name="effectiveTo" value="2027-11-19"')))
    assert lines_of(result, "case_transfer_pool") == ["施行截止日：原为「2026-11-19」，改为「2027-11-19」"]


def test_layout_only_change_is_reported_as_layout_only():
    moved = XML.replace('<dc:Bounds x="', '<dc:Bounds x="1', 3)
    result = changed(moved)
    assert result.layout_only and not result.changes
    assert result.layout and all(c.kind == "layout" for c in result.layout)
    reindented = XML.replace("\n      ", "\n        ")
    assert changed(reindented).layout_only


def test_identical_versions_have_no_changes():
    result = changed(XML)
    assert result.identical and not result.changes and not result.layout


def test_added_and_removed_elements():
    xml = edit(('<bpmn:sequenceFlow id="flow_criminal_recorded" sourceRef="record_criminal_transfer" '
                'targetRef="end_criminal_transferred" />',
                '<bpmn:sequenceFlow id="flow_criminal_recorded" sourceRef="record_criminal_transfer" '
                'targetRef="end_criminal_transferred" /><bpmn:manualTask id="archive_case" name="归档" />'))
    result = changed(xml)
    assert result.ids("added") == {"archive_case"}
    back = diff_versions(xml, FORMS, XML, FORMS, CONFIG)
    assert back.ids("removed") == {"archive_case"} and [c.name for c in back.changes] == ["归档"]


MUTATIONS = {
    "timer": [("working_days_after(notice_date, 3)", "working_days_after(notice_date, 5)")],
    "name": [('name="审查移送案件"', 'name="审查移送的案件"')],
    "documentation": [("P7：有处罚权的机关已现场处置", "P7、S4：有处罚权的机关已现场处置")],
    "condition": [('review_decision == "accept"', 'review_decision != "accept"')],
    "unit": [('value="initiator_unit"', 'value="receiver_unit"')],
    "window": [('name="effectiveTo" value="2026-11-19"', 'name="effectiveTo" value="2027-11-19"')],
    "default": [('default="flow_not_criminal"', 'default="flow_criminal"')],
    "lane": [("<bpmn:flowNodeRef>respond_return</bpmn:flowNodeRef>\n", ""),
             ("<bpmn:flowNodeRef>coordinate_dispute</bpmn:flowNodeRef>",
              "<bpmn:flowNodeRef>coordinate_dispute</bpmn:flowNodeRef><bpmn:flowNodeRef>respond_return"
              "</bpmn:flowNodeRef>")],
    "layout": [('<dc:Bounds x="1140" y="90"', '<dc:Bounds x="1150" y="90"')],
    "added": [("<bpmn:flowNodeRef>end_returned</bpmn:flowNodeRef>",
               "<bpmn:flowNodeRef>end_returned</bpmn:flowNodeRef><bpmn:flowNodeRef>archive_case</bpmn:flowNodeRef>"),
              ('<bpmn:endEvent id="end_criminal_transferred"',
               '<bpmn:manualTask id="archive_case" name="归档" /><bpmn:endEvent id="end_criminal_transferred"')],
    "removed_flow": [('<bpmn:sequenceFlow id="flow_start" sourceRef="start_case" targetRef="register_case" />', "")],
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_python_diff_and_bpmn_js_differ_mark_the_same_elements(name, tmp_path):
    if shutil.which("node") is None or not (ROOT / "node_modules" / "bpmn-js-differ").exists():
        pytest.skip("node and node_modules (npm ci) are needed to run bpmn-js-differ")
    xml = edit(*MUTATIONS[name])
    (tmp_path / "a.bpmn").write_text(XML, encoding="utf-8")
    (tmp_path / "b.bpmn").write_text(xml, encoding="utf-8")
    out = subprocess.run(["node", str(ROOT / "tests" / "webui" / "differ_ids.mjs"), str(tmp_path / "a.bpmn"),
                          str(tmp_path / "b.bpmn")], capture_output=True, text=True, timeout=60, check=True)
    js = json.loads(out.stdout)
    result = changed(xml)
    py = {"added": sorted(result.ids("added")), "removed": sorted(result.ids("removed")),
          "changed": sorted(result.ids("changed")), "layout": sorted(c.element_id for c in result.layout)}
    assert py == js
    assert any(py.values())


def test_an_unnamed_gateway_is_named_by_the_step_before_it():
    result = changed(edit(("P5：进入发出移送函（含按协调决定改向指定单位后重新发函，S1）",
                           "P5：进入发出移送函")))
    (item,) = result.changes
    assert item.element_id == "merge_letter" and item.type_zh == "排他网关"
    assert item.name == "「是否需立即现场处置？」之后的排他网关"
    assert "依据的规则：不再引用 S1" in item.details


def test_a_timer_not_readable_as_working_days_still_says_it_changed():
    odd = edit(("working_days_after(notice_date, 3)", 'max("2026-12-01T00:00:00+08:00", now_iso())'))
    odder = edit(("working_days_after(notice_date, 3)", 'max("2026-12-02T00:00:00+08:00", now_iso())'))
    result = diff_versions(odd, FORMS, odder, FORMS, CONFIG)
    assert lines_of(result, "letter_overdue") == ["期限的计算方式有变化（无法读作工作日期限，请在流程图中查看）"]
    (line,) = lines_of(changed(odd), "letter_overdue")
    assert line == "期限：原为通报之日起 3 个工作日，改为按流程图设定的时间"
