"""The holiday schedule as data: loading and its entry errors, the override of chinesecalendar, the banner,
and waiting deadlines counted again when a holiday changes.

No real 2027 State Council schedule was available when this was written: the 2027 schedule below is a
TEST FIXTURE with made-up dates, labelled as such in its document number."""

import json
from datetime import date, datetime

import pytest
from sqlalchemy import select

from runner.calendar import TZ, YearNotLoaded
from runner.cli import main
from runner.holidays import (
    ScheduleInvalid,
    load_schedule,
    parse_schedule,
    preview,
    schedule_banner,
    year_of_package,
)
from runner.models import AuditEntry, CalendarYear, HumanTask, ProcessInstance, Timer
from runner.runtime import spec_for
from runner.services import fire_due_timers, start_process
from tests.conftest import T0, snapshot
from tests.runner.conftest import SENDER, START_DATA

TASK_AND_TIMER = "发出移送函、移送函逾期"
FIXTURE_2027 = {  # TEST FIXTURE, not the State Council's schedule
    "year": 2027, "document": "测试用虚构文号〔2026〕0号",
    "holidays": [{"name": "元旦", "dates": ["2027-01-01"]},
                 {"name": "春节", "from": "2027-02-06", "to": "2027-02-12"}],
    "workdays": ["2027-02-13"],
}


def text_of(doc: dict) -> str:
    return json.dumps(doc, ensure_ascii=False)


def with_2026_holiday(rt, extra: str) -> dict:
    """The package's 2026 schedule with EXTRA (a weekday) made a holiday: a changed schedule for this year."""
    base = year_of_package(rt.calendar, 2026)
    off = [d.isoformat() for d in base.holidays[0][1]]
    return {"year": 2026, "document": "测试用虚构文号〔2026〕1号",
            "holidays": [{"name": "国务院安排", "dates": off}, {"name": "测试假日", "dates": [extra]}],
            "workdays": [d.isoformat() for d in base.workdays]}


def test_schedule_reads_json_and_yaml_with_ranges():
    s = parse_schedule(text_of(FIXTURE_2027))
    assert s.holidays[1] == ("春节", [date(2027, 2, d) for d in range(6, 13)])  # the weekend inside is fine
    yaml_text = ("year: 2027\ndocument: 测试\nholidays:\n  - name: 元旦\n    dates: [2027-01-01]\n"
                 "workdays: [2027-02-13]\n")
    s = parse_schedule(yaml_text)
    assert (s.year, s.holidays, s.workdays) == (2027, [("元旦", [date(2027, 1, 1)])], [date(2027, 2, 13)])


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"workdays": ["2027-02-10"]}, "workdays", "星期三，本来就是工作日"),  # a weekday as make-up day
    ({"holidays": [{"name": "元旦", "dates": ["2028-01-01"]}]}, "holidays", "不在 2027 年内"),
    ({"workdays": ["2026-12-26"]}, "workdays", "不在 2027 年内"),
    ({"holidays": [{"name": "元旦", "dates": ["2027-01-01"]}, {"name": "又一", "dates": ["2027-01-01"]}]},
     "holidays", "重复"),
    ({"workdays": ["2027-02-13", "2027-02-13"]}, "workdays", "重复"),
    ({"workdays": ["2027-02-06"]}, "workdays", "既列为放假又列为调休上班日"),
    ({"document": ""}, "document", "文号"),
    ({"year": "二〇二七"}, "year", "年份"),
    ({"holidays": [{"name": "元旦", "dates": ["2027-13-01"]}]}, "holidays", "不是有效日期"),
])
def test_entry_errors_are_named_in_chinese(change, field, words):
    with pytest.raises(ScheduleInvalid) as err:
        parse_schedule(text_of({**FIXTURE_2027, **change}))
    assert words in "；".join(err.value.errors[field])


def test_unreadable_file_is_refused():
    with pytest.raises(ScheduleInvalid) as err:
        parse_schedule("year: [unclosed")
    assert "JSON 或 YAML" in err.value.errors["file"][0]


@pytest.fixture
def env_db(settings, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", settings.database_url)


def test_cli_load_refuses_bad_file_and_stores_nothing(rt, env_db, tmp_path, capsys):
    bad = tmp_path / "2027.json"
    bad.write_text(text_of({**FIXTURE_2027, "workdays": ["2027-02-10"]}), encoding="utf-8")
    before = snapshot(rt)
    assert main(["calendar", "load", str(bad)]) == 1
    assert "星期三" in capsys.readouterr().err
    assert snapshot(rt) == before


def test_cli_load_then_show(rt, env_db, tmp_path, capsys):
    assert main(["calendar", "show", "2027"]) == 1
    assert "2027 年的国务院节假日安排尚未载入" in capsys.readouterr().err
    good = tmp_path / "2027.yaml"
    good.write_text(text_of(FIXTURE_2027), encoding="utf-8")
    assert main(["calendar", "load", str(good), "--by", "admin"]) == 0
    with rt.session() as s:
        row = s.get(CalendarYear, 2027)
        assert (row.document, row.loaded_by, row.workdays) == ("测试用虚构文号〔2026〕0号", "admin", ["2027-02-13"])
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "calendar_load")).one()
    capsys.readouterr()
    assert main(["calendar", "show", "2027"]) == 0
    out = capsys.readouterr().out
    assert "春节：2027-02-06" in out and "2月 16" in out
    assert main(["deadline", "--from", "2026-12-30", "--working-days", "3"]) == 0  # reads the loaded year
    assert capsys.readouterr().out.splitlines()[0] == "2027-01-05"


def test_unloaded_year_is_refused_until_loaded(rt, clock):
    with pytest.raises(YearNotLoaded, match="2027 年的国务院节假日安排尚未载入"):
        rt.calendar.deadline("2026-12-30", 3)
    load_schedule(rt, "admin", parse_schedule(text_of(FIXTURE_2027)), clock())
    # 12-31 Thu, then 2027-01-01 off (the loaded year), 01-04 Mon, 01-05 Tue
    assert rt.calendar.deadline("2026-12-30", 3) == datetime(2027, 1, 6, tzinfo=TZ)


def test_loaded_year_overrides_chinesecalendar(rt, clock):
    assert rt.calendar.is_working_day(date(2026, 3, 4))
    doc = with_2026_holiday(rt, "2026-03-04")
    doc["holidays"] = [h for h in doc["holidays"] if h["name"] == "测试假日"]  # and forget National Day
    load_schedule(rt, "admin", parse_schedule(text_of(doc)), clock())
    assert not rt.calendar.is_working_day(date(2026, 3, 4))  # cache invalidated on load
    assert rt.calendar.is_working_day(date(2026, 10, 5))  # the package's holiday is not in the loaded year
    assert rt.calendar.is_working_day(date(2026, 2, 14))  # its make-up Saturday is (kept in workdays)


def test_banner_today_says_2027_is_due(rt, clock):
    today = date(2026, 12, 2)
    assert "2027 年的国务院节假日安排尚未载入" in schedule_banner(rt.calendar, today)
    assert schedule_banner(rt.calendar, date(2026, 10, 1)) is None  # more than eight weeks ahead
    load_schedule(rt, "admin", parse_schedule(text_of(FIXTURE_2027)), clock())
    assert schedule_banner(rt.calendar, today) is None
    assert "2028" in schedule_banner(rt.calendar, date(2027, 11, 20))


def test_preview_counts_working_days_and_changes(rt):
    view = preview(rt.calendar, parse_schedule(text_of(FIXTURE_2027)))
    feb = view.months[1]
    cells = {c.day: c for week in feb.weeks for c in week if c}
    assert (cells[date(2027, 2, 8)].kind, cells[date(2027, 2, 8)].name) == ("holiday", "春节")
    assert cells[date(2027, 2, 13)].kind == "makeup"
    assert cells[date(2027, 2, 14)].kind == "weekend"
    assert feb.working_days == 20 - 5 + 1  # 20 weekdays, 5 of them off, one Saturday worked
    assert not view.covered_before and view.changed == []  # 2027 is not known before the load


def test_preview_of_a_changed_year_lists_the_changed_days(rt):
    view = preview(rt.calendar, parse_schedule(text_of(with_2026_holiday(rt, "2026-03-04"))))
    assert view.covered_before and view.changed == [(date(2026, 3, 4), True, False)]


def test_changed_holiday_moves_waiting_deadline_and_the_timer_fires_at_the_new_time(mini_rt, clock):
    rt = mini_rt
    moved = start_process(rt, SENDER, "mini", START_DATA, T0)  # notice Mon 03-02: due end of Thu 03-05
    # notice Thu 03-05: 03-06, 03-09, 03-10 -- the changed day is not among them
    later = start_process(rt, SENDER, "mini", START_DATA, datetime(2026, 3, 5, 9, tzinfo=TZ))
    old_due, new_due = datetime(2026, 3, 6, tzinfo=TZ), datetime(2026, 3, 7, tzinfo=TZ)
    clock.set(datetime(2026, 3, 5, 10, tzinfo=TZ))

    # the State Council (in this test) makes Thursday 03-05 a holiday
    moves = load_schedule(rt, "admin", parse_schedule(text_of(with_2026_holiday(rt, "2026-03-05"))), clock())

    assert [(m.instance_id, m.old, m.new, m.days) for m in moves] == [(moved, old_due, new_due, 1)]
    assert moves[0].task == TASK_AND_TIMER
    with rt.session() as s:
        task = s.scalars(select(HumanTask).where(HumanTask.instance_id == moved)).one()
        timer = s.scalars(select(Timer).where(Timer.instance_id == moved)).one()
        assert task.due_at == new_due and timer.due_at == new_due
        other = s.scalars(select(Timer).where(Timer.instance_id == later)).one()
        assert other.due_at == datetime(2026, 3, 11, tzinfo=TZ)  # not moved
        inst = s.get(ProcessInstance, moved)
        wf = rt.engine.load_state(inst.state_json, spec_for(rt, inst.definition), inst.serializer_version)
        assert [t.due_at for t in rt.engine.waiting_timers(wf)] == [new_due]  # the workflow state too
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "deadline_moved")).all()
        assert [(a.instance_id, a.changes["working_days"]) for a in audit] == [(moved, 1)]
        assert s.get(CalendarYear, 2026).moves[0]["new"] == new_due.isoformat()

    assert fire_due_timers(rt, datetime(2026, 3, 6, 0, 1, tzinfo=TZ)) == 0  # the old time: not late any more
    assert fire_due_timers(rt, datetime(2026, 3, 7, 0, 1, tzinfo=TZ)) == 1  # the new time
    with rt.session() as s:
        opened = set(s.scalars(select(HumanTask.element_id).where(HumanTask.instance_id == moved,
                                                                  HumanTask.status == "open")))
    assert opened == {"send_letter", "supervise_letter"}


QUERY = {"title": "查询某诊所近三年卫生行政处罚记录", "target_unit": "health", "category": "执法文书档案",
         "query_content": "某诊所2023年至今的行政处罚决定书。", "purpose": "核实是否存在从重处罚情节。",
         "legal_basis": "《中华人民共和国行政处罚法》第三十四条。", "urgent": False}


def test_a_deadline_kept_in_a_variable_moves_for_the_next_step_too(rt, clock):
    """info_query keeps its deadline in answer_due; the answer step that opens after the change reads it."""
    from runner.services import complete_task

    iid = start_process(rt, SENDER, "info_query", QUERY, T0)
    with rt.session() as s:  # signed for (签收查询请求) Mon 03-02: due by the end of 03-05
        receipt = s.scalars(select(HumanTask.id).where(HumanTask.instance_id == iid, HumanTask.status == "open")).one()
    complete_task(rt, "health.officer", receipt, {"receipt_confirmed": True}, T0)
    new_due = datetime(2026, 3, 7, tzinfo=TZ)
    moves = load_schedule(rt, "admin", parse_schedule(text_of(with_2026_holiday(rt, "2026-03-04"))), T0)
    assert [(m.instance_id, m.new) for m in moves] == [(iid, new_due)]
    with rt.session() as s:
        auth = s.scalars(select(HumanTask).where(HumanTask.instance_id == iid, HumanTask.status == "open")).one()
        assert auth.due_at == new_due
        assert s.get(ProcessInstance, iid).data_summary["answer_due"] == new_due.isoformat()  # the case page
    complete_task(rt, "health.officer", auth.id, {"auth_result": "pass", "auth_note": "已核实。"}, T0)
    with rt.session() as s:
        answer = s.scalars(select(HumanTask).where(HumanTask.instance_id == iid, HumanTask.status == "open",
                                                   HumanTask.element_id == "answer_query")).one()
        assert answer.due_at == new_due
        assert s.get(ProcessInstance, iid).data_summary["answer_due"] == new_due.isoformat()
    assert fire_due_timers(rt, datetime(2026, 3, 6, 0, 1, tzinfo=TZ)) == 0


def test_a_deadline_counted_on_a_schedule_another_process_replaced_is_refused_then_retried(mini_rt, settings):
    """Two processes (say the web server and a worker) each cache the loaded years; a load in one of them
    makes the other refuse a step that counted a deadline on the old schedule, and the retry counts anew."""
    from runner.errors import Conflict
    from tests.conftest import prepared_runtime

    other = next(prepared_runtime(settings.with_(bpmn_dir=mini_rt.settings.bpmn_dir)))
    try:
        assert other.calendar.is_working_day(date(2026, 3, 4))  # cached: nothing loaded yet
        load_schedule(mini_rt, "admin", parse_schedule(text_of(with_2026_holiday(mini_rt, "2026-03-04"))), T0)
        before = snapshot(mini_rt)
        with pytest.raises(Conflict, match="节假日安排刚刚更新"):
            start_process(other, SENDER, "mini", START_DATA, T0)
        assert snapshot(mini_rt) == before
        iid = start_process(other, SENDER, "mini", START_DATA, T0)  # the retry reads the new schedule
        with other.session() as s:
            assert s.scalars(select(Timer).where(Timer.instance_id == iid)).one().due_at == \
                datetime(2026, 3, 7, tzinfo=TZ)
    finally:
        other.session_factory.kw["bind"].dispose()
