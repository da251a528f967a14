"""The console script, run as a person would run it."""

import subprocess
import sys

from runner.config import ROOT
from runner.org import ROLES
from tests.runner.conftest import FIXTURES


def liandong(*args, env=None):
    return subprocess.run([sys.executable, "-m", "runner.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)


def test_deadline_across_spring_festival_make_up_day():
    out = liandong("deadline", "--from", "2026-02-13", "--working-days", "3")
    assert out.returncode == 0
    assert out.stdout.splitlines()[0] == "2026-02-25"


def test_deadline_across_national_day():
    out = liandong("deadline", "--from", "2026-09-30", "--working-days", "3")
    assert out.stdout.splitlines()[0] == "2026-10-10"


def test_deadline_into_unloaded_year_fails_naming_the_year():
    out = liandong("deadline", "--from", "2026-12-30", "--working-days", "3")
    assert out.returncode == 1 and "2027" in out.stderr and out.stdout == ""


def test_deadline_rejects_bad_date():
    out = liandong("deadline", "--from", "30/12/2026", "--working-days", "3")
    assert out.returncode == 2 and "YYYY-MM-DD" in out.stderr


def test_users_demo_prints_tab_separated_accounts():
    out = liandong("users", "--demo")
    rows = [line.split("\t") for line in out.stdout.splitlines()]
    assert len(rows) > 30 and all(len(r) == 4 for r in rows)
    assert {r[3] for r in rows} <= set(ROLES)
    assert {"justice.reviewer", "supervision.officer", "county.head"} <= {r[0] for r in rows}


def test_validate_reports_problems_and_exit_code(tmp_path):
    broken = tmp_path / "mini.bpmn"
    broken.write_text((FIXTURES / "mini.bpmn").read_text(encoding="utf-8").replace(
        'value="officer" />\n          <spiffworkflow:property name="unit" value="receiver_unit"',
        'value="chief" />\n          <spiffworkflow:property name="unit" value="receiver_unit"'), encoding="utf-8")
    (tmp_path / "forms").symlink_to(FIXTURES / "forms")
    out = liandong("validate", str(broken))
    assert out.returncode == 1
    assert "mini.bpmn:" in out.stdout and "review_transfer" in out.stdout and "chief" in out.stdout
    assert liandong("validate", str(FIXTURES / "mini.bpmn")).returncode == 0


def test_simulate_failing_expectation_says_what_and_exits_nonzero(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: 失败示例\nsteps:\n  - at: 2026-03-02T09:00:00+08:00\n"
        "  - start: case_transfer\n    as: nobody\n", encoding="utf-8")
    out = liandong("simulate", str(scenario))
    assert out.returncode == 1
    assert "被拒绝" in out.stdout and "0 passed, 1 failed" in out.stdout


def test_broken_diagram_is_reported_and_left_out_and_init_db_goes_on(tmp_path):
    import os
    import shutil

    (tmp_path / "bpmn").mkdir()
    (tmp_path / "bpmn" / "mini.bpmn").write_text("<not-bpmn", encoding="utf-8")
    shutil.copytree(ROOT / "bpmn" / "forms", tmp_path / "bpmn" / "forms")
    shutil.copy(ROOT / "bpmn" / "info_query.bpmn", tmp_path / "bpmn" / "查询-副本.bpmn")  # name ≠ process id
    env = {**os.environ, "LIANDONG_BPMN_DIR": str(tmp_path / "bpmn"),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    out = liandong("init-db", env=env)
    assert out.returncode == 0, out.stderr
    assert "mini.bpmn" in out.stderr and "已跳过" in out.stderr and "Traceback" not in out.stderr
    assert "新部署流程版本：1" in out.stdout


def test_validate_exit_codes_clean_problems_and_could_not_check(tmp_path):
    assert liandong("validate").returncode == 0  # our own diagrams are clean
    missing = liandong("validate", str(tmp_path / "nowhere.bpmn"))
    assert missing.returncode == 2 and "文件不存在" in missing.stdout and "XML" not in missing.stdout
    junk = tmp_path / "junk.bpmn"
    junk.write_bytes(b"<a><b></a>")
    broken = liandong("validate", str(junk))
    assert broken.returncode == 1 and "不是合法的 XML" in broken.stdout


def test_validate_report_lists_blockers_for_a_foreign_diagram():
    out = liandong("validate", "--report", str(ROOT / "tests" / "fixtures" / "bpmn-reference" / "A.4.1.bpmn"))
    assert out.returncode == 1
    assert "无法在此运行的原因" in out.stdout and "消息流" in out.stdout and "不符合本系统规范之处" in out.stdout


def test_trace_prints_every_rule_with_its_elements_scenarios_and_the_gaps(tmp_path):
    import os

    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'trace.db'}", "LIANDONG_INSTANCE_DIR": str(tmp_path)}
    assert liandong("init-db", env=env).returncode == 0
    out = liandong("trace", "--date", "2026-12-02", env=env)
    assert out.returncode == 1  # gaps found
    lines = out.stdout.splitlines()
    assert lines[0] == "规则追溯（2026-12-02）" and "今日无现行版本" in lines[1]
    p5 = lines.index(next(line for line in lines if line.startswith("P5 ")))
    assert "「发出移送函并移送材料」(send_letter)" in lines[p5 + 1]
    others = len(list((ROOT / "tests" / "scenarios").glob("case_transfer__*.yaml"))) - 1
    assert lines[p5 + 2] == f"  场景：case_transfer__receiver_notified；另有 {others} 个场景经由承载它的环节"
    assert "没有场景检验的规则：F2、V1" in out.stdout and "没有环节承载的规则：无" in out.stdout
    assert liandong("trace", "--date", "2026-13-01", env=env).returncode == 2
