"""Saving a diagram edited in the browser: drafts updated in place, new drafts from active versions,
refusals that leave the database unchanged, and a layout-only change recognised as such."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import select

from runner.drafts import DraftRefused, compare_base, save_draft
from runner.errors import Conflict, Invalid, NotFound
from runner.models import AuditEntry, ProcessDefinition
from runner.runtime import meaning_digest
from tests.conftest import T0, snapshot

OLD_TIMER = "working_days_after(notice_date, 3)"
NEW_TIMER = "working_days_after(notice_date, 5)"


def _version(rt, key, version) -> ProcessDefinition:
    with rt.session() as s:
        return s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == key,
                                                         ProcessDefinition.version == version)).one()


def _base(rt):
    row = _version(rt, "case_transfer", 1)
    return row.bpmn_xml, copy.deepcopy(row.forms)


def _count(rt, key="case_transfer") -> int:
    with rt.session() as s:
        return len(s.scalars(select(ProcessDefinition.id).where(ProcessDefinition.process_key == key)).all())


def test_editing_the_active_version_makes_a_new_draft(rt):
    xml, forms = _base(rt)
    assert OLD_TIMER in xml
    result = save_draft(rt, "case_transfer", 1, xml.replace(OLD_TIMER, NEW_TIMER), forms, "justice.legal", T0,
                        "移送函期限改为5个工作日")
    assert (result.version, result.created, result.layout_only) == (2, True, False)
    draft, old = _version(rt, "case_transfer", 2), _version(rt, "case_transfer", 1)
    assert draft.status == "draft" and NEW_TIMER in draft.bpmn_xml and draft.author == "justice.legal"
    assert old.status == "active" and OLD_TIMER in old.bpmn_xml
    assert draft.checksum == meaning_digest(draft.bpmn_xml, draft.forms) != old.checksum
    assert draft.effective_from == old.effective_from and draft.forms == old.forms
    with rt.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "version_draft")).one()
    assert entry.actor == "justice.legal" and entry.changes["version"] == 2


def test_editing_a_draft_updates_it_in_place(rt):
    xml, forms = _base(rt)
    save_draft(rt, "case_transfer", 1, xml.replace(OLD_TIMER, NEW_TIMER), forms, "justice.legal", T0)
    draft = _version(rt, "case_transfer", 2)
    forms["case_transfer.send_letter.json"]["title"] = "发出移送函（新）"
    result = save_draft(rt, "case_transfer", 2, draft.bpmn_xml.replace("发出移送函并移送材料", "发出移送函及材料"),
                        forms, "justice.legal", T0, "改名")
    assert (result.version, result.created, result.layout_only) == (2, False, False)
    assert _count(rt) == 2
    again = _version(rt, "case_transfer", 2)
    assert "发出移送函及材料" in again.bpmn_xml and NEW_TIMER in again.bpmn_xml
    assert again.forms["case_transfer.send_letter.json"]["title"] == "发出移送函（新）"
    assert again.checksum != draft.checksum


def test_a_layout_only_change_of_a_draft_is_recognised(rt):
    xml, forms = _base(rt)
    save_draft(rt, "case_transfer", 1, xml.replace(OLD_TIMER, NEW_TIMER), forms, "justice.legal", T0)
    draft = _version(rt, "case_transfer", 2)
    moved = draft.bpmn_xml.replace('<dc:Bounds x="', '<dc:Bounds x="1', 1)
    assert moved != draft.bpmn_xml
    result = save_draft(rt, "case_transfer", 2, moved, forms, "justice.legal", T0)
    assert result.layout_only and not result.created and "只调整了版式" in "".join(result.notes)
    after = _version(rt, "case_transfer", 2)
    assert after.bpmn_xml == moved and after.checksum == draft.checksum


def test_a_layout_only_change_of_the_active_version_makes_no_version(rt):
    xml, forms = _base(rt)
    before = snapshot(rt)
    with pytest.raises(Conflict, match="第 1 版含义相同"):
        save_draft(rt, "case_transfer", 1, xml.replace('<dc:Bounds x="', '<dc:Bounds x="1', 1), forms,
                   "justice.legal", T0)
    assert snapshot(rt) == before


def test_a_diagram_with_problems_is_refused_with_all_of_them_and_nothing_stored(rt):
    xml, forms = _base(rt)
    broken = (xml.replace('<spiffworkflow:property name="role" value="officer" />', "", 1)
              .replace(OLD_TIMER, "working_days_after(no_such_date, 5)"))
    before = snapshot(rt)
    with pytest.raises(DraftRefused) as caught:
        save_draft(rt, "case_transfer", 1, broken, forms, "justice.legal", T0)
    messages = [p.message for p in caught.value.problems]
    assert len(messages) >= 2
    assert any("角色" in m for m in messages) and any("no_such_date" in m for m in messages)
    assert snapshot(rt) == before


def test_a_missing_form_is_a_problem(rt):
    xml, forms = _base(rt)
    del forms["case_transfer.send_letter.json"]
    before = snapshot(rt)
    with pytest.raises(DraftRefused) as caught:
        save_draft(rt, "case_transfer", 1, xml.replace(OLD_TIMER, NEW_TIMER), forms, "justice.legal", T0)
    assert any("case_transfer.send_letter.json" in p.message for p in caught.value.problems)
    assert snapshot(rt) == before


@pytest.mark.parametrize("xml", ["", "<not-closed", "<?xml version='1.0'?><a/>"])
def test_bad_xml_is_refused(rt, xml):
    _, forms = _base(rt)
    before = snapshot(rt)
    with pytest.raises(Invalid) as caught:
        save_draft(rt, "case_transfer", 1, xml, forms, "justice.legal", T0)
    assert caught.value.status == 422 and caught.value.message
    assert snapshot(rt) == before


@pytest.mark.parametrize("forms", [[], {"../x.json": {}}, {"a.json": [1]}, {"a.txt": {}}])
def test_bad_forms_are_refused(rt, forms):
    xml, _ = _base(rt)
    before = snapshot(rt)
    with pytest.raises(Invalid):
        save_draft(rt, "case_transfer", 1, xml, forms, "justice.legal", T0)
    assert snapshot(rt) == before


def test_a_diagram_of_another_procedure_is_refused(rt):
    other = _version(rt, "info_query", 1)
    before = snapshot(rt)
    with pytest.raises(Invalid, match="info_query"):
        save_draft(rt, "case_transfer", 1, other.bpmn_xml, other.forms, "justice.legal", T0)
    assert snapshot(rt) == before


def test_an_unknown_base_version_is_not_found(rt):
    xml, forms = _base(rt)
    with pytest.raises(NotFound):
        save_draft(rt, "case_transfer", 9, xml, forms, "justice.legal", T0)


def test_defaults_left_out_by_bpmn_js_are_no_change_of_meaning(rt):
    """bpmn-js leaves out attributes at their BPMN default (cancelActivity="true") when it saves."""
    xml, forms = _base(rt)
    assert 'cancelActivity="true"' in xml
    before = snapshot(rt)
    with pytest.raises(Conflict, match="第 1 版含义相同"):
        save_draft(rt, "case_transfer", 1, xml.replace(' cancelActivity="true"', ""), forms, "justice.legal", T0)
    assert snapshot(rt) == before
    # but a non-default value is a change
    result = save_draft(rt, "case_transfer", 1, xml.replace('cancelActivity="true"', 'cancelActivity="false"', 1),
                        forms, "justice.legal", T0)
    assert result.created


def test_a_draft_is_compared_with_the_active_version(rt):
    xml, forms = _base(rt)
    assert compare_base(rt, "case_transfer", 1) is None  # nothing else to compare with
    save_draft(rt, "case_transfer", 1, xml.replace(OLD_TIMER, NEW_TIMER), forms, "justice.legal", T0)
    assert compare_base(rt, "case_transfer", 2) == 1
    assert compare_base(rt, "case_transfer", 1) is None  # an older active version has no base of its own
