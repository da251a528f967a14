"""The timer worker: claims due timers, fires them with the case lock, retries failures with backoff, parks
the hopeless ones for an administrator.

Exactly once: a timer fires inside `services._fire`, which takes the case's row lock, re-reads the case's
waiting timers and marks the fired ones in the same transaction. Whatever a worker claimed, two workers can
never both fire one timer: the second waits for the lock and finds nothing due. Claims only spread the work:

- PostgreSQL: several workers at once; each claims a batch with SELECT ... FOR UPDATE SKIP LOCKED, so two
  workers never wait on the same rows, and marks them with a lease (claimed_by, claimed_until).
- SQLite: one worker (the database has a single writer anyway); the same statements, without row locks.

A worker killed at any point leaves each case before or after its step (the step is one transaction), and
the rows it had claimed are taken up again once their lease has run out.

Time is a parameter: every function takes NOW, and the loop takes a clock; only `liandong worker` reads
the wall clock (scheduler.wall_clock).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from runner import services
from runner.errors import Conflict, DomainError, NotFound
from runner.models import AuditEntry, Timer
from runner.notices import record_deadline_events
from runner.runtime import Runtime
from runner.sync import SYSTEM

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
# Seconds to wait after the 1st, 2nd, 3rd, 4th failure; the 5th parks the timer. The first retry is at
# once (the next round): most failures are a lost race or a dropped connection that will not recur.
BACKOFF = (0, 60, 300, 1800)
MAX_ATTEMPTS = len(BACKOFF) + 1


def worker_name() -> str:
    """host:pid, so an administrator can tell which process holds a row."""
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


@dataclass
class Round:
    claimed: int = 0  # timer rows this round claimed
    advanced: int = 0  # cases moved on by a fired timer
    failed: int = 0  # cases whose step failed (retried later)
    parked: int = 0  # timers parked in this round after their last failure


def due_condition(now: datetime):
    """Timers a worker may take at NOW: waiting, due, not parked, past their backoff and not held by a live
    lease."""
    return and_(Timer.status == "waiting", Timer.due_at < now, Timer.parked.is_(False),
                or_(Timer.next_attempt_at.is_(None), Timer.next_attempt_at <= now),
                or_(Timer.claimed_until.is_(None), Timer.claimed_until < now))


def claim(rt: Runtime, worker: str, now: datetime, batch: int | None, lease: timedelta = LEASE,
          skip: set[str] | frozenset = frozenset()) -> dict[int, list[str]]:
    """Claim up to BATCH due timers for WORKER until NOW + LEASE; return them by case, oldest due first.
    SKIP: timers that failed earlier in this drain (their retry belongs to a later round)."""
    with rt.session() as s, s.begin():
        query = select(Timer.id, Timer.instance_id).where(due_condition(now)).order_by(Timer.due_at, Timer.id)
        if skip:
            query = query.where(Timer.id.not_in(sorted(skip)))
        if batch:
            query = query.limit(batch)
        # SKIP LOCKED: rows another worker is claiming right now are left to it (ignored on SQLite).
        rows = s.execute(query.with_for_update(skip_locked=True)).all()
        if rows:
            s.execute(update(Timer).where(Timer.id.in_([r.id for r in rows]))
                      .values(claimed_by=worker, claimed_until=now + lease))
    out: dict[int, list[str]] = {}
    for timer_id, instance_id in rows:
        out.setdefault(instance_id, []).append(timer_id)
    return out


def run_round(rt: Runtime, now: datetime, worker: str = "inline", batch: int | None = None,
              lease: timedelta = LEASE, should_stop: Callable[[], bool] = lambda: False,
              failed: set[str] | None = None) -> Round:
    """Claim one batch and fire it, case by case; a failure on one case never stops the others.
    FAILED, when given, collects the ids of timers whose case failed."""
    result = Round()
    failed = set() if failed is None else failed
    claimed = claim(rt, worker, now, batch, lease, failed)
    result.claimed = sum(len(ids) for ids in claimed.values())
    for instance_id, timer_ids in claimed.items():
        if should_stop():
            _release(rt, worker, [t for ids in claimed.values() for t in ids])
            break
        try:
            if services._guard(lambda iid=instance_id: services._fire(rt, iid, now)):
                result.advanced += 1
            else:
                _release(rt, worker, timer_ids)
        except (DomainError, SQLAlchemyError) as exc:
            log.warning("timer of instance %s failed: %s", instance_id, exc)
            result.failed += 1
            failed.update(timer_ids)
            result.parked += _failed(rt, instance_id, timer_ids, _message(exc), now)
    return result


def drain(rt: Runtime, now: datetime, worker: str = "inline", batch: int | None = 100,
          lease: timedelta = LEASE) -> Round:
    """Run rounds at NOW until one claims nothing; return the totals (what `--once` and the tests use)."""
    total, failed = Round(), set()
    while True:
        one = run_round(rt, now, worker, batch, lease, failed=failed)
        if not one.claimed:
            return total
        total.claimed += one.claimed
        total.advanced += one.advanced
        total.failed += one.failed
        total.parked += one.parked


# The orphan sweep (evidence files of refused forms) rides on the timer worker, at most this often.
SWEEP_EVERY = timedelta(hours=1)


def sweep_if_due(rt: Runtime, now: datetime, last: datetime | None) -> datetime | None:
    """Run `evidence.sweep_orphans` when the last sweep (LAST, None: never in this process) is an hour old;
    return when the sweep last ran. A failed sweep is logged and tried again next hour."""
    from runner.evidence import sweep_orphans, upload_folder

    if last is not None and now - last < SWEEP_EVERY:
        return last
    try:
        removed = sweep_orphans(rt, upload_folder(rt.settings), now)
        if removed:
            log.info("orphan sweep removed %d files", len(removed))
    except Exception:  # noqa: BLE001 - housekeeping never stops the timers
        log.exception("orphan sweep failed")
    return now


def run_forever(rt: Runtime, clock: Callable[[], datetime], interval: float, stop: threading.Event,
                worker: str | None = None, batch: int = 100, lease: timedelta = LEASE) -> None:
    """Drain due timers every INTERVAL seconds until STOP is set; a failed round is logged, never fatal."""
    worker = worker or worker_name()
    last_sweep = None
    while not stop.is_set():
        try:
            record_deadline_events(rt, clock())
            last_sweep = sweep_if_due(rt, clock(), last_sweep)
            busy = True
            while busy and not stop.is_set():  # a full batch: there may be more, go on at once
                one = run_round(rt, clock(), worker, batch, lease, stop.is_set)
                busy = one.claimed >= batch
                if one.claimed:
                    log.info("worker %s: %d claimed, %d advanced, %d failed, %d parked", worker, one.claimed,
                             one.advanced, one.failed, one.parked)
        except Exception:  # noqa: BLE001 - the loop must survive one bad round (e.g. the database restarting)
            log.exception("timer round failed")
        stop.wait(interval)


def _message(exc: Exception) -> str:
    if isinstance(exc, DomainError):
        return exc.message
    return "数据库操作失败：" + (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0][:300]


def _release(rt: Runtime, worker: str, timer_ids: list[str]) -> None:
    """Give back rows WORKER claimed but did not fire (nothing due any more, or stopping)."""
    if not timer_ids:
        return
    with rt.session() as s, s.begin():
        s.execute(update(Timer).where(Timer.id.in_(timer_ids), Timer.claimed_by == worker)
                  .values(claimed_by=None, claimed_until=None))


def _failed(rt: Runtime, instance_id: int, timer_ids: list[str], message: str, now: datetime) -> int:
    """Count a failure on the case's claimed timers: back off, or park after MAX_ATTEMPTS; return how many
    were parked. Written and audited in a transaction of its own (the step itself changed nothing)."""
    parked = 0
    with rt.session() as s, s.begin():
        for timer in s.scalars(select(Timer).where(Timer.id.in_(timer_ids), Timer.status == "waiting")):
            timer.attempts = (timer.attempts or 0) + 1
            timer.last_error = message
            timer.claimed_by = timer.claimed_until = None
            if timer.attempts >= MAX_ATTEMPTS:
                timer.parked, timer.next_attempt_at = True, None
                parked += 1
                detail = f"定时器「{timer.name}」连续 {timer.attempts} 次处理失败，已暂停，待管理员处理：{message}"
                action = "timer_parked"
            else:
                timer.next_attempt_at = now + timedelta(seconds=BACKOFF[timer.attempts - 1])
                detail = f"定时器「{timer.name}」第 {timer.attempts} 次处理失败，将于稍后重试：{message}"
                action = "timer_failed"
            s.add(AuditEntry(at=now, actor=SYSTEM, action=action, instance_id=instance_id, task_id=timer.id,
                             element_id=timer.element_id, detail=detail))
    return parked


def retry_timer(rt: Runtime, username: str, timer_id: str, now: datetime) -> str:
    """As an administrator, put parked timer TIMER_ID back in the queue (fresh attempts); return its name."""
    from runner.access import is_admin

    with rt.session() as s, s.begin():
        user = services._user(s, username)
        if not is_admin(user):
            raise services.deny(rt, username, "timer_retry", f"{user.display_name} 无权重试定时器", now)
        timer = s.get(Timer, str(timer_id)[:36])
        if timer is None:
            raise NotFound("定时器不存在")
        if timer.status != "waiting" or not timer.parked:
            raise Conflict(f"定时器「{timer.name}」未被暂停，无需重试")
        timer.parked, timer.attempts, timer.next_attempt_at = False, 0, None
        timer.claimed_by = timer.claimed_until = None
        s.add(AuditEntry(at=now, actor=username, action="timer_retry", instance_id=timer.instance_id,
                         task_id=timer.id, element_id=timer.element_id,
                         detail=f"重新排队已暂停的定时器「{timer.name}」（上次错误：{timer.last_error}）"))
        return timer.name
