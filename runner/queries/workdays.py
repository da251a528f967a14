"""Working days left until a deadline, counted from a per-year table of working days."""

from __future__ import annotations

import bisect
from datetime import date, datetime, timedelta

from runner.calendar import TZ, CalendarError, local_date
from runner.runtime import Runtime


def days_left(rt: Runtime, now: datetime, due: datetime | None) -> int | None:
    """Working days from NOW's local date to DUE (negative when overdue), as WorkingCalendar.working_days_left
    counts them, but from a per-year table so that a page of long-overdue tasks stays fast."""
    if due is None:
        return None
    today = local_date(now)
    last_day = (due.astimezone(TZ) - timedelta(microseconds=1)).date()
    try:
        if last_day >= today:
            return _working_days_in(rt.calendar, today, last_day)
        return -_working_days_in(rt.calendar, last_day, today)
    except CalendarError:
        return None


def days_late(rt: Runtime, at: datetime | None, due: datetime | None) -> int | None:
    """Working days by which AT passed DUE (0 when late by less than a working day), None when not late:
    the "已逾期 N 个工作日" of days_left, seen at AT."""
    if at is None or due is None or at <= due:
        return None
    left = days_left(rt, at, due)
    return max(0, -left) if left is not None else None


_YEARS: dict[int, tuple[object, dict[int, list[int]]]] = {}


def _working_days_in(calendar, after: date, until: date) -> int:
    """How many working days D with AFTER < D <= UNTIL."""
    count = 0
    for year in range(after.year, until.year + 1):
        days = _working_ordinals(calendar, year)
        lo = bisect.bisect_right(days, after.toordinal())
        hi = bisect.bisect_right(days, until.toordinal())
        count += hi - lo
    return count


def _working_ordinals(calendar, year: int) -> list[int]:
    kept = _YEARS.get(id(calendar))
    if kept is None or kept[0] is not calendar:
        kept = _YEARS[id(calendar)] = (calendar, {})
    table = kept[1]
    if year not in table:
        first, last = date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal()
        table[year] = [d for d in range(first, last + 1) if calendar.is_working_day(date.fromordinal(d))]
    return table[year]
