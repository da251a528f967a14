"""The supervision dashboard's figures (S3), per unit and per procedure, as plain SQL aggregates.

Every count is a number of matters (件: distinct process instances) chosen by one condition, and the case
list's drill-down uses the very same condition (`matter_conditions`), so a number and the rows its link
shows cannot disagree. No workflow is deserialised: the query tables (human_tasks, process_instances,
instance_units) hold everything.

A period is a calendar quarter in the county's time. Flow figures (on time, late, 督办 raised and closed,
handled, started, finished) count what happened inside the quarter; state figures (open, overdue, 督办
still open) are taken at `as_of`: the quarter's end, or `now` while the quarter runs.

Per unit, a matter is "open" while one of the unit's tasks waits on it, "overdue" while such a task is past
its deadline, "on time" when every deadline the unit met in the period was met in time, and a 督办 counts
against the unit it names as late. Per procedure (and in the totals) a matter is open while it runs.
Handling time is counted in working days the way deadlines are (the starting day not counted): per unit
from a task's opening to its completion, per procedure from a matter's start to its end.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, or_, select

from runner.access import is_head, reads_everything
from runner.calendar import TZ, CalendarError, local_date
from runner.models import HumanTask, InstanceUnit, ProcessInstance, Unit
from runner.queries.workdays import _working_days_in
from runner.runtime import Runtime
from runner.statistics import EXCLUDED_PROCESSES, quarter_bounds

# What a drill-down link can ask for; each is a condition on matters (see matter_conditions).
MEASURES = ("open", "overdue", "timed", "ontime", "late", "supervised", "supervision_closed", "supervision_open",
            "handled", "started", "finished")
# Counted per unit from that unit's tasks (or the 督办 naming it as late).
UNIT_MEASURES = ("open", "overdue", "timed", "ontime", "late", "supervised", "supervision_closed",
                 "supervision_open", "handled")
# Without a unit these are read from the matter itself, not its tasks.
_MATTER_MEASURES = ("open", "started", "finished")
_SUPERVISION = ("supervised", "supervision_closed", "supervision_open")
TREND_QUARTERS = 6


@dataclass(frozen=True)
class Period:
    label: str          # 2026Q4
    start: datetime     # inclusive
    end: datetime       # exclusive
    as_of: datetime     # when state figures are read: min(now, end)

    @property
    def year(self) -> int:
        return int(self.label[:4])

    @property
    def quarter(self) -> int:
        return int(self.label[-1])

    @property
    def first_day(self) -> date:
        return self.start.astimezone(TZ).date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(microseconds=1)).astimezone(TZ).date()

    @property
    def running(self) -> bool:
        return self.as_of < self.end


def quarter_label(when: datetime) -> str:
    day = when.astimezone(TZ)
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def shift_quarter(label: str, by: int) -> str:
    year, q = int(label[:4]), int(label[-1]) - 1 + by
    return f"{year + q // 4}Q{q % 4 + 1}"


def period_for(label: str | None, now: datetime) -> Period:
    """The quarter LABEL (the current one when empty); ValueError for a malformed or future quarter."""
    label = (label or quarter_label(now)).strip().upper()
    start, end = quarter_bounds(label)
    if start > now:
        raise ValueError("该季度尚未开始")
    return Period(label, start, end, min(now, end))


# -- the conditions ------------------------------------------------------------------------------------
def _waiting(p: Period) -> list:
    """A task that was open at as_of (a cancelled one has no end time and is left out)."""
    return [HumanTask.created_at < p.as_of,
            or_(HumanTask.status == "open", and_(HumanTask.status == "completed", HumanTask.completed_at >= p.as_of))]


def _task_conditions(measure: str, p: Period) -> list:
    """Conditions on HumanTask selecting the tasks behind MEASURE in period P."""
    counted = HumanTask.process_key.not_in(EXCLUDED_PROCESSES)
    work, supervision = [counted, HumanTask.kind == "task"], [counted, HumanTask.kind == "supervision"]
    done_in = [HumanTask.status == "completed", HumanTask.completed_at >= p.start, HumanTask.completed_at < p.as_of]
    if measure == "open":
        return [*work, *_waiting(p)]
    if measure == "overdue":
        return [*work, *_waiting(p), HumanTask.due_at < p.as_of]
    if measure == "handled":
        return [*work, *done_in]
    if measure == "timed":
        return [*work, *done_in, HumanTask.due_at.is_not(None)]
    if measure == "late":
        return [*work, *done_in, HumanTask.due_at.is_not(None), HumanTask.completed_at > HumanTask.due_at]
    if measure == "supervised":
        return [*supervision, HumanTask.created_at >= p.start, HumanTask.created_at < p.as_of]
    if measure == "supervision_closed":
        return [*supervision, *done_in]
    if measure == "supervision_open":
        return [*supervision, *_waiting(p)]
    raise ValueError(measure)


def _unit_column(measure: str):
    """The unit a task counts against: its own, or for a 督办 the unit it names as late."""
    return HumanTask.late_unit if measure in _SUPERVISION else HumanTask.unit_code


def _matter_only(measure: str, p: Period) -> list:
    inst = ProcessInstance
    if measure == "open":
        return [inst.started_at < p.as_of, or_(inst.ended_at.is_(None), inst.ended_at >= p.as_of)]
    if measure == "started":
        return [inst.started_at >= p.start, inst.started_at < p.as_of]
    return [inst.ended_at.is_not(None), inst.ended_at >= p.start, inst.ended_at < p.as_of]  # finished


def _task_ids(measure: str, p: Period, unit: str | None):
    conds = _task_conditions(measure, p)
    if unit:
        conds.append(_unit_column(measure) == unit)
    return select(HumanTask.instance_id).where(*conds)


def _participates(unit: str):
    return ProcessInstance.id.in_(select(InstanceUnit.instance_id).where(InstanceUnit.unit_code == unit))


def matter_conditions(measure: str, p: Period, unit: str | None = None, process: str | None = None) -> list:
    """Conditions on ProcessInstance selecting the matters counted by MEASURE (for UNIT and PROCESS)."""
    conds = [ProcessInstance.process_key.not_in(EXCLUDED_PROCESSES)]
    if process:
        conds.append(ProcessInstance.process_key == process)
    if measure == "ontime":  # every deadline of the unit met in the period was met in time
        return [*conds, ProcessInstance.id.in_(_task_ids("timed", p, unit)),
                ProcessInstance.id.not_in(_task_ids("late", p, unit))]
    if measure in _MATTER_MEASURES and not (measure == "open" and unit):
        conds += _matter_only(measure, p)
        if unit:
            conds.append(_participates(unit))
        return conds
    return [*conds, ProcessInstance.id.in_(_task_ids(measure, p, unit))]


# -- the figures ---------------------------------------------------------------------------------------
@dataclass
class FigureRow:
    key: str                  # a unit code or a process key ("" for the totals)
    name: str
    counts: dict[str, int] = field(default_factory=dict)
    avg_days: float | None = None   # average handling time in working days
    avg_basis: int = 0              # how many tasks (per unit) or matters (per procedure) it averages

    @property
    def on_time_rate(self) -> float | None:
        timed = self.counts.get("timed", 0)
        return round(100 * self.counts.get("ontime", 0) / timed, 1) if timed else None


@dataclass
class TrendPoint:
    label: str
    counts: dict[str, int]

    @property
    def on_time_rate(self) -> float | None:
        timed = self.counts.get("timed", 0)
        return round(100 * self.counts.get("ontime", 0) / timed, 1) if timed else None


@dataclass
class Figures:
    period: Period
    unit: str | None              # a unit head's own unit: everything restricted to it
    unit_name: str | None
    totals: FigureRow
    units: list[FigureRow]
    procedures: list[FigureRow]
    trend: list[TrendPoint]


def _count(s, measure: str, p: Period, unit: str | None = None, process: str | None = None) -> int:
    conds = matter_conditions(measure, p, unit, process)
    return int(s.scalar(select(func.count()).select_from(ProcessInstance).where(*conds)) or 0)


def _counts_by_process(s, measure: str, p: Period, unit: str | None) -> dict[str, int]:
    query = (select(ProcessInstance.process_key, func.count()).where(*matter_conditions(measure, p, unit))
             .group_by(ProcessInstance.process_key))
    return {key: int(n) for key, n in s.execute(query).all()}


def _counts_by_unit(s, measure: str, p: Period, only: str | None) -> dict[str, int]:
    if measure == "ontime":
        timed, late = (_counts_by_unit(s, m, p, only) for m in ("timed", "late"))
        return {u: timed[u] - late.get(u, 0) for u in timed}
    column = _unit_column(measure)
    conds = [*_task_conditions(measure, p), column.is_not(None)]
    if only:
        conds.append(column == only)
    query = select(column, func.count(func.distinct(HumanTask.instance_id))).where(*conds).group_by(column)
    return {code: int(n) for code, n in s.execute(query).all()}


def working_days_between(rt: Runtime, start: datetime, end: datetime) -> int | None:
    """Working days after START's day up to END's day (0 within a day); None beyond the loaded schedule."""
    first, last = local_date(start), local_date(end)
    if last <= first:
        return 0
    try:
        return _working_days_in(rt.calendar, first, last)
    except CalendarError:
        return None


def _average(rt: Runtime, spans) -> dict[str, tuple[float, int]]:
    """Key -> (average working days, how many) over (key, start, end) rows."""
    days: dict[str, list[int]] = defaultdict(list)
    for key, start, end in spans:
        n = working_days_between(rt, start, end)
        if n is not None:
            days[key].append(n)
    return {key: (round(sum(v) / len(v), 1), len(v)) for key, v in days.items()}


def _unit_handling(s, rt: Runtime, p: Period, only: str | None) -> dict[str, tuple[float, int]]:
    conds = _task_conditions("handled", p)
    if only:
        conds.append(HumanTask.unit_code == only)
    return _average(rt, s.execute(select(HumanTask.unit_code, HumanTask.created_at, HumanTask.completed_at)
                                  .where(*conds)).all())


def _process_handling(s, rt: Runtime, p: Period, unit: str | None) -> dict[str, tuple[float, int]]:
    conds = matter_conditions("finished", p, unit)
    return _average(rt, s.execute(select(ProcessInstance.process_key, ProcessInstance.started_at,
                                         ProcessInstance.ended_at).where(*conds)).all())


def _procedure_name(rt: Runtime, key: str) -> str:
    bundle = rt.bundle(key)
    return bundle.name if bundle else key


PROCESS_MEASURES = ("open", "overdue", "timed", "ontime", "late", "supervised", "supervision_closed",
                    "supervision_open", "started", "finished")


def dashboard_figures(rt: Runtime, label: str | None, now: datetime, unit: str | None = None,
                      trend_quarters: int = TREND_QUARTERS) -> Figures:
    """The dashboard for quarter LABEL (the current one when empty), for the whole county or, for a unit
    head, restricted to UNIT. ValueError for a quarter that is malformed or has not begun."""
    p = period_for(label, now)
    with rt.session() as s:
        names = dict(s.execute(select(Unit.code, Unit.name)).all())
        by_unit = {m: _counts_by_unit(s, m, p, unit) for m in UNIT_MEASURES}
        unit_days = _unit_handling(s, rt, p, unit)
        by_process = {m: _counts_by_process(s, m, p, unit) for m in PROCESS_MEASURES}
        process_days = _process_handling(s, rt, p, unit)
        totals = FigureRow(unit or "", names.get(unit, unit) if unit else "",
                           {m: _count(s, m, p, unit) for m in PROCESS_MEASURES})
        if unit:
            totals.counts["handled"] = _count(s, "handled", p, unit)
            totals.avg_days, totals.avg_basis = unit_days.get(unit, (None, 0))
        else:
            totals.avg_days, totals.avg_basis = _average(rt, (("", a, b) for _k, a, b in s.execute(
                select(ProcessInstance.process_key, ProcessInstance.started_at, ProcessInstance.ended_at)
                .where(*matter_conditions("finished", p))).all())).get("", (None, 0))
        trend = [TrendPoint(q.label, {m: _count(s, m, q, unit) for m in
                                      ("started", "finished", "overdue", "timed", "ontime", "late", "supervised")})
                 for q in _trend_periods(p, now, trend_quarters)]
    units = _rows(by_unit, unit_days, lambda code: names.get(code, code), UNIT_MEASURES)
    if unit:
        units = [r for r in units if r.key == unit] or [FigureRow(unit, names.get(unit, unit),
                                                                  dict.fromkeys(UNIT_MEASURES, 0))]
    procedures = _rows(by_process, process_days, lambda key: _procedure_name(rt, key), PROCESS_MEASURES)
    units.sort(key=lambda r: (-r.counts["overdue"], -r.counts["open"], -r.counts["supervised"], r.key))
    procedures.sort(key=lambda r: (-r.counts["open"], -r.counts["started"], r.key))
    return Figures(p, unit, names.get(unit) if unit else None, totals, units, procedures, trend)


def _rows(counts: dict[str, dict[str, int]], days: dict[str, tuple[float, int]], name, measures) -> list[FigureRow]:
    keys = set(days)
    for per_key in counts.values():
        keys |= {k for k, n in per_key.items() if n}
    rows = []
    for key in keys:
        row = FigureRow(key, name(key), {m: counts[m].get(key, 0) for m in measures})
        row.avg_days, row.avg_basis = days.get(key, (None, 0))
        rows.append(row)
    return rows


def _trend_periods(p: Period, now: datetime, n: int) -> list[Period]:
    labels = [shift_quarter(p.label, -i) for i in range(n - 1, -1, -1)]
    return [period_for(label, now) for label in labels]


# -- who sees what -------------------------------------------------------------------------------------
# The leading group (its head the county head, the leaders in charge) sees the county's figures; the
# supervision office and the justice bureau (its office, S1) too, and may open every matter behind them.
COUNTY_ROLES = frozenset({"leader", "county_head", "admin"})
# The county government office holds the quarterly joint meeting (S2): it reads the quarter's report.
REPORT_ROLES = frozenset({"government_clerk"})
NOT_FOR_YOU = "统计看板仅供督查室、司法局、领导小组、县长和各单位负责人查看"


def dashboard_scope(viewer) -> tuple[bool, str | None]:
    """(allowed, unit): the county's figures (unit None), a unit head's own unit, or not allowed."""
    if reads_everything(viewer) or viewer.role in COUNTY_ROLES:
        return True, None
    if is_head(viewer):
        return True, viewer.unit_code
    return False, None


def report_scope(viewer) -> tuple[bool, str | None]:
    """The quarter's report: whoever sees the dashboard, and the government office's clerks (S2)."""
    allowed, unit = dashboard_scope(viewer)
    if not allowed and viewer.role in REPORT_ROLES:
        return True, None
    return allowed, unit


def may_drill_down(viewer) -> bool:
    """Whether every matter behind a county-wide number is readable by VIEWER (else the links would show
    fewer rows than the number says): the offices that read every matter, and a unit head on the unit."""
    return reads_everything(viewer) or is_head(viewer)
