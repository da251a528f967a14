"""The answer to an information query follows the catalogue entry it chose (F4): what the entry's answer mode
implies is required, and that mode is the case's, never a posted value."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import select

from runner.config import ROOT
from runner.errors import Invalid
from runner.forms import for_case
from runner.models import HumanTask
from runner.services import complete_task, start_process

T = datetime.fromisoformat("2026-03-05T09:00:00+08:00")
QUERY = {"title": "查询某诊所执业登记信息", "target_unit": "health", "category": "执法信息资源目录",
         "query_content": "某诊所的执业登记事项。", "purpose": "核实执业主体。",
         "legal_basis": "《行政处罚法》第五十五条。",
         "urgent": False, "standing_authorisation": True}
BASE = {"answer_decision": "provide", "sharing_method": "written", "provided_info": "见附件。"}
NEEDS = {"lookup": ("查询到的数据项", {"lookup_values": [{"field": "许可证状态", "value": "有效"}]}),
         "copy": ("文书复印件", {"copy_files": [{"file": "a" * 64 + "/决定书.pdf"}]}),
         "statistics": ("统计数据", {"statistics_figures": [{"item": "处罚件数", "figure": 3, "period": "2025年"}]})}


def _complete(rt, iid, element, data):
    with rt.session() as s:
        task = s.scalars(select(HumanTask).where(HumanTask.instance_id == iid, HumanTask.status == "open",
                                                 HumanTask.element_id == element)).one()
    return complete_task(rt, "health.officer", task.id, data, T)


@pytest.mark.parametrize("mode", sorted(NEEDS))
def test_the_answer_requires_what_the_entry_mode_implies(rt, mode):
    iid = start_process(rt, "market_regulation.officer", "info_query", QUERY | {"answer_mode": mode}, T)
    _complete(rt, iid, "receive_query", {"receipt_confirmed": True})
    message, fields = NEEDS[mode]
    other = next(m for m in NEEDS if m != mode)
    with pytest.raises(Invalid) as refused:  # another mode's content, and a posted mode, do not do
        _complete(rt, iid, "answer_query", BASE | NEEDS[other][1] | {"answer_mode": other})
    assert message in str(refused.value) + str(getattr(refused.value, "errors", ""))
    _complete(rt, iid, "answer_query", BASE | fields)
    with rt.session() as s:
        assert s.scalars(select(HumanTask).where(HumanTask.instance_id == iid, HumanTask.status == "open")).all() == []


def test_without_an_entry_no_mode_content_is_required(rt):
    iid = start_process(rt, "market_regulation.officer", "info_query", QUERY | {"standing_authorisation": False}, T)
    _complete(rt, iid, "receive_query", {"receipt_confirmed": True})
    _complete(rt, iid, "authenticate_query", {"auth_result": "pass"})
    _complete(rt, iid, "answer_query", BASE)


@pytest.mark.parametrize("mode", sorted(NEEDS))
def test_the_answer_form_shows_only_what_the_entry_mode_calls_for(mode):
    schema = json.loads((ROOT / "bpmn" / "forms" / "info_query.answer_query.json").read_text(encoding="utf-8"))
    shown = set(for_case(schema, {"answer_mode": mode})["properties"])
    field = next(iter(NEEDS[mode][1]))
    assert field in shown and not (shown & {next(iter(v[1])) for m, v in NEEDS.items() if m != mode})
    assert not shown & {"lookup_values", "copy_files", "statistics_figures"} - {field}
    assert {"lookup_values", "copy_files", "statistics_figures"}.isdisjoint(for_case(schema, {})["properties"])
