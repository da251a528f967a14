"""Statistics a quarterly joint meeting (S2) reviews: started, finished, overdue per procedure and unit.

Quarters are calendar quarters in the county's time (Asia/Shanghai). A task counts as overdue in a
quarter when it was still open past its due time at the quarter's end, or was completed late within
the quarter. Escalations are supervision (督办) tasks opened within the quarter, counted against the
unit they name as late. The standing meeting process itself is not linkage work and is left out.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from runner.calendar import TZ, format_local
from runner.models import HumanTask, ProcessInstance

EXCLUDED_PROCESSES = ("quarterly_meeting",)
OVERDUE_LIST_LIMIT = 50
_LABEL = re.compile(r"^(\d{4})Q([1-4])$")


def quarter_bounds(label: str) -> tuple[datetime, datetime]:
    """Start (inclusive) and end (exclusive) of quarter LABEL ("2026Q1"), as aware local times."""
    match = _LABEL.match(str(label).strip().upper())
    if not match:
        raise ValueError(f"季度应写成 2026Q1 这样的形式：{label!r}")
    year, quarter = int(match.group(1)), int(match.group(2))
    first_month = 3 * (quarter - 1) + 1
    start = datetime(year, first_month, 1, tzinfo=TZ)
    end = datetime(year + (quarter == 4), first_month + 3 if quarter < 4 else 1, 1, tzinfo=TZ)
    return start, end


def quarter_statistics(session: Session, label: str) -> dict:
    """Counts for quarter LABEL (e.g. "2026Q1"), as plain JSON-able data for the meeting's task."""
    start, end = quarter_bounds(label)
    counted = ProcessInstance.process_key.not_in(EXCLUDED_PROCESSES)
    started = list(session.scalars(select(ProcessInstance).where(
        counted, ProcessInstance.started_at >= start, ProcessInstance.started_at < end)))
    finished = list(session.scalars(select(ProcessInstance).where(
        counted, ProcessInstance.status == "completed",
        ProcessInstance.ended_at >= start, ProcessInstance.ended_at < end)))
    running = session.scalar(select(func.count()).select_from(ProcessInstance).where(
        counted, ProcessInstance.started_at < end,
        or_(ProcessInstance.ended_at.is_(None), ProcessInstance.ended_at >= end)))
    tasks_counted = HumanTask.process_key.not_in(EXCLUDED_PROCESSES)
    open_at_end = list(session.scalars(select(HumanTask).where(
        tasks_counted, HumanTask.status != "cancelled", HumanTask.due_at.is_not(None),
        HumanTask.due_at < end, HumanTask.created_at < end,
        or_(HumanTask.completed_at.is_(None), HumanTask.completed_at >= end))))
    completed_late = list(session.scalars(select(HumanTask).where(
        tasks_counted, HumanTask.status == "completed", HumanTask.due_at.is_not(None),
        HumanTask.completed_at >= start, HumanTask.completed_at < end,
        HumanTask.completed_at > HumanTask.due_at)))
    escalations = list(session.scalars(select(HumanTask).where(
        tasks_counted, HumanTask.kind == "supervision",
        HumanTask.created_at >= start, HumanTask.created_at < end)))
    overdue = sorted(open_at_end + completed_late,
                     key=lambda t: (t.due_at, t.business_key, t.element_id, t.unit_code))

    by_process: dict[str, dict[str, int]] = defaultdict(_process_counts)
    by_unit: dict[str, dict[str, int]] = defaultdict(_unit_counts)
    for inst in started:
        by_process[inst.process_key]["started"] += 1
        by_unit[inst.initiator_unit]["initiated"] += 1
        for unit in set(inst.units or []) | {inst.initiator_unit}:
            by_unit[unit]["involved"] += 1
    for inst in finished:
        by_process[inst.process_key]["finished"] += 1
        by_unit[inst.initiator_unit]["finished"] += 1
    for task in overdue:
        by_process[task.process_key]["overdue"] += 1
        by_unit[task.unit_code]["overdue"] += 1
    for task in escalations:
        by_process[task.process_key]["escalations"] += 1
        by_unit[task.late_unit or task.unit_code]["escalations"] += 1

    return {
        "quarter": f"{start.year}Q{(start.month - 1) // 3 + 1}",
        "from": start.date().isoformat(),
        "to": (end.date() - timedelta(days=1)).isoformat(),
        "started": len(started),
        "finished": len(finished),
        "running_at_end": int(running or 0),
        "overdue": len(overdue),
        "overdue_open_at_end": len(open_at_end),
        "completed_late": len(completed_late),
        "escalations": len(escalations),
        "by_process": {key: dict(value) for key, value in sorted(by_process.items())},
        "by_unit": {key: dict(value) for key, value in sorted(by_unit.items())},
        "overdue_tasks": [_overdue_item(t, end) for t in overdue[:OVERDUE_LIST_LIMIT]],
    }


def _process_counts() -> dict[str, int]:
    return {"started": 0, "finished": 0, "overdue": 0, "escalations": 0}


def _unit_counts() -> dict[str, int]:
    return {"initiated": 0, "involved": 0, "finished": 0, "overdue": 0, "escalations": 0}


def _overdue_item(task: HumanTask, end: datetime) -> dict:
    late_done = task.completed_at is not None and task.completed_at < end
    return {
        "business_key": task.business_key,
        "process_key": task.process_key,
        "element_id": task.element_id,
        "name": task.name,
        "unit": task.unit_code,
        "due": format_local(task.due_at),
        "completed": format_local(task.completed_at) if late_done else None,
    }


# -- the quarter's report for the joint meeting (S2), from the dashboard's figures --------------------
REPORT_PROPERTY = "showReport"
_NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
       "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core"}


def element_property(bpmn_xml: str, element_id: str, name: str) -> str | None:
    """The value of spiffworkflow property NAME on element ELEMENT_ID of the diagram, if it has one."""
    from lxml import etree

    root = etree.fromstring(bpmn_xml.encode("utf-8"), parser=etree.XMLParser(resolve_entities=False))
    found = root.xpath("//bpmn:*[@id=$id]/bpmn:extensionElements/spiffworkflow:properties/"
                       "spiffworkflow:property[@name=$name]/@value", namespaces=_NS, id=element_id, name=name)
    return str(found[0]) if found else None


def meeting_report_quarter(session: Session, instance_id: int, element_id: str, data: dict) -> str | None:
    """The quarter whose report a task shows: the diagram marks the task with showReport=quarter and the
    case's variable `quarter` names it (e.g. the joint meeting's task, S2). None for every other task."""
    from runner.models import ProcessDefinition

    xml = session.scalar(select(ProcessDefinition.bpmn_xml)
                         .join(ProcessInstance, ProcessInstance.definition_id == ProcessDefinition.id)
                         .where(ProcessInstance.id == instance_id))
    if not xml or element_property(xml, element_id, REPORT_PROPERTY) != "quarter":
        return None
    label = str((data or {}).get("quarter") or "")
    return label if _LABEL.match(label.upper()) else None


REPORT_UNIT_COLUMNS = ("单位", "待办（件）", "逾期（件）", "期内有期限办结（件）", "按期（件）", "逾期办结（件）",
                       "按期办结率", "平均办理用时（工作日）", "被督办（件）", "督办已办结（件）", "督办未结（件）")
REPORT_PROCESS_COLUMNS = ("流程", "本季发起（件）", "本季办结（件）", "办理中（件）", "逾期（件）", "按期办结率",
                          "平均办结用时（工作日）", "督办（件）", "督办已办结（件）")
REPORT_TREND_COLUMNS = ("季度", "发起（件）", "办结（件）", "逾期（件）", "按期办结率", "督办（件）")


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def _days(value: float | None) -> str | float:
    return "—" if value is None else value


def report_tables(figures) -> dict[str, list[tuple]]:
    """The report's three tables as rows of cells (figures: runner.queries.dashboard.Figures)."""
    units = [(r.name, r.counts["open"], r.counts["overdue"], r.counts["timed"], r.counts["ontime"], r.counts["late"],
              _rate(r.on_time_rate), _days(r.avg_days), r.counts["supervised"], r.counts["supervision_closed"],
              r.counts["supervision_open"]) for r in figures.units]
    procedures = [(r.name, r.counts["started"], r.counts["finished"], r.counts["open"], r.counts["overdue"],
                   _rate(r.on_time_rate), _days(r.avg_days), r.counts["supervised"], r.counts["supervision_closed"])
                  for r in figures.procedures]
    trend = [(t.label, t.counts["started"], t.counts["finished"], t.counts["overdue"], _rate(t.on_time_rate),
              t.counts["supervised"]) for t in figures.trend]
    return {"units": units, "procedures": procedures, "trend": trend}


def report_xlsx(figures, title: str) -> bytes:
    """The quarter's report as an XLSX workbook with Chinese headers: totals, per unit, per procedure, trend."""
    from io import BytesIO

    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    summary = book.active
    summary.title = "概况"
    t = figures.totals
    summary.append([title])
    summary["A1"].font = Font(bold=True, size=14)
    summary.append(["统计期间", f"{figures.period.start.date()} 至 {(figures.period.end - timedelta(days=1)).date()}"])
    summary.append(["统计截至", format_local(figures.period.as_of)])
    for label, value in (("本季发起（件）", t.counts["started"]), ("本季办结（件）", t.counts["finished"]),
                         ("办理中（件）", t.counts["open"]), ("逾期（件）", t.counts["overdue"]),
                         ("按期办结率", _rate(t.on_time_rate)), ("平均办结用时（工作日）", _days(t.avg_days)),
                         ("督办（件）", t.counts["supervised"]), ("督办已办结（件）", t.counts["supervision_closed"])):
        summary.append([label, value])
    summary.column_dimensions["A"].width = 24
    summary.column_dimensions["B"].width = 30
    tables = report_tables(figures)
    for name, header, rows in (("各单位", REPORT_UNIT_COLUMNS, tables["units"]),
                               ("各流程", REPORT_PROCESS_COLUMNS, tables["procedures"]),
                               ("季度趋势", REPORT_TREND_COLUMNS, tables["trend"])):
        sheet = book.create_sheet(name)
        sheet.append(list(header))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append(list(row))
        sheet.column_dimensions["A"].width = 28
    out = BytesIO()
    book.save(out)
    return out.getvalue()
