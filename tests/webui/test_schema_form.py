"""The JSON-Schema form: every widget the issue names, parsed back to JSON shaped by the schema."""

import io

from werkzeug.datastructures import FileStorage, MultiDict

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
