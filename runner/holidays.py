"""The State Council holiday schedule as data an administrator loads: parse and check a year's schedule,
preview its working days, store it, and count again the waiting deadlines that depend on the changed days.

A loaded year replaces what `chinesecalendar` says about that year; the package covers the years it knows.
"""

from __future__ import annotations

import calendar as _monthcal
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import yaml
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from runner.calendar import TZ, CalendarError, WorkingCalendar, YearDays, take_counted_deadlines
from runner.errors import Conflict, Invalid
from runner.models import AuditEntry, CalendarYear, DeadlineBasis, HumanTask, ProcessInstance, Timer

WEEKDAYS = "一二三四五六日"
BANNER_WEEKS = 8
# The fields of a schedule, as named beside the input on the page and in the CLI's messages.
FIELD_NAMES = {"file": "文件内容", "year": "年份", "document": "文号", "holidays": "放假安排", "workdays": "调休上班日"}


class ScheduleInvalid(Invalid):
    """A schedule with entry errors; ERRORS maps each field to its messages (nothing is stored)."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        lines = [f"{FIELD_NAMES[k]}：{m}" for k, msgs in errors.items() for m in msgs]
        super().__init__("节假日安排有误：" + "；".join(lines), {k: "；".join(v) for k, v in errors.items()})


@dataclass
class Schedule:
    year: int
    document: str
    holidays: list[tuple[str, list[date]]]  # (name, dates off) in the order of the notice
    workdays: list[date]

    def days(self) -> YearDays:
        return YearDays(frozenset(d for _n, ds in self.holidays for d in ds), frozenset(self.workdays))

    def holiday_names(self) -> dict[date, str]:
        return {d: name for name, ds in self.holidays for d in ds}

    def as_json(self) -> dict:
        return {"year": self.year, "document": self.document,
                "holidays": [{"name": n, "dates": [d.isoformat() for d in ds]} for n, ds in self.holidays],
                "workdays": [d.isoformat() for d in self.workdays]}

    @classmethod
    def from_row(cls, row: CalendarYear) -> Schedule:
        return cls(row.year, row.document,
                   [(h["name"], [date.fromisoformat(d) for d in h["dates"]]) for h in row.holidays],
                   [date.fromisoformat(d) for d in row.workdays])


# -- reading and checking ----------------------------------------------------------------------------
def parse_schedule(text: str) -> Schedule:
    """Read a JSON or YAML schedule and check it; raise ScheduleInvalid naming every entry error."""
    doc = _read(text)
    errors: dict[str, list[str]] = {}
    year = _year(doc.get("year"), errors)
    document = str(doc.get("document") or "").strip()
    if not document:
        errors.setdefault("document", []).append("请填写通知的文号，例如：国办发明电〔2026〕N号")
    elif len(document) > 128:
        errors.setdefault("document", []).append("文号过长（最多 128 个字）")
    holidays = _holidays(doc.get("holidays"), year, errors)
    workdays = _workdays(doc.get("workdays"), year, errors)
    off = {d for _n, ds in holidays for d in ds}
    for d in sorted(off & set(workdays)):
        errors.setdefault("workdays", []).append(f"{d.isoformat()} 既列为放假又列为调休上班日")
    if errors:
        raise ScheduleInvalid(errors)
    return Schedule(year, document, holidays, workdays)


def _read(text: str) -> dict:
    if not (text or "").strip():
        raise ScheduleInvalid({"file": ["请上传或粘贴节假日安排（JSON 或 YAML）"]})
    try:
        doc = json.loads(text)
    except ValueError:
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ScheduleInvalid({"file": ["内容不是有效的 JSON 或 YAML，请检查格式"]}) from None
    if not isinstance(doc, dict):
        raise ScheduleInvalid({"file": ["内容应包含 year、document、holidays、workdays 四项"]})
    return doc


def _year(value, errors) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 2000 <= value <= 2100:
        return value
    if isinstance(value, str) and value.strip().isdigit() and 2000 <= int(value) <= 2100:
        return int(value)
    errors.setdefault("year", []).append("年份应为 2000 至 2100 之间的四位数字")
    return None


def _date(value, where: str, errors, key: str) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        errors.setdefault(key, []).append(f"{where}：“{value}”不是有效日期（格式 YYYY-MM-DD）")
        return None


def _holidays(value, year, errors) -> list[tuple[str, list[date]]]:
    if value is None:
        value = []
    if not isinstance(value, list):
        errors.setdefault("holidays", []).append("放假安排应为列表，每项含 name 及 dates 或 from/to")
        return []
    out, seen = [], {}
    for i, item in enumerate(value, 1):
        if not isinstance(item, dict):
            errors.setdefault("holidays", []).append(f"第 {i} 项应含 name 及 dates 或 from/to")
            continue
        name = str(item.get("name") or "").strip()
        where = f"第 {i} 项（{name or '未命名'}）"
        if not name:
            errors.setdefault("holidays", []).append(f"第 {i} 项缺少节日名称（name）")
        dates = _holiday_dates(item, where, errors)
        for d in dates:
            _in_year(d, year, where, errors, "holidays")
            if d in seen:
                errors.setdefault("holidays", []).append(f"{d.isoformat()} 重复列出（{seen[d]}、{name}）")
            seen[d] = name
        out.append((name, dates))
    return out


def _holiday_dates(item: dict, where: str, errors) -> list[date]:
    if "dates" in item:
        raw = item["dates"] if isinstance(item["dates"], list) else [item["dates"]]
        return [d for d in (_date(v, where, errors, "holidays") for v in raw) if d is not None]
    if "from" in item and "to" in item:
        first, last = _date(item["from"], where, errors, "holidays"), _date(item["to"], where, errors, "holidays")
        if first is None or last is None:
            return []
        if last < first or (last - first).days > 31:
            errors.setdefault("holidays", []).append(f"{where}：起止日期有误（{first} 至 {last}）")
            return []
        return [first + timedelta(days=k) for k in range((last - first).days + 1)]
    errors.setdefault("holidays", []).append(f"{where}：应给出 dates（日期列表）或 from/to（起止日期）")
    return []


def _workdays(value, year, errors) -> list[date]:
    if value is None:
        value = []
    if not isinstance(value, list):
        errors.setdefault("workdays", []).append("调休上班日应为日期列表")
        return []
    out: list[date] = []
    for v in value:
        d = _date(v, "调休上班日", errors, "workdays")
        if d is None:
            continue
        _in_year(d, year, "调休上班日", errors, "workdays")
        if d in out:
            errors.setdefault("workdays", []).append(f"{d.isoformat()} 重复列出")
            continue
        if d.weekday() < 5:
            errors.setdefault("workdays", []).append(
                f"{d.isoformat()} 是星期{WEEKDAYS[d.weekday()]}，本来就是工作日，不能列为调休上班日")
        out.append(d)
    return out


def _in_year(d: date, year, where, errors, key) -> None:
    if year is not None and d.year != year:
        errors.setdefault(key, []).append(f"{where}：{d.isoformat()} 不在 {year} 年内")


# -- the calendar's view of loaded years ------------------------------------------------------------
def loaded_years(s: Session) -> dict[int, YearDays]:
    return {row.year: Schedule.from_row(row).days() for row in s.scalars(select(CalendarYear))}


def revision_column():
    """The schedule's revision as a scalar subquery: grows with every load of any year (no row is deleted)."""
    return select(func.coalesce(func.sum(CalendarYear.revision), 0)).scalar_subquery()


REVISION_READ = "liandong.schedule_revision"  # Session.info: the revision read with the case's lock


@event.listens_for(Session, "after_transaction_end")
def _forget_revision(session, transaction):
    if transaction.parent is None:  # a revision read belongs to its transaction
        session.info.pop(REVISION_READ, None)


def schedule_revision(s: Session) -> int:
    """The schedule's revision: as read in this transaction with the case's lock (services.lock_instance reads
    it in the same statement, saving a round trip), else read now."""
    read = s.info.get(REVISION_READ)
    return int(read if read is not None else s.scalar(select(revision_column())) or 0)


def attach(cal: WorkingCalendar, session_factory) -> None:
    """Let CAL read the years loaded into the database (cached per process, invalidated on load)."""
    def load() -> tuple[dict[int, YearDays], int]:
        with session_factory() as s:
            return loaded_years(s), schedule_revision(s)  # a fresh session: read now
    cal.use_loader(load)


class ScheduleChanged(Conflict):
    """A deadline was counted on a holiday schedule that another process has since replaced."""

    def __init__(self):
        super().__init__("节假日安排刚刚更新，期限需按新安排计算，请重试")


def schedule_due(cal: WorkingCalendar, today: date, weeks: int = BANNER_WEEKS) -> tuple[int, int] | None:
    """(the year whose schedule is due, the last year covered) from WEEKS weeks before the last loaded or
    known year runs out; None while it is further off."""
    last = cal.covered_until(today)
    if today + timedelta(weeks=weeks) <= date(last, 12, 31):
        return None
    return last + 1, last


def schedule_banner(cal: WorkingCalendar, today: date, weeks: int = BANNER_WEEKS) -> str | None:
    """The warning shown from WEEKS weeks before the last loaded or known year runs out."""
    due = schedule_due(cal, today, weeks)
    if due is None:
        return None
    year, last = due
    return (f"{year} 年的国务院节假日安排尚未载入：现有安排只到 {last} 年 12 月 31 日，"
            f"期限落入 {year} 年的事项将无法计时。"
            f"请系统管理员载入国务院办公厅关于 {year} 年部分节假日安排的通知。")


# -- preview ------------------------------------------------------------------------------------------
@dataclass
class DayCell:
    day: date
    kind: str  # holiday | makeup | weekend | work
    name: str = ""


@dataclass
class MonthView:
    month: int
    weeks: list[list[DayCell | None]]
    working_days: int


@dataclass
class Preview:
    schedule: Schedule
    months: list[MonthView]
    working_days: int
    changed: list[tuple[date, bool, bool]] = field(default_factory=list)  # day, working now, working after
    covered_before: bool = True  # whether the year had a schedule (loaded or known) before this one


def preview(cal: WorkingCalendar, schedule: Schedule) -> Preview:
    """The year's working days month by month under SCHEDULE, and the days it changes against CAL."""
    days, names = schedule.days(), schedule.holiday_names()
    months, total = [], 0
    for month in range(1, 13):
        weeks, count = [], 0
        for week in _monthcal.Calendar(firstweekday=0).monthdatescalendar(schedule.year, month):
            row: list[DayCell | None] = []
            for d in week:
                if d.month != month:
                    row.append(None)
                    continue
                working = days.is_working_day(d)
                count += working
                kind = ("makeup" if d in days.workdays else "holiday" if d in days.holidays
                        else "work" if working else "weekend")
                row.append(DayCell(d, kind, names.get(d, "")))
            weeks.append(row)
        months.append(MonthView(month, weeks, count))
        total += count
    if schedule.year not in cal.loaded_years:
        return Preview(schedule, months, total, [], covered_before=False)
    return Preview(schedule, months, total, _changed(cal, schedule.year, days))


def _changed(cal: WorkingCalendar, year: int, days: YearDays) -> list[tuple[date, bool, bool]]:
    out = []
    d = date(year, 1, 1)
    while d.year == year:
        now, new = cal.is_working_day(d), days.is_working_day(d)
        if now is not new:
            out.append((d, now, new))
        d += timedelta(days=1)
    return out


def year_schedule(rt, year: int) -> Schedule | None:
    with rt.session() as s:
        row = s.get(CalendarYear, year)
        return Schedule.from_row(row) if row else None


def year_of_package(cal: WorkingCalendar, year: int) -> Schedule | None:
    """A year the package or data files know, as a schedule (no document number), for display."""
    if year not in cal.known_years():
        return None
    base = WorkingCalendar(dict(cal.overrides), set(cal.extra_years))
    d, off, worked = date(year, 1, 1), [], []
    while d.year == year:
        working = base.is_working_day(d)
        if d.weekday() < 5 and not working:
            off.append(d)
        elif d.weekday() >= 5 and working:
            worked.append(d)
        d += timedelta(days=1)
    return Schedule(year, "", [("", off)], worked)


# -- storing, and counting waiting deadlines again ---------------------------------------------------
@dataclass
class Move:
    instance_id: int
    business_key: str
    title: str
    task: str
    old: datetime
    new: datetime
    days: int  # working days later (negative: earlier), counted on the new schedule

    def as_json(self) -> dict:
        return {"instance_id": self.instance_id, "business_key": self.business_key, "title": self.title,
                "task": self.task, "old": self.old.isoformat(), "new": self.new.isoformat(), "days": self.days}


def load_schedule(rt, actor: str, schedule: Schedule, now: datetime) -> list[Move]:
    """Store SCHEDULE (replacing that year's earlier load) and move the waiting deadlines that depend on the
    changed days, in one transaction, audited; return the moves."""
    with rt.session() as s, s.begin():
        row = s.get(CalendarYear, schedule.year)
        replaced = row.document if row else None
        if row is None:
            row = CalendarYear(year=schedule.year)
            s.add(row)
        doc = schedule.as_json()
        row.document, row.holidays, row.workdays = schedule.document, doc["holidays"], doc["workdays"]
        row.loaded_by, row.loaded_at = actor, now
        row.revision = (row.revision or 0) + 1
        cal = rt.calendar.with_years({**loaded_years(s), schedule.year: schedule.days()})
        moves = recompute_deadlines(rt, s, cal, now, actor)
        row.moves = [m.as_json() for m in moves]
        verb = f"替换（原文号 {replaced}）" if replaced else "载入"
        s.add(AuditEntry(at=now, actor=actor, action="calendar_load",
                         detail=f"{verb} {schedule.year} 年节假日安排（{schedule.document}），"
                                f"调整等待中的期限 {len(moves)} 个",
                         changes={"schedule": doc, "moved": len(moves)}))
    rt.calendar.invalidate()
    return moves


def recompute_deadlines(rt, s: Session, cal: WorkingCalendar, now: datetime, actor: str) -> list[Move]:
    """Count again, on CAL, every deadline still ahead that a waiting timer or an open task holds and
    whose basis is known; move those that change (rows and the stored workflow state)."""
    bases = _bases_ahead(s, now)
    by_instance: dict[int, dict[datetime, datetime]] = {}
    for (instance_id, old), (start, n) in bases.items():
        try:
            new = cal.deadline(start, n)
        except CalendarError:
            continue  # it was counted once; a year missing now is refused when it is next counted
        if new != old:
            by_instance.setdefault(instance_id, {})[old] = new
    take_counted_deadlines()  # the recount above is not a new deadline of any case
    moves: list[Move] = []
    for instance_id in sorted(by_instance):
        moves += _move_instance(rt, s, instance_id, by_instance[instance_id], cal, now, actor)
    return moves


def _bases_ahead(s: Session, now: datetime) -> dict[tuple[int, datetime], tuple[date, int]]:
    """(instance, due) -> (start, N) for every deadline after NOW still held by a waiting timer or open task."""
    held = {(i, d) for i, d in s.execute(select(Timer.instance_id, Timer.due_at).where(
        Timer.status == "waiting", Timer.due_at > now))}
    held |= {(i, d) for i, d in s.execute(select(HumanTask.instance_id, HumanTask.due_at).where(
        HumanTask.status == "open", HumanTask.due_at > now))}
    if not held:
        return {}
    out = {}
    rows = s.scalars(select(DeadlineBasis).where(DeadlineBasis.instance_id.in_({i for i, _d in held}))
                     .order_by(DeadlineBasis.computed_at, DeadlineBasis.id))
    for b in rows:  # the latest count of a due time wins
        if (b.instance_id, b.due_at) in held:
            out[(b.instance_id, b.due_at)] = (date.fromisoformat(b.start_date), b.working_days)
    return out


def _move_instance(rt, s: Session, instance_id: int, changes: dict[datetime, datetime], cal, now, actor):
    from runner.runtime import spec_for
    from runner.services import lock_instance

    inst = lock_instance(s, instance_id)
    if inst is None or inst.status != "running":
        return []
    # the rows holding each old time, read under the case's lock and before any is moved (a new time may
    # equal another old one); a deadline no longer held (done meanwhile) is left alone
    tasks = {old: list(s.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance_id, HumanTask.status == "open", HumanTask.due_at == old)))
        for old in changes}
    timers = {old: list(s.scalars(select(Timer).where(
        Timer.instance_id == instance_id, Timer.status == "waiting", Timer.due_at == old))) for old in changes}
    changes = {old: new for old, new in changes.items() if tasks[old] or timers[old]}
    if not changes:
        return []
    bases = {old: _basis_of(s, instance_id, old) for old in changes}
    wf = rt.engine.load_state(inst.state_json, spec_for(rt, inst.definition), inst.serializer_version)
    rt.engine.move_deadlines(wf, {old: new.isoformat() for old, new in changes.items()})
    moves = []
    for old, new in sorted(changes.items()):
        s.add(DeadlineBasis(instance_id=instance_id, start_date=bases[old].start_date,
                            working_days=bases[old].working_days, due_at=new, computed_at=now))
        for row in tasks[old] + timers[old]:
            row.due_at = new
        names = [row.name for row in tasks[old] + timers[old]]
        days = _working_days_between(cal, old, new)
        task = "、".join(dict.fromkeys(names))
        moves.append(Move(inst.id, inst.business_key, inst.title, task, old, new, days))
        s.add(AuditEntry(at=now, actor=actor, action="deadline_moved", instance_id=inst.id,
                         detail=f"节假日安排调整，期限随之变更：{task} {_local(old)} → {_local(new)}"
                                f"（{'推后' if days >= 0 else '提前'} {abs(days)} 个工作日）",
                         changes={"old": old.isoformat(), "new": new.isoformat(), "working_days": days}))
    inst.state_json, inst.serializer_version = rt.engine.dump_state(wf)
    inst.data_summary = _moved_summary(inst.data_summary or {}, changes)
    return moves


def _moved_summary(summary: dict, changes: dict[datetime, datetime]) -> dict:
    """The case's data summary with each deadline value moved (a new dict, so the change is saved)."""
    def moved(value):
        if not isinstance(value, str) or "T" not in value:
            return value
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return value
        new = changes.get(when) if when.tzinfo is not None else None
        return new.isoformat() if new is not None else value
    return {key: moved(value) for key, value in summary.items()}


def _basis_of(s: Session, instance_id: int, due: datetime) -> DeadlineBasis:
    return s.scalars(select(DeadlineBasis).where(DeadlineBasis.instance_id == instance_id,
                                                 DeadlineBasis.due_at == due)
                     .order_by(DeadlineBasis.computed_at.desc(), DeadlineBasis.id.desc())).first()


def _working_days_between(cal: WorkingCalendar, old: datetime, new: datetime) -> int:
    a, b = (old.astimezone(TZ) - timedelta(days=1)).date(), (new.astimezone(TZ) - timedelta(days=1)).date()
    if a == b:
        return 0
    sign, (lo, hi) = (1, (a, b)) if b > a else (-1, (b, a))
    return sign * sum(cal.is_working_day(lo + timedelta(days=k)) for k in range(1, (hi - lo).days + 1))


def _local(value: datetime) -> str:
    from runner.calendar import format_local

    return format_local(value)


def note_deadline_bases(cal: WorkingCalendar, s: Session, inst: ProcessInstance, now: datetime) -> None:
    """Record how the working-day deadlines counted in this step were counted (called by sync). Refuse the
    step (it is retried) when they were counted on a schedule that another process has since replaced: the
    load's recount could not see them, so they would stay wrong."""
    counted = take_counted_deadlines()
    if not counted:
        return
    # Reads only: nothing of this action needs writing first (its one flush is at the commit).
    with s.no_autoflush:
        if cal.loader is not None and schedule_revision(s) != cal.revision:
            cal.invalidate()
            raise ScheduleChanged()
        for start, n, due in dict.fromkeys(counted):  # a deadline counted twice in one step is noted once
            exists = s.scalar(select(DeadlineBasis.id).where(
                DeadlineBasis.instance_id == inst.id, DeadlineBasis.due_at == due,
                DeadlineBasis.start_date == start.isoformat(), DeadlineBasis.working_days == n))
            if exists is None:
                s.add(DeadlineBasis(instance_id=inst.id, start_date=start.isoformat(), working_days=n, due_at=due,
                                    computed_at=now))


# -- read side for the admin page ---------------------------------------------------------------------
@dataclass
class LoadedYear:
    year: int
    document: str
    loaded_by: str
    loaded_at: datetime
    moves: list[dict]


def loaded_list(rt) -> list[LoadedYear]:
    """The loaded years, newest first; LOADED_BY is the person's display name (a command's actor as given)."""
    from runner.models import User

    with rt.session() as s:
        rows = list(s.scalars(select(CalendarYear).order_by(CalendarYear.year.desc())))
        names = dict(s.execute(select(User.username, User.display_name).where(
            User.username.in_({r.loaded_by for r in rows}))).all())
        return [LoadedYear(r.year, r.document, names.get(r.loaded_by, r.loaded_by), r.loaded_at,
                           list(r.moves or [])) for r in rows]


def package_years() -> tuple[int, int]:
    from runner.calendar import _builtin_years

    years = _builtin_years()
    return min(years), max(years)
