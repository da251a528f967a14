"""Scenarios belong to a version: seeded from tests/scenarios, copied into successors and imports, edited only
in drafts, and the gate runs the draft's own scenarios (so a scenario change travels with the diagram change)."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from runner.calendar import TZ
from runner.config import ROOT
from runner.errors import Conflict, Forbidden, Invalid
from runner.models import ProcessDefinition
from runner.queries import find_viewer
from runner.runtime import scenario_texts
from runner.versions import GateRefused, activate, create_successor, run_gate, save_scenario
from tests.conftest import snapshot

NEW_DAY = datetime(2026, 12, 2, 9, 0, tzinfo=TZ)
ACCEPTED = "case_transfer__accepted"


def _row(rt, version, key="case_transfer") -> ProcessDefinition:
    with rt.session() as s:
        row = s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == key,
                                                        ProcessDefinition.version == version)).one()
        s.expunge(row)
        return row


def _draft(rt):
    return create_successor(rt, "case_transfer", "2026-11-20", "2031-11-19", "源政办发〔2026〕8号", "意见", "新政策",
                            "justice.legal", NEW_DAY)


def _only(rt, version, **texts):
    with rt.session() as s, s.begin():
        row = s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == "case_transfer",
                                                        ProcessDefinition.version == version)).one()
        row.bpmn_xml = texts.pop("_xml", row.bpmn_xml)
        row.scenarios = dict(texts)


def test_seeded_versions_carry_their_procedures_scenario_files(rt):
    files = sorted(p.stem for p in (ROOT / "tests" / "scenarios").glob("case_transfer__*.yaml"))
    assert sorted(_row(rt, 1).scenarios) == files and len(files) >= 10
    assert _row(rt, 1).scenarios[ACCEPTED] == (ROOT / "tests" / "scenarios" / f"{ACCEPTED}.yaml").read_text("utf-8")
    assert set(_row(rt, 1, "quarterly_meeting").scenarios) == set(scenario_texts("quarterly_meeting"))


def test_a_successor_copies_the_scenarios_of_its_source(rt):
    assert _draft(rt).scenarios == _row(rt, 1).scenarios


def test_gate_runs_the_drafts_own_scenarios_so_a_corrected_scenario_travels_with_the_change(rt):
    draft = _draft(rt)
    five = draft.bpmn_xml.replace("working_days_after(notice_date, 3)", "working_days_after(notice_date, 5)")
    accepted = draft.scenarios[ACCEPTED]
    _only(rt, draft.version, **{ACCEPTED: accepted, "_xml": five})
    gate = run_gate(_row(rt, 2))
    assert not gate.ok and [name for name, _f in gate.failed] == [ACCEPTED]
    assert "send_letter 期限 2026-03-10 24:00" in gate.failed[0][1][0]
    assert gate.runs[0].transcript and gate.runs[0].title.startswith("案件移送")
    # the same change with its scenario corrected in the same draft passes, while the files are untouched
    legal = find_viewer(rt, "justice.legal")
    save_scenario(rt, "case_transfer", 2, ACCEPTED, accepted.replace("2026-03-10 24:00", "2026-03-12 24:00"),
                  legal, NEW_DAY, ACCEPTED)
    assert run_gate(_row(rt, 2)).ok
    assert (ROOT / "tests" / "scenarios" / f"{ACCEPTED}.yaml").read_text("utf-8") == accepted


def test_activation_refusal_carries_the_transcript_and_changes_nothing(rt):
    draft = _draft(rt)
    broken = draft.scenarios[ACCEPTED].replace("open_tasks: [register_case]", "open_tasks: [send_letter]")
    _only(rt, draft.version, **{ACCEPTED: broken})
    before = snapshot(rt)
    with pytest.raises(GateRefused) as exc:
        activate(rt, "case_transfer", 2, "justice.legal", "新政策", NEW_DAY)
    assert exc.value.gate.failed and ACCEPTED in exc.value.message
    assert snapshot(rt) == before


def test_a_draft_without_scenarios_cannot_be_activated(rt):
    _draft(rt)
    _only(rt, 2)
    with pytest.raises(Invalid) as exc:
        activate(rt, "case_transfer", 2, "justice.legal", "新政策", NEW_DAY)
    assert "没有任何场景" in exc.value.message


def test_scenarios_change_only_in_drafts_and_only_by_legal_staff(rt):
    text = "name: x\nsteps:\n  - at: 2026-03-02T09:00:00+08:00\n"
    with pytest.raises(Conflict):
        save_scenario(rt, "case_transfer", 1, "case_transfer__x", text, find_viewer(rt, "justice.legal"), NEW_DAY)
    _draft(rt)
    with pytest.raises(Forbidden):
        save_scenario(rt, "case_transfer", 2, "case_transfer__x", text,
                      find_viewer(rt, "market_regulation.officer"), NEW_DAY)
    assert "case_transfer__x" not in _row(rt, 2).scenarios


def test_a_draft_that_fails_validation_is_not_activated(rt):
    draft = _draft(rt)
    _only(rt, draft.version, **{ACCEPTED: draft.scenarios[ACCEPTED],
                                "_xml": draft.bpmn_xml.replace('name="登记移送案件"', 'name="Register"')})
    with pytest.raises(Invalid) as exc:
        activate(rt, "case_transfer", 2, "justice.legal", "新政策", NEW_DAY)
    assert "未通过流程图检查" in exc.value.message and "元素名称须为中文" in exc.value.message
