"""Statutory working days (State Council schedule with 调休 make-up days); dates and "now" are parameters.

A deadline of N working days from day D is the end (24:00 Asia/Shanghai) of the N-th working day
after D; D itself is not counted. A year whose schedule is not loaded is an error, never a guess.
"""

from __future__ import annotations

import functools
import json
import threading
import time as _time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar

TZ = ZoneInfo("Asia/Shanghai")
_MAX_SCAN_DAYS = 400


class CalendarError(ValueError):
    """A working-day computation that cannot be answered honestly."""


class YearNotLoaded(CalendarError):
    def __init__(self, year: int):
        super().__init__(
            f"{year} 年的国务院节假日安排尚未载入，无法计算工作日期限；"
            f"请系统管理员在“节假日安排”页面（或用 liandong calendar load）载入该年安排"
        )
        self.year = year


@functools.cache
def _builtin_years() -> frozenset[int]:
    years = {d.year for d in chinese_calendar.holidays} | {d.year for d in chinese_calendar.workdays}
    return frozenset(range(min(years), max(years) + 1))


@dataclass(frozen=True)
class YearDays:
    """A loaded year: its days off that would be working days and the weekend days that are worked."""

    holidays: frozenset[date]
    workdays: frozenset[date]

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays


# The working-day deadlines counted on this thread and not yet claimed: (start date, N, due). sync reads
# them after an engine step so a changed schedule can count them again (runner/holidays.py).
_counted = threading.local()


def take_counted_deadlines() -> list[tuple[date, int, datetime]]:
    """Return and forget the deadlines counted on this thread since the last call."""
    log = getattr(_counted, "log", None)
    if not log:
        return []
    out = list(log)
    log.clear()
    return out


def _note_deadline(start: date, n: int, due: datetime) -> None:
    log = getattr(_counted, "log", None)
    if log is None:
        log = _counted.log = deque(maxlen=256)  # bounded: callers that never claim them leak nothing
    log.append((start, n, due))


@dataclass
class WorkingCalendar:
    """Working days: years loaded by an administrator (database) first, then chinesecalendar, with data
    files for missing years and local overrides."""

    overrides: dict[date, bool] = field(default_factory=dict)
    extra_years: set[int] = field(default_factory=set)
    sources: dict[int, str] = field(default_factory=dict)
    # years loaded into the database with their revision: read through LOADER, kept per process until
    # invalidate() (a load in this process) or a newer revision is seen (a load in another one)
    loader: Callable[[], tuple[dict[int, YearDays], int]] | None = None
    refresh_seconds: float = 60.0
    _loaded: dict[int, YearDays] | None = None
    _revision: int = 0
    _loaded_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def use_loader(self, loader: Callable[[], tuple[dict[int, YearDays], int]]) -> None:
        self.loader = loader
        self.invalidate()

    def invalidate(self) -> None:
        """Forget the cached loaded years (after a load); the next question reads them again."""
        with self._lock:
            self._loaded = None

    def db_years(self) -> dict[int, YearDays]:
        if self.loader is None:
            return {}
        with self._lock:
            # another process may have loaded a year: look again now and then (monotonic, not the clock)
            stale = _time.monotonic() - self._loaded_at > self.refresh_seconds
            if self._loaded is None or stale:
                self._loaded, self._revision = self.loader()
                self._loaded_at = _time.monotonic()
            return self._loaded

    @property
    def revision(self) -> int:
        """The revision of the loaded years this calendar counts with (0 without a database)."""
        self.db_years()
        return self._revision

    def with_years(self, years: dict[int, YearDays]) -> WorkingCalendar:
        """A copy that also knows YEARS (replacing those loaded): to preview or recount before storing."""
        merged, revision = {**self.db_years(), **years}, self._revision
        return WorkingCalendar(dict(self.overrides), set(self.extra_years), dict(self.sources),
                               loader=lambda: (merged, revision), refresh_seconds=float("inf"))

    def known_years(self) -> set[int]:
        """Years known without the database: the package and data files."""
        return _builtin_years() | self.extra_years

    @classmethod
    def load(cls, data_dir: Path | None = None) -> WorkingCalendar:
        cal = cls()
        if data_dir and Path(data_dir).is_dir():
            for path in sorted(Path(data_dir).glob("*.json")):
                cal.add_year_file(path)
        return cal

    def add_year_file(self, path: Path) -> None:
        """Load one year's schedule: {"year", "source", "holidays": [...], "workdays": [...]}."""
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
            year = int(doc["year"])
            holidays = [date.fromisoformat(d) for d in doc.get("holidays", [])]
            workdays = [date.fromisoformat(d) for d in doc.get("workdays", [])]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CalendarError(f"日历数据文件 {path} 无效：{exc}") from exc
        for d in holidays + workdays:
            if d.year != year:
                raise CalendarError(f"日历数据文件 {path}：日期 {d} 不属于 {year} 年")
        self.add_year(year, holidays, workdays, source=str(doc.get("source", path)))

    def add_year(self, year: int, holidays: Iterable[date], workdays: Iterable[date], source: str = "") -> None:
        for d in holidays:
            self.overrides[d] = False
        for d in workdays:
            self.overrides[d] = True
        self.extra_years.add(year)
        self.sources[year] = source

    @property
    def loaded_years(self) -> set[int]:
        return _builtin_years() | self.extra_years | set(self.db_years())

    def covered_until(self, today: date) -> int:
        """The last year Y such that every year from TODAY's up to Y is loaded or known."""
        years, year = self.loaded_years, today.year
        while year in years:
            year += 1
        return year - 1

    def coverage_warning(self, today: date, horizon_days: int = 45) -> str | None:
        """A message for administrators when deadlines will soon reach a year that is not loaded."""
        ahead = today + timedelta(days=horizon_days)
        missing = [y for y in range(today.year, ahead.year + 1) if y not in self.loaded_years]
        if not missing:
            return None
        years = "、".join(str(y) for y in missing)
        return (f"{years} 年的国务院节假日安排尚未载入：期限落入该年的事项将无法发起或计时，"
                f"请管理员在日历数据目录中载入该年安排")

    def is_working_day(self, day: date) -> bool:
        loaded = self.db_years().get(day.year)
        if loaded is not None:  # an administrator's load overrides the package and the files
            return loaded.is_working_day(day)
        if day in self.overrides:
            return self.overrides[day]
        if day.year in self.extra_years and day.year not in _builtin_years():
            return day.weekday() < 5
        if day.year not in _builtin_years():
            raise YearNotLoaded(day.year)
        return chinese_calendar.is_workday(day)

    def add_working_days(self, start: date, n: int) -> date:
        """Return the N-th working day after START (START itself not counted)."""
        if n < 1:
            raise CalendarError("工作日数必须是正整数")
        day, counted = start, 0
        for _ in range(_MAX_SCAN_DAYS * n):
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
                if counted == n:
                    return day
        raise CalendarError(f"{start} 之后找不到 {n} 个工作日")

    def deadline(self, start: date | datetime | str, n: int) -> datetime:
        """End (24:00 Asia/Shanghai) of the N-th working day after START's local date."""
        first = local_date(start)
        last = self.add_working_days(first, n)
        due = datetime.combine(last + timedelta(days=1), time(0), TZ)
        _note_deadline(first, n, due)
        return due

    def working_days_left(self, now: datetime, due: datetime) -> int:
        """Working days from NOW's local date up to DUE; negative when overdue."""
        today = local_date(now)
        last_day = (due.astimezone(TZ) - timedelta(microseconds=1)).date()
        if last_day >= today:
            return self._count(today, last_day)
        return -self._count(last_day, today)

    def _count(self, after: date, until: date) -> int:
        count, day = 0, after
        while day < until:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count


def local_date(value: date | datetime | str) -> date:
    """The Asia/Shanghai calendar date of VALUE (ISO string, date or aware datetime)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=TZ)
        return value.astimezone(TZ).date()
    return value


def format_local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Show an aware datetime in Asia/Shanghai; a midnight deadline reads as 24:00 of the day before."""
    if value is None:
        return ""
    local = value.astimezone(TZ)
    if fmt == "%Y-%m-%d %H:%M" and local.time() == time(0):
        return (local - timedelta(days=1)).strftime("%Y-%m-%d") + " 24:00"
    return local.strftime(fmt)
