"""Versions are data: seeding, the meaning digest, start-up with bad files, each case on its own version,
effective windows, the successor path and the scenario gate."""

from __future__ import annotations

import re
import shutil
from datetime import datetime

import pytest
from sqlalchemy import select

from runner.calendar import TZ, format_local
from runner.config import ROOT
from runner.errors import Conflict, Invalid
from runner.models import AuditEntry, HumanTask, ProcessDefinition, ProcessInstance
from runner.queries.tasks import variable_labels
from runner.runtime import deploy_definitions, make_runtime, meaning_digest
from runner.services import complete_task, start_process
from runner.versions import activate, create_successor, export_in_force, list_versions
from tests.conftest import T0, prepared_runtime, snapshot

BPMN = ROOT / "bpmn"


def _copy_diagrams(tmp_path):
    target = tmp_path / "bpmn"
    shutil.copytree(BPMN, target)
    return target


def _versions(rt, key=None):
    with rt.session() as s:
        q = select(ProcessDefinition.process_key, ProcessDefinition.version, ProcessDefinition.status)
        if key:
            q = q.where(ProcessDefinition.process_key == key)
        return sorted(s.execute(q).all())


def test_files_seed_the_first_version_of_each_procedure(rt):
    assert _versions(rt) == [(k, 1, "active") for k in
                             ("case_transfer", "info_query", "joint_enforcement", "quarterly_meeting")]
    with rt.session() as s:
        row = s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == "case_transfer")).one()
        assert row.effective_to == "2026-11-19" and row.created_at is not None and row.approved_at is not None


def test_reindented_file_makes_no_new_version(settings, tmp_path):
    bpmn = _copy_diagrams(tmp_path)
    settings = settings.with_(bpmn_dir=bpmn)
    rt = next(prepared_runtime(settings))
    path = bpmn / "case_transfer.bpmn"
    xml = path.read_text(encoding="utf-8")
    # re-indented, attributes of the process in another order, a shape moved: the meaning is the same
    moved = re.sub(r"^( +)", lambda m: " " * (len(m.group(1)) * 2), xml, flags=re.M)
    moved = re.sub(r'(<dc:Bounds x=")(\d+)', lambda m: m.group(1) + str(int(m.group(2)) + 40), moved, count=1)
    path.write_text(moved, encoding="utf-8")
    rt2 = make_runtime(settings)
    assert deploy_definitions(rt2, T0) == []
    assert _versions(rt2, "case_transfer") == [("case_transfer", 1, "active")]
    forms = rt2.bundles["case_transfer"].forms
    assert meaning_digest(moved, forms) == meaning_digest(xml, forms)
    assert meaning_digest(xml.replace("working_days_after(notice_date, 3)", "working_days_after(notice_date, 5)"),
                          forms) != meaning_digest(xml, forms)
    for r in (rt, rt2):
        r.session_factory.kw["bind"].dispose()


def test_a_broken_or_misnamed_diagram_does_not_stop_start_up(settings, tmp_path, capsys):
    bpmn = _copy_diagrams(tmp_path)
    (bpmn / "info_query.bpmn").write_text("<bpmn:definitions 这不是完整的 XML", encoding="utf-8")
    (bpmn / "case_transfer.bpmn").rename(bpmn / "移送流程-副本.bpmn")
    rt = make_runtime(settings.with_(bpmn_dir=bpmn))
    err = capsys.readouterr().err
    assert "info_query.bpmn" in err and "已跳过" in err
    assert set(rt.bundles) == {"case_transfer", "joint_enforcement", "quarterly_meeting"}
    deploy_definitions(rt, T0)
    assert {k for k, _v, _s in _versions(rt)} == {"case_transfer", "joint_enforcement", "quarterly_meeting"}
    rt.session_factory.kw["bind"].dispose()


# -- each case on its own version; windows; successor; gate; export ---------------------------------
OLD_DAY = datetime(2026, 11, 16, 9, 0, tzinfo=TZ)  # a Monday inside the first window
NEW_DAY = datetime(2026, 12, 2, 9, 0, tzinfo=TZ)  # after the first window ended (V1)
REGISTER = {"receiver_unit": "health", "transfer_reason": "not_jurisdiction",
            "basic_facts": "检查发现某诊所无执业许可证开展诊疗活动，涉嫌非法行医，属卫生健康部门管辖。",
            "evidence": [{"name": "现场检查笔录", "description": "共3页"}],
            "supervision_penalty_separated": False, "criminal_suspect": False, "urgent_onsite": False}
BASIS = dict(basis_number="源政办发〔2026〕8号", basis_title="行政执法联动机制（修订）")


def _transfer(rt, now):
    """Start a transfer and register it; return the instance id (send_letter is then open)."""
    iid = start_process(rt, "market_regulation.officer", "case_transfer", {"title": "某诊所涉嫌非法行医案"}, now)
    with rt.session() as s:
        task = s.scalars(select(HumanTask).where(HumanTask.instance_id == iid,
                                                 HumanTask.element_id == "register_case")).one()
    complete_task(rt, "market_regulation.officer", task.id, REGISTER, now)
    return iid


def _letter(rt, iid):
    with rt.session() as s:
        row = s.scalars(select(HumanTask).where(HumanTask.instance_id == iid,
                                                HumanTask.element_id == "send_letter")).one()
        inst = s.get(ProcessInstance, iid)
        return format_local(row.due_at), row.name, inst.definition.version, variable_labels(rt, inst.definition)


def _successor(rt, now=NEW_DAY, **kw):
    return create_successor(rt, "case_transfer", kw.get("start", "2026-11-20"), kw.get("end", "2031-11-19"),
                            BASIS["basis_number"], BASIS["basis_title"], "新政策", "justice.legal", now)


def _put_in_force_without_gate(rt, version, edit):
    """Test set-up only: change a stored draft's diagram and mark it active (the gate has its own tests)."""
    with rt.session() as s, s.begin():
        row = s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == "case_transfer",
                                                        ProcessDefinition.version == version)).one()
        bundle = rt.engine.parse_text(edit(row.bpmn_xml), dict(row.forms), "v")
        row.bpmn_xml, row.spec_json, row.status = bundle.xml, rt.engine.spec_json(bundle), "active"


def test_v1_refusal_names_the_role_and_the_version_library(rt):
    before = snapshot(rt)
    with pytest.raises(Invalid) as exc:
        start_process(rt, "market_regulation.officer", "case_transfer", {"title": "某案"}, NEW_DAY)
    assert "请法制审核人员在“流程版本库”页面建立并启用依据新政策的版本" in exc.value.message
    assert snapshot(rt) == before
    assert all(p.in_force is None for p in list_versions(rt, NEW_DAY))


def test_old_case_keeps_its_version_new_case_gets_the_successor(rt):
    old = _transfer(rt, OLD_DAY)
    draft = _successor(rt)
    _put_in_force_without_gate(rt, draft.version, lambda xml: xml.replace(
        "working_days_after(notice_date, 3)", "working_days_after(notice_date, 5)").replace(
        'name="发出移送函并移送材料"', 'name="发出移送函（新）"').replace(
        'name="启动责任追究"', 'name="启动责任追究（新）"'))
    new = _transfer(rt, NEW_DAY)
    due, name, version, labels = _letter(rt, old)
    assert (due, name, version) == ("2026-11-19 24:00", "发出移送函并移送材料", 1)
    new_due, new_name, new_version, new_labels = _letter(rt, new)
    assert (new_due, new_name, new_version) == ("2026-12-09 24:00", "发出移送函（新）", 2)
    assert labels["accountability"] == "启动责任追究" and new_labels["accountability"] == "启动责任追究（新）"
    # the old case still completes on its own version
    with rt.session() as s:
        task = s.scalars(select(HumanTask).where(HumanTask.instance_id == old,
                                                 HumanTask.element_id == "send_letter")).one()
    complete_task(rt, "market_regulation.officer", task.id, {
        "letter_number": "源市监移〔2026〕3号", "letter_date": "2026-11-16",
        "materials": [{"name": "移送函", "pages": 1}], "delivery": "platform"}, OLD_DAY)


def test_successor_and_activation_let_matters_start_again(rt):
    old = _transfer(rt, OLD_DAY)
    draft = _successor(rt)
    assert 'name="effectiveFrom" value="2026-11-20"' in draft.bpmn_xml and "basisNumber" in draft.bpmn_xml
    assert (draft.status, draft.effective_to, draft.basis_number) == ("draft", "2031-11-19", BASIS["basis_number"])
    row, gate = activate(rt, "case_transfer", draft.version, "justice.legal", "新政策施行", NEW_DAY)
    assert row.status == "active" and row.approved_by == "justice.legal" and len(gate.passed) >= 5
    new = _transfer(rt, NEW_DAY)
    assert _letter(rt, new)[2] == 2 and _letter(rt, old)[2] == 1
    assert _letter(rt, new)[0] == "2026-12-07 24:00"
    procs = {p.process_key: p for p in list_versions(rt, NEW_DAY)}
    assert procs["case_transfer"].in_force == 2 and procs["info_query"].in_force is None
    assert {p.process_key: p for p in list_versions(rt, OLD_DAY)}["case_transfer"].next == 2
    with rt.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "version_activate")).one()
        assert entry.actor == "justice.legal" and entry.changes["reason"] == "新政策施行"
        assert entry.changes["basis_number"] == BASIS["basis_number"]


def test_overlapping_window_is_refused_and_nothing_changes(rt):
    draft = _successor(rt, start="2026-06-01")
    before = snapshot(rt)
    with pytest.raises(Conflict) as exc:
        activate(rt, "case_transfer", draft.version, "justice.legal", "试图重叠", NEW_DAY)
    assert "与已启用的第 1 版" in exc.value.message and "2026-11-19" in exc.value.message
    assert snapshot(rt) == before


def test_gate_refuses_a_draft_whose_letter_deadline_breaks_a_scenario(rt):
    draft = _successor(rt)
    with rt.session() as s, s.begin():
        row = s.get(ProcessDefinition, draft.id)
        row.bpmn_xml = row.bpmn_xml.replace("working_days_after(notice_date, 3)", "working_days_after(notice_date, 5)")
    before = snapshot(rt)
    with pytest.raises(Invalid) as exc:
        activate(rt, "case_transfer", draft.version, "justice.legal", "延长期限", NEW_DAY)
    assert "未通过场景检验" in exc.value.message and "case_transfer__accepted" in exc.value.message
    assert "send_letter 期限" in exc.value.message
    assert snapshot(rt) == before


def test_export_round_trips(rt, tmp_path, settings):
    written = export_in_force(rt, tmp_path / "out", OLD_DAY)
    assert len(written) == 4
    again = make_runtime(settings.with_(bpmn_dir=tmp_path / "out", database_url=f"sqlite:///{tmp_path / 'r.db'}"))
    deploy_definitions(again, OLD_DAY)
    with rt.session() as s, again.session() as s2:
        ours = {r.process_key: r.checksum for r in s.scalars(select(ProcessDefinition))}
        theirs = {r.process_key: r.checksum for r in s2.scalars(select(ProcessDefinition))}
    assert ours == theirs
    again.session_factory.kw["bind"].dispose()


def test_import_refuses_an_invalid_file_and_stores_nothing(rt, tmp_path):
    from runner.versions import import_file

    bad = tmp_path / "bad.bpmn"
    bad.write_text((BPMN / "case_transfer.bpmn").read_text(encoding="utf-8").replace(
        "</bpmn:process>", "", 1), encoding="utf-8")
    before = snapshot(rt)
    with pytest.raises(Invalid) as exc:
        import_file(rt, bad, "justice.legal", NEW_DAY)
    assert "未通过检查" in exc.value.message and "bad.bpmn" in exc.value.message
    assert snapshot(rt) == before


def test_import_of_a_layout_only_change_makes_no_version_and_a_real_change_makes_a_draft(rt, tmp_path):
    from runner.versions import import_file

    target = _copy_diagrams(tmp_path)
    path = target / "case_transfer.bpmn"
    xml = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"^( +)", r"\1\1", xml, flags=re.M), encoding="utf-8")
    with pytest.raises(Conflict) as exc:
        import_file(rt, path, "justice.legal", NEW_DAY)
    assert "与第 1 版含义相同" in exc.value.message
    path.write_text(xml.replace('name="登记移送案件"', 'name="登记移送案件并通报"'), encoding="utf-8")
    row = import_file(rt, path, "justice.legal", NEW_DAY)
    assert (row.version, row.status, row.author) == (2, "draft", "justice.legal")


def test_start_up_message_says_how_to_unblock_when_nothing_is_in_force(rt):
    from runner.setup import startup_message

    assert "没有现行版本" not in startup_message(rt, "127.0.0.1", 5000, now=OLD_DAY)
    message = startup_message(rt, "127.0.0.1", 5000, now=NEW_DAY)
    assert "案件移送" in message and "liandong versions successor case_transfer --from 2026-11-20" in message
