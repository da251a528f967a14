"""`liandong diff KEY A B`: the comparison as Chinese text; an unknown version is a Chinese refusal (exit 1)."""

from runner.cli import main
from tests.compare_support import LETTER_3, LETTER_5, add_version
from tests.conftest import T0


def test_diff_prints_the_deadline_before_and_after(rt, database_url, monkeypatch, capsys):
    version = add_version(rt, "case_transfer", T0, (LETTER_3, LETTER_5))
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["diff", "case_transfer", "1", str(version)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"「案件移送」第 1 版 → 第 {version} 版："
    assert "【修改】定时边界事件「移送函期限届满」" in out
    assert "期限：原为通报之日起 3 个工作日，改为通报之日起 5 个工作日" in out
    assert "letter_overdue" not in out


def test_diff_of_an_unknown_version_is_refused_in_chinese(rt, database_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["diff", "case_transfer", "1", "7"]) == 1
    assert "没有第 7 版" in capsys.readouterr().err
