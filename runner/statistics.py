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
