"""The validator requires every 督办 (taskKind supervision) to name the late unit and the late task, so the
supervision task can say what was late and by when."""

import shutil

import pytest

from runner.calendar import WorkingCalendar
from runner.config import ROOT
from runner.engine import Engine
from runner.rules import load_rules
from runner.validate import validate_file

ENGINE = Engine(WorkingCalendar.load())
RULES = load_rules(ROOT / "policy" / "RULES.md")
LATE_TASK = '<spiffworkflow:property name="lateTask" value="send_letter" />'


@pytest.fixture
def transfer(tmp_path):
    shutil.copytree(ROOT / "bpmn" / "forms", tmp_path / "forms")
    path = tmp_path / "case_transfer.bpmn"
    shutil.copy(ROOT / "bpmn" / "case_transfer.bpmn", path)
    return path


@pytest.mark.parametrize(("new", "words"), [
    ("", "lateTask"),
    ('<spiffworkflow:property name="lateTask" value="no_such_task" />', "no_such_task"),
    ('<spiffworkflow:property name="lateTask" value="letter_overdue" />', "letter_overdue"),
])
def test_supervision_task_must_name_a_late_user_task(transfer, new, words):
    text = transfer.read_text(encoding="utf-8")
    assert LATE_TASK in text
    transfer.write_text(text.replace(LATE_TASK, new), encoding="utf-8")
    found = [p for p in validate_file(transfer, ENGINE, RULES) if p.element_id == "supervise_letter"]
    assert any(words in p.message for p in found), [str(p) for p in validate_file(transfer, ENGINE, RULES)]
    assert all(p.line for p in found)


def test_shipped_supervision_tasks_name_their_late_task(transfer):
    assert validate_file(transfer, ENGINE, RULES) == []
