from datetime import date, datetime

import pytest

from runner.calendar import TZ, WorkingCalendar, YearNotLoaded, format_local

CAL = WorkingCalendar.load()


@pytest.mark.parametrize(("start", "n", "due"), [
    ("2026-03-02", 3, "2026-03-05"),  # plain week, day of notice not counted
    ("2026-03-06", 3, "2026-03-11"),  # over a weekend
    ("2026-02-13", 1, "2026-02-14"),  # Saturday 2-14 is a make-up working day (Spring Festival)
    ("2026-02-13", 3, "2026-02-25"),  # then 2-15..2-23 off
    ("2026-09-30", 3, "2026-10-10"),  # National Day: 10-01..10-07 off, 10-10 Saturday works
    ("2026-09-19", 1, "2026-09-20"),  # Sunday 9-20 is a make-up working day
])
def test_working_days_follow_state_council_schedule(start, n, due):
    assert CAL.add_working_days(date.fromisoformat(start), n).isoformat() == due


def test_deadline_is_end_of_last_working_day_in_shanghai():
    deadline = CAL.deadline("2026-03-02", 3)
    assert deadline == datetime(2026, 3, 6, 0, 0, tzinfo=TZ)
    assert format_local(deadline) == "2026-03-05 24:00"


def test_deadline_counts_from_local_date_of_an_aware_time():
    # 2026-03-02 17:00 UTC is already 03-03 in the county
    assert CAL.deadline(datetime.fromisoformat("2026-03-02T17:00:00+00:00"), 1) == datetime(2026, 3, 5, tzinfo=TZ)


def test_deadline_into_unloaded_year_names_the_year():
    with pytest.raises(YearNotLoaded, match="2027"):
        CAL.deadline("2026-12-30", 3)


def test_year_file_loads_missing_year(tmp_path):
    (tmp_path / "2027.json").write_text(
        '{"year": 2027, "source": "test", "holidays": ["2027-01-01"], "workdays": ["2027-01-09"]}',
        encoding="utf-8")
    cal = WorkingCalendar.load(tmp_path)
    assert cal.add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)
    assert cal.is_working_day(date(2027, 1, 9))  # a Saturday made a working day by the file
    assert 2027 in cal.loaded_years


def test_working_days_left_counts_down_and_goes_negative():
    due = CAL.deadline("2026-03-02", 3)  # end of Thu 03-05
    assert CAL.working_days_left(datetime(2026, 3, 2, 10, tzinfo=TZ), due) == 3
    assert CAL.working_days_left(datetime(2026, 3, 5, 10, tzinfo=TZ), due) == 0
    assert CAL.working_days_left(datetime(2026, 3, 9, 10, tzinfo=TZ), due) == -2


def test_coverage_warning_when_next_year_is_near_and_missing(tmp_path):
    assert CAL.coverage_warning(date(2026, 6, 1)) is None
    assert "2027" in CAL.coverage_warning(date(2026, 11, 27))
    (tmp_path / "2027.json").write_text('{"year": 2027, "holidays": [], "workdays": []}', encoding="utf-8")
    assert WorkingCalendar.load(tmp_path).coverage_warning(date(2026, 11, 27)) is None
