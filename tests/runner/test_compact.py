"""Compaction (runner/compact.py) changes no behaviour and keeps a long loop's state bounded.

Every scenario runs twice on SQLite, with compaction on and off; after every step, everything a person or
the next action can see of every case must be the same: open and closed tasks, timers, notices, audit entries,
the case data and summary, and, read from the stored state, the ready tasks with their data, the waiting
timers, the merged data, the end events and outcome, the diagram overlay and the earlier answers a form
opens with. Task ids are random, so tasks are compared by element, unit and order."""

from __future__ import annotations

import json
import random
import uuid
from datetime import timedelta

import pytest
from SpiffWorkflow import task as spiff_task
from sqlalchemy import select

from bench.actions import OFFICER, RECEIVER, RETURN, START, SUPPLEMENT, T0, TO_REVIEW
from runner import compact as compact_module
from runner import engine as engine_module
from runner import simulate
from runner.config import settings_from_env
from runner.models import AuditEntry, HumanTask, Notice, ProcessInstance, Timer
from runner.runtime import spec_for
from runner.services import complete_task, start_process
from tests.conftest import SCENARIO_DIR

SCENARIOS = sorted(SCENARIO_DIR.glob("*.yaml"))
STEP = simulate._Run.step


def _snapshot(run) -> list:
    """What can be seen of every case after one scenario step (ids replaced by positions)."""
    rt, out = run.rt, []
    with rt.session() as s:
        for inst in s.scalars(select(ProcessInstance).order_by(ProcessInstance.id)):
            rows = list(s.scalars(select(HumanTask).where(HumanTask.instance_id == inst.id)
                                  .order_by(HumanTask.created_at, HumanTask.element_id, HumanTask.unit_code)))
            ids = {r.id: n for n, r in enumerate(rows)}
            tasks = [(r.element_id, r.unit_code, r.role, r.kind, r.status, r.assignee, r.completed_by,
                      str(r.due_at), r.late_unit, r.late_repeat, str(r.completed_at)) for r in rows]
            timers = sorted((t.element_id, str(t.due_at), t.status) for t in s.scalars(
                select(Timer).where(Timer.instance_id == inst.id)))
            notices = [(n.unit_code, n.kind, n.element_id, n.text) for n in s.scalars(
                select(Notice).where(Notice.instance_id == inst.id).order_by(Notice.id))]
            audit = [(a.actor, a.action, a.element_id, ids.get(a.task_id, a.task_id is not None))
                     for a in s.scalars(select(AuditEntry).where(AuditEntry.instance_id == inst.id)
                                        .order_by(AuditEntry.id))]
            wf = rt.engine.load_state(inst.state_json, spec_for(rt, inst.definition), inst.serializer_version)
            ready = sorted((t.element_id, ids.get(t.id), json.dumps(t.data, sort_keys=True, default=str))
                           for t in rt.engine.ready_user_tasks(wf))
            earlier = sorted((t.element_id, ids.get(t.id),
                              json.dumps(rt.engine.earlier_answer(wf, t.id, sorted(t.data)), sort_keys=True,
                                         default=str)) for t in rt.engine.ready_user_tasks(wf))
            waiting = sorted((t.element_id, str(t.due_at), sorted(ids.get(h, -1) for h in t.host_task_ids))
                             for t in rt.engine.waiting_timers(wf))
            out.append({
                "status": inst.status, "end_event": inst.end_event, "end_events": inst.end_events,
                "summary": json.dumps(inst.data_summary, sort_keys=True, default=str), "units": inst.units,
                "tasks": tasks, "timers": timers, "notices": notices, "audit": audit, "ready": ready,
                "earlier": earlier, "waiting": waiting,
                "data": json.dumps(rt.engine.data(wf), sort_keys=True, default=str),
                "outcome": rt.engine.outcome(wf), "reached": rt.engine.reached_end_events(wf),
                "overlay": rt.engine.element_states(wf), "completed": rt.engine.is_completed(wf)})
    return out


def run_recorded(path, db_file, monkeypatch, record) -> object:
    """Run scenario PATH on the SQLite file DB_FILE, calling RECORD(run, index) after every step; return the
    outcome. Task ids are random, and a scenario picks the first of two tasks opened at once by id: every run
    draws the same ids in the same order, so two runs pick the same task (a comparison would otherwise be a
    coin toss)."""
    ids = random.Random(20260302)
    monkeypatch.setattr(spiff_task, "uuid4", lambda: uuid.UUID(int=ids.getrandbits(128), version=4))

    def step(self, index, step):
        STEP(self, index, step)
        record(self, index)

    monkeypatch.setattr(simulate._Run, "step", step)
    return simulate.run_scenario(path, settings_from_env().with_(database_url=f"sqlite:///{db_file}"))


def assert_same_steps(got: list, want: list) -> None:
    """Two runs' (step, snapshot) lists: every key of every case the same at every step."""
    assert len(got) == len(want)
    for (index, cases_got), (_index, cases_want) in zip(got, want, strict=True):
        for n, (case_got, case_want) in enumerate(zip(cases_got, cases_want, strict=True)):
            for key in case_want:
                assert case_got[key] == case_want[key], f"step {index}, case {n}: {key} differs"


def _run(path, tmp_path, compaction: bool, monkeypatch) -> tuple[list, object]:
    snapshots = []
    monkeypatch.setattr(engine_module, "COMPACTION", compaction)
    outcome = run_recorded(path, tmp_path / f"{'on' if compaction else 'off'}.db", monkeypatch,
                           lambda run, index: snapshots.append((index, _snapshot(run))))
    return snapshots, outcome


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_a_scenario_sees_the_same_at_every_step_with_and_without_compaction(path, tmp_path, monkeypatch):
    removed = []
    real = compact_module.compact
    monkeypatch.setattr(engine_module, "compact", lambda wf: removed.append(real(wf)) or removed[-1])
    with_, outcome = _run(path, tmp_path, True, monkeypatch)
    assert outcome.ok, "\n".join(outcome.transcript)
    removed.clear()
    without, reference = _run(path, tmp_path, False, monkeypatch)
    assert reference.ok
    assert removed == []  # the reference run really kept every task
    assert_same_steps(with_, without)
    assert outcome.transcript == reference.transcript


def test_the_scenarios_do_exercise_compaction(tmp_path, monkeypatch):
    """Guard against a comparison that compares nothing: the scenarios with loops and long paths do remove
    completed tasks (a returned-and-supplemented transfer, a plan revised after opinions)."""
    removed = []
    real = compact_module.compact
    monkeypatch.setattr(engine_module, "compact", lambda wf: removed.append(real(wf)) or removed[-1])
    for name in ("case_transfer__returned_incomplete_supplemented", "joint_enforcement__revision_after_opinions"):
        outcome = simulate.run_scenario(SCENARIO_DIR / f"{name}.yaml",
                                        settings_from_env().with_(database_url=f"sqlite:///{tmp_path}/{name}.db"))
        assert outcome.ok
    assert sum(removed) > 0


def _to_review(rt, now):
    iid = start_process(rt, OFFICER, "case_transfer", START, now)
    for element, who, data in TO_REVIEW:
        complete_task(rt, who, _open_id(rt, iid, element), data, now)
    return iid


def _open_id(rt, iid, element):
    with rt.session() as s:
        return s.scalar(select(HumanTask.id).where(HumanTask.instance_id == iid, HumanTask.element_id == element,
                                                   HumanTask.status == "open"))


def _stored(rt, iid):
    """(bytes of the stored state, tasks in it, deepest task, status) of case IID."""
    with rt.session() as s:
        inst = s.get(ProcessInstance, iid)
        wf = rt.engine.load_state(inst.state_json, spec_for(rt, inst.definition), inst.serializer_version)
        return len(inst.state_json), len(wf.tasks), max(t.depth for t in wf.tasks.values()), inst.status


def test_a_long_loop_through_the_services_keeps_its_stored_state_flat(rt):
    """Return and supplement, each action its own transaction, on SQLite and PostgreSQL."""
    now = T0
    iid = _to_review(rt, now)
    sizes = {}
    for turn in range(1, 61):
        for element, who, data in (("review_transfer", RECEIVER, RETURN),
                                   ("supplement_materials", OFFICER, SUPPLEMENT)):
            now += timedelta(minutes=1)
            complete_task(rt, who, _open_id(rt, iid, element), data, now)
        if turn in (10, 60):
            sizes[turn] = _stored(rt, iid)
    (size10, tasks10, depth10, _), (size60, tasks60, depth60, status) = sizes[10], sizes[60]
    assert status == "running" and _open_id(rt, iid, "review_transfer") is not None
    assert tasks60 == tasks10 and depth60 == depth10  # nothing accumulates per turn
    assert size60 <= size10 * 1.02  # the bytes differ only in the digits of timestamps


def test_a_thousand_turn_loop_keeps_a_bounded_state_and_stays_open(rt):
    """The same loop 1,000 times, saved and restored after every action as the runner does (in memory: the
    database adds nothing to what is stored). Without compaction this case was refused at about turn 2,000
    and, before the guard, silently ended at about turn 250."""
    from runner.runtime import active_definition
    from runner.services import _form_variable

    engine = rt.engine
    with rt.session() as s:
        definition = active_definition(s, "case_transfer", T0)
        bundle, spec = rt.bundle_for(definition), spec_for(rt, definition)
    wf = engine.new_workflow(bundle, {"title": START["title"], "initiator": OFFICER,
                                      "initiator_unit": "market_regulation", "initiator_unit_kind": "department",
                                      "started_at": T0.isoformat(), "business_key": "B-1"})
    engine.advance(wf, T0)
    state, version = engine.dump_state(wf)
    now, sizes = T0, {}

    def act(element, data):
        nonlocal state, now
        now += timedelta(minutes=1)
        case = engine.load_state(state, spec, version)
        task = next(t for t in engine.ready_user_tasks(case) if t.element_id == element)
        variable = _form_variable(bundle, element)
        engine.complete(case, task.id, {variable: data} if variable else data, now)
        state = engine.dump_state(case)[0]

    for element, _who, data in TO_REVIEW:
        act(element, data)
    for turn in range(1, 1001):
        act("review_transfer", RETURN)
        act("supplement_materials", SUPPLEMENT)
        if turn in (20, 1000):
            case = engine.load_state(state, spec, version)
            sizes[turn] = (len(state), len(case.tasks), max(t.depth for t in case.tasks.values()))
    assert sizes[1000][1:] == sizes[20][1:]  # as many tasks, as deep
    assert sizes[1000][0] <= sizes[20][0] * 1.02  # bytes at turn 1000 ≈ bytes at turn 20
    assert not engine.is_completed(case)
    assert [t.element_id for t in engine.ready_user_tasks(case)] == ["review_transfer"]
    assert json.loads(state)["tasks"]  # a real state, not an empty one


def test_a_state_stored_before_compaction_loads_and_is_compacted_on_its_next_save(rt, monkeypatch):
    now = T0
    monkeypatch.setattr(engine_module, "COMPACTION", False)
    rt.engine.compaction = False
    iid = _to_review(rt, now)
    for _ in range(15):
        for element, who, data in (("review_transfer", RECEIVER, RETURN),
                                   ("supplement_materials", OFFICER, SUPPLEMENT)):
            now += timedelta(minutes=1)
            complete_task(rt, who, _open_id(rt, iid, element), data, now)
    size_full, tasks_full, depth_full, _ = _stored(rt, iid)
    rt.engine.compaction = True
    rt.engine.depth_guard = 40  # the old state is deeper: it is compacted, not refused
    assert depth_full > 40
    with rt.session() as s:  # it loads as it is, with every task it had
        inst = s.get(ProcessInstance, iid)
        wf = rt.engine.load_state(inst.state_json, spec_for(rt, inst.definition), inst.serializer_version)
        assert len(wf.tasks) == tasks_full
        summary = dict(inst.data_summary)
    now += timedelta(minutes=1)
    complete_task(rt, RECEIVER, _open_id(rt, iid, "review_transfer"), RETURN, now)
    size, tasks, depth, status = _stored(rt, iid)
    assert status == "running" and _open_id(rt, iid, "supplement_materials") is not None
    assert tasks < tasks_full - 40 and depth < depth_full - 40 and size < size_full / 2
    with rt.session() as s:
        assert s.get(ProcessInstance, iid).data_summary == summary  # the same answer again: the same data
