"""Lateness in words: a task completed after its deadline, and what a 督办 (supervision task) is about."""

from __future__ import annotations

from flask_babel import gettext

from runner.calendar import format_local


def overdue_text(days: int | None) -> str:
    """"已逾期 N 个工作日", or less than one working day."""
    if days is None:
        return ""
    if days > 0:
        return gettext("已逾期 %(n)s 个工作日", n=days)
    return gettext("已逾期（不足 1 个工作日）")


def late_completion_text(row) -> str:
    """"逾期 N 个工作日办结" for a task completed after its deadline; empty otherwise."""
    days = getattr(row, "late_days", None)
    if days is None:
        return ""
    if days > 0:
        return gettext("逾期 %(n)s 个工作日办结", n=days)
    return gettext("逾期办结（不足 1 个工作日）")


def late_days_text(days: int | None) -> str:
    """The diagram's badge for an element completed late."""
    if days is None:
        return ""
    return gettext("逾期 %(n)s 个工作日办结", n=days) if days > 0 else gettext("逾期办结")


def supervision_text(row) -> str:
    """督办：<unit> 未按期办理「<task>」，期限 <deadline>，已逾期 N 个工作日 (counted when shown)."""
    if getattr(row, "kind", None) != "supervision" or not row.late_unit:
        return ""
    if not row.late_task:
        return gettext("督办：%(unit)s 逾期未办", unit=row.late_unit)
    text = gettext("督办：%(unit)s 未按期办理「%(task)s」", unit=row.late_unit, task=row.late_task)
    if row.late_due_at is None:
        return text
    text += gettext("，期限 %(due)s", due=format_local(row.late_due_at))
    if row.late_task_days is None:
        return text
    return text + gettext("，%(late)s", late=overdue_text(row.late_task_days))


def referral_text(row) -> str:
    """建议移送纪检监察机关追责：<why> (S6), for a 督办 whose late unit reached the procedure's limits."""
    ref = getattr(row, "referral", None)
    if ref is None:
        return ""
    reasons = []
    if ref.repeat:
        reasons.append(gettext("该单位在本事项第 %(n)s 次逾期被督办", n=ref.repeat))
    if ref.late_days is not None:
        reasons.append(gettext("逾期已达 %(n)s 个工作日（本流程规定 %(limit)s 个工作日）", n=ref.late_days,
                               limit=ref.limit))
    return gettext("建议移送纪检监察机关追责：%(why)s", why=gettext("；").join(reasons))
