"""Deadlines seen from now: the reminder before a deadline, and the proposal to refer a late unit to discipline
inspection (S6). Both are computed when read, from the task rows, the working calendar and the diagram's
process properties:

- ``reminderWorkingDays`` (default 1): an open task whose deadline is at most this many working days away
  (and not yet passed) carries a reminder for its unit;
- ``referralWorkingDays`` (default 5) and ``referralRepeats`` (default 2): a 督办 whose late unit is this many
  working days late, or late for the this-many-th time on the same matter, is proposed for referral.

Why at read time rather than written by the worker: the answer depends on "now" and on the working calendar,
which an administrator may reload (a changed holiday moves a reminder with its deadline); a computed marker is
always right, needs no rows per task, and is there even when no worker runs. The worker only writes the audit
entry when a reminder or a proposal first arises (runner/notices.record_deadline_events).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from runner.queries.workdays import days_left
from runner.runtime import Runtime

DEFAULTS = {"reminderWorkingDays": 1, "referralWorkingDays": 5, "referralRepeats": 2}


def setting(rt: Runtime, process_key: str, name: str) -> int:
    """The procedure's NAME (a whole number of the diagram's process properties), else the default."""
    bundle = rt.bundle(process_key)
    raw = (bundle.properties if bundle else {}).get(name)
    try:
        return int(raw) if raw not in (None, "") else DEFAULTS[name]
    except ValueError:
        return DEFAULTS[name]


def reminder_due(rt: Runtime, process_key: str, kind: str, status: str, due_at: datetime | None,
                 now: datetime) -> bool:
    """Whether an open task (not a 督办) with deadline DUE_AT is within its procedure's reminder window."""
    if status != "open" or due_at is None or kind == "supervision" or now >= due_at:
        return False
    window = setting(rt, process_key, "reminderWorkingDays")
    left = days_left(rt, now, due_at)
    return window > 0 and left is not None and left <= window


@dataclass(frozen=True)
class Referral:
    """A 督办's proposal to refer the late unit to discipline inspection, and why (either or both)."""

    repeat: int | None  # the late unit's n-th 督办 on this matter, when that reached the procedure's number
    late_days: int | None  # working days late, when that reached the procedure's limit
    repeats: int  # the procedure's number of repeats
    limit: int  # the procedure's limit in working days


def referral(rt: Runtime, process_key: str, kind: str, status: str, repeat: int | None,
             late_days: int | None) -> Referral | None:
    """Whether (and why) a 督办 proposes referral to discipline inspection (S6); None when it does not."""
    if kind != "supervision" or status == "cancelled":
        return None
    repeats = setting(rt, process_key, "referralRepeats")
    limit = setting(rt, process_key, "referralWorkingDays")
    by_repeat = repeat if repeats > 0 and repeat and repeat >= repeats else None
    by_days = late_days if limit > 0 and late_days is not None and late_days >= limit else None
    if by_repeat is None and by_days is None:
        return None
    return Referral(by_repeat, by_days, repeats, limit)
