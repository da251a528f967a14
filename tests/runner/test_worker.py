"""The timer worker: claims, leases, backoff and parking on both databases; and on PostgreSQL, worker PROCESSES
racing over a thousand due timers, and a worker killed mid-batch whose rows another worker takes up.

The processes run `liandong worker --once --now T`: a fixed injected clock, no sleeping, no wall clock."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from runner import services
from runner.calendar import TZ
from runner.config import ROOT
from runner.errors import Conflict, Forbidden, Invalid
from runner.models import AuditEntry, HumanTask, ProcessInstance, Timer
from runner.runtime import spec_for
from runner.services import fire_due_timers, start_process
from runner.worker import BACKOFF, LEASE, MAX_ATTEMPTS, claim, drain, retry_timer, run_round
from tests.runner.conftest import FIXTURES, SENDER, START_DATA

T0 = datetime(2026, 3, 2, 9, tzinfo=TZ)
LATE = datetime(2026, 3, 6, 9, tzinfo=TZ)  # past the 3 working days of mini's letter timer
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _timers(rt, **where):
    with rt.session() as s:
        return list(s.scalars(select(Timer).filter_by(**where).order_by(Timer.instance_id)))


def _fired_audits(rt) -> dict[str, int]:
    with rt.session() as s:
        rows = s.execute(select(AuditEntry.task_id, func.count()).where(AuditEntry.action == "timer")
                         .group_by(AuditEntry.task_id)).all()
    return dict(rows)


def test_a_due_timer_fires_once_and_is_marked_fired(mini_rt):
    iid = start_process(mini_rt, SENDER, "mini", START_DATA, T0)
    assert fire_due_timers(mini_rt, LATE) == 1
    assert fire_due_timers(mini_rt, LATE) == 0
    (timer,) = _timers(mini_rt, instance_id=iid)
    assert (timer.status, timer.claimed_by, timer.attempts) == ("fired", None, 0)
    assert list(_fired_audits(mini_rt).values()) == [1]


def test_a_live_lease_keeps_other_workers_off_until_it_runs_out(mini_rt):
    iid = start_process(mini_rt, SENDER, "mini", START_DATA, T0)
    held = claim(mini_rt, "a", LATE, batch=10)
    assert list(held) == [iid]
    # worker "a" dies here; "b" finds the row held until the lease runs out, then takes it up
    assert run_round(mini_rt, LATE, "b").claimed == 0
    assert run_round(mini_rt, LATE + LEASE - timedelta(seconds=1), "b").claimed == 0
    after = run_round(mini_rt, LATE + LEASE + timedelta(seconds=1), "b")
    assert (after.claimed, after.advanced) == (1, 1)
    assert [t.status for t in _timers(mini_rt, instance_id=iid)] == ["fired"]


def test_a_failing_timer_backs_off_then_is_parked_without_blocking_others(mini_rt, monkeypatch):
    bad, good = (start_process(mini_rt, SENDER, "mini", START_DATA, T0) for _ in range(2))
    real_fire = services._fire

    def fire(rt, instance_id, now):
        if instance_id == bad:
            raise Invalid("流程图中的期限或办理单位设置未能计算，请联系系统管理员")
        return real_fire(rt, instance_id, now)

    monkeypatch.setattr(services, "_fire", fire)
    now = LATE
    assert fire_due_timers(mini_rt, now) == 1  # the good one fires; the bad one fails once
    for attempts in range(1, MAX_ATTEMPTS):
        (timer,) = _timers(mini_rt, instance_id=bad)
        assert (timer.attempts, timer.parked) == (attempts, False)
        assert timer.next_attempt_at == now + timedelta(seconds=BACKOFF[attempts - 1])
        if BACKOFF[attempts - 1]:  # before its backoff is over, no worker touches it
            assert run_round(mini_rt, timer.next_attempt_at - timedelta(seconds=1), "w").claimed == 0
        now = timer.next_attempt_at
        assert fire_due_timers(mini_rt, now) == 0
    (timer,) = _timers(mini_rt, instance_id=bad)
    assert timer.parked and timer.attempts == MAX_ATTEMPTS and "未能计算" in timer.last_error
    assert timer.status == "waiting"
    # parked: never claimed again, however late
    assert drain(mini_rt, now + timedelta(days=30)).claimed == 0
    assert [t.status for t in _timers(mini_rt, instance_id=good)] == ["fired"]
    with mini_rt.session() as s:
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.instance_id == bad)
                                 .order_by(AuditEntry.id)))
    assert actions.count("timer_failed") == MAX_ATTEMPTS - 1 and actions.count("timer_parked") == 1
    assert len(BACKOFF) == MAX_ATTEMPTS - 1


def test_an_administrator_retries_a_parked_timer_and_it_fires(mini_rt, monkeypatch):
    iid = start_process(mini_rt, SENDER, "mini", START_DATA, T0)
    with mini_rt.session() as s, s.begin():
        timer = s.scalars(select(Timer).where(Timer.instance_id == iid)).one()
        timer.parked, timer.attempts, timer.last_error = True, MAX_ATTEMPTS, "测试错误"
        timer_id = timer.id
    assert fire_due_timers(mini_rt, LATE) == 0
    with pytest.raises(Forbidden):
        retry_timer(mini_rt, SENDER, timer_id, LATE)
    assert _timers(mini_rt, instance_id=iid)[0].parked
    retry_timer(mini_rt, "admin", timer_id, LATE)
    with pytest.raises(Conflict):
        retry_timer(mini_rt, "admin", timer_id, LATE)
    assert fire_due_timers(mini_rt, LATE) == 1
    assert [t.status for t in _timers(mini_rt, instance_id=iid)] == ["fired"]


# -- PostgreSQL: worker processes ------------------------------------------------------------------
def _clone_instances(rt, iid: int, n: int) -> None:
    """Copy case IID (one waiting timer, one open task) N times with fresh task ids: a thousand cases in a
    second, where starting each through the service would take most of a minute."""
    with rt.session() as s, s.begin():
        inst = s.get(ProcessInstance, iid)
        tasks = list(s.scalars(select(HumanTask).where(HumanTask.instance_id == iid)))
        timers = list(s.scalars(select(Timer).where(Timer.instance_id == iid)))
        ids = set(UUID.findall(inst.state_json))
        next_id = s.scalar(select(func.max(ProcessInstance.id))) + 1
        inst_rows, task_rows, timer_rows = [], [], []
        for k in range(n):
            new = {u: str(uuid.uuid4()) for u in ids}
            new_iid = next_id + k
            inst_rows.append(dict(
                id=new_iid, definition_id=inst.definition_id, process_key=inst.process_key,
                business_key=f"{inst.business_key}-{k}", title=inst.title, status="running", end_events=[],
                initiator=inst.initiator, initiator_unit=inst.initiator_unit, units=inst.units,
                started_at=inst.started_at, serializer_version=inst.serializer_version,
                state_json=UUID.sub(lambda m, new=new: new.get(m.group(0), m.group(0)), inst.state_json),
                data_summary=inst.data_summary, lock_version=1))
            task_rows += [dict(id=new[t.id], instance_id=new_iid, process_key=t.process_key,
                               business_key=f"{t.business_key}-{k}", title=t.title, element_id=t.element_id,
                               name=t.name, kind=t.kind, unit_code=t.unit_code, role=t.role, rules=t.rules,
                               documentation=t.documentation, due_at=t.due_at, status=t.status,
                               created_at=t.created_at) for t in tasks]
            timer_rows += [dict(id=new[t.id], instance_id=new_iid, element_id=t.element_id, name=t.name,
                                due_at=t.due_at, status="waiting") for t in timers]
        s.execute(insert(ProcessInstance), inst_rows)
        s.execute(insert(HumanTask), task_rows)
        s.execute(insert(Timer), timer_rows)


def _prepare(rt, n: int) -> None:
    iid = start_process(rt, SENDER, "mini", START_DATA, T0)
    _clone_instances(rt, iid, n - 1)


def _worker(database_url: str, now: datetime, name: str, batch: int = 20) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": database_url, "LIANDONG_BPMN_DIR": str(FIXTURES),
           "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "runner.cli", "worker", "--once", "--now", now.isoformat(),
                             "--batch", str(batch), "--name", name], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _assert_each_fired_once_and_cases_whole(rt, n: int) -> None:
    audits = _fired_audits(rt)
    assert len(audits) == n and set(audits.values()) == {1}, "a timer fired twice or not at all"
    with rt.session() as s:
        statuses = dict(s.execute(select(Timer.status, func.count()).group_by(Timer.status)).all())
        assert statuses == {"fired": n}
        supervisions = s.scalar(select(func.count()).select_from(HumanTask).where(
            HumanTask.element_id == "supervise_letter"))
        assert supervisions == n  # one 督办 per case: nobody advanced a case twice
        for inst in s.scalars(select(ProcessInstance)):
            wf = rt.engine.load_state(inst.state_json, spec_for(rt, inst.definition), inst.serializer_version)
            ready = {t.id for t in rt.engine.ready_user_tasks(wf)}
            open_ids = set(s.scalars(select(HumanTask.id).where(HumanTask.instance_id == inst.id,
                                                                HumanTask.status == "open")))
            assert ready == open_ids, f"case {inst.id}: task rows differ from the workflow"


RACE_TIMERS = int(os.environ.get("LIANDONG_WORKER_TIMERS", "1000"))
RACE_WORKERS = int(os.environ.get("LIANDONG_WORKERS", "2"))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_worker_processes_racing_over_a_thousand_timers_fire_each_once(mini_rt, database_url):
    _prepare(mini_rt, RACE_TIMERS)
    started = time.monotonic()
    procs = [_worker(database_url, LATE, f"w{k}") for k in range(RACE_WORKERS)]
    outputs = [p.communicate(timeout=300) for p in procs]
    elapsed = time.monotonic() - started
    assert [p.returncode for p in procs] == [0] * RACE_WORKERS, outputs
    claimed = [int(re.search(r"认领 (\d+) 个", out).group(1)) for out, _err in outputs]
    busy = [float(re.search(r"用时 ([\d.]+) 秒", out).group(1)) for out, _err in outputs]
    assert sum(claimed) == RACE_TIMERS and all(claimed), claimed  # both took part, no row twice
    _assert_each_fired_once_and_cases_whole(mini_rt, RACE_TIMERS)
    print(f"\n{RACE_TIMERS} timers, {RACE_WORKERS} worker(s): {elapsed:.1f} s "
          f"({RACE_TIMERS / elapsed:.0f}/s, processes included); claimed {claimed}; "
          f"firing took {max(busy):.1f} s ({RACE_TIMERS / max(busy):.0f}/s)")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_worker_killed_mid_batch_leaves_whole_cases_and_another_takes_its_rows_up(mini_rt, database_url):
    n = 300
    _prepare(mini_rt, n)
    # One batch holding every row: whenever it is killed, it holds the rows it has not fired yet.
    victim = _worker(database_url, LATE, "victim", batch=n)
    deadline = time.monotonic() + 120
    while len(_fired_audits(mini_rt)) < 20:  # kill it once it is well into its batch
        assert victim.poll() is None, victim.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    fired_before = len(_fired_audits(mini_rt))
    held = len(_timers(mini_rt, claimed_by="victim", status="waiting"))
    assert 0 < fired_before < n and held > 0, (fired_before, held)
    # at the same moment the dead worker's lease still holds its rows
    early = _worker(database_url, LATE, "early")
    out, err = early.communicate(timeout=120)
    assert early.returncode == 0, err
    assert len(_timers(mini_rt, claimed_by="victim", status="waiting")) == held
    # once the lease has run out, another worker takes them up
    rescuer = _worker(database_url, LATE + LEASE + timedelta(seconds=1), "rescuer")
    out, err = rescuer.communicate(timeout=120)
    assert rescuer.returncode == 0, err
    _assert_each_fired_once_and_cases_whole(mini_rt, n)
