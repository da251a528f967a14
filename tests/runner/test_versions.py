"""Versions are data: seeding, the meaning digest, start-up with bad files, each case on its own version,
effective windows, the successor path and the scenario gate."""

from __future__ import annotations

import re
import shutil

from sqlalchemy import select

from runner.config import ROOT
from runner.models import ProcessDefinition
from runner.runtime import deploy_definitions, make_runtime, meaning_digest
from tests.conftest import T0, prepared_runtime

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
