"""Workflows kept warm between actions (runner/warm.py) change nothing a person or the next action sees.

Every scenario runs twice on SQLite, with the cache on and off, and after every step the same things are
compared as for compaction (tests/runner/test_compact.py), plus the stored state itself. The cache must never
hand out a workflow that the case's row does not hold: not after a failed action, and not after another
process moved the case on."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from bench.actions import LETTER, OFFICER, RECEIPT, REGISTER, START, T0
from runner import services
from runner import warm as warm_module
from runner.errors import Conflict, Forbidden
from runner.models import HumanTask, ProcessInstance
from runner.runtime import make_runtime
from runner.services import complete_task, start_process
from tests.conftest import SCENARIO_DIR
from tests.runner.test_compact import SCENARIOS, _open_id, _snapshot, assert_same_steps, run_recorded


def _without_clock(state_json: str) -> dict:
    """A stored state less SpiffWorkflow's wall-clock stamps (last_state_change): the rest is deterministic."""
    state = json.loads(state_json)

    def strip(node):
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "last_state_change"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node
    return strip(state)


def _run(path, tmp_path, size: int, monkeypatch):
    snapshots, hits = [], []

    def record(run, index):
        cases = _snapshot(run)
        with run.rt.session() as s:  # the stored state of each case too, in the snapshot's order (by id)
            for case, inst in zip(cases, s.scalars(select(ProcessInstance).order_by(ProcessInstance.id)),
                                  strict=True):
                case["state"] = _without_clock(inst.state_json)
        snapshots.append((index, cases))
        hits.append(run.rt.engine.warm.hits)

    monkeypatch.setattr(warm_module, "WARM_CASES", size)
    outcome = run_recorded(path, tmp_path / f"warm{size}.db", monkeypatch, record)
    return snapshots, outcome, hits


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_a_scenario_sees_the_same_at_every_step_with_and_without_warm_workflows(path, tmp_path, monkeypatch):
    warm, outcome, hits = _run(path, tmp_path, 64, monkeypatch)
    assert outcome.ok, "\n".join(outcome.transcript)
    cold, reference, cold_hits = _run(path, tmp_path, 0, monkeypatch)
    assert reference.ok
    assert set(cold_hits) <= {0}  # the reference run really rebuilt every workflow
    assert_same_steps(warm, cold)
    assert outcome.transcript == reference.transcript


def test_the_scenarios_do_take_warm_workflows(tmp_path, monkeypatch):
    """Guard against a comparison that compares two cold runs: a scenario's actions do reuse the workflow."""
    _snapshots, outcome, hits = _run(SCENARIO_DIR / "case_transfer__returned_incomplete_supplemented.yaml",
                                     tmp_path, 64, monkeypatch)
    assert outcome.ok
    assert hits[-1] >= 3


def test_an_action_that_failed_after_saving_leaves_nothing_warm_for_the_next(rt, monkeypatch):
    """The failed action's workflow had the task completed; the row still has it open. The retry must act on
    the row's state (a workflow kept by case id would refuse: the task is no longer ready in it)."""
    iid = start_process(rt, OFFICER, "case_transfer", START, T0)
    task = _open_id(rt, iid, "register_case")

    def crash(*_a, **_k):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(services, "_record_uploads", crash)  # after the state was saved into the row
    with pytest.raises(RuntimeError):
        complete_task(rt, OFFICER, task, REGISTER, T0)
    monkeypatch.undo()
    with rt.session() as s:
        assert s.get(HumanTask, task).status == "open"
    misses = rt.engine.warm.misses
    complete_task(rt, OFFICER, task, REGISTER, T0)
    assert rt.engine.warm.misses == misses + 1  # rebuilt from the row, not taken
    assert _open_id(rt, iid, "send_letter") is not None


def test_a_case_moved_on_by_another_process_is_rebuilt_from_its_row(rt, settings):
    """Two processes (two runtimes on one database): what one kept warm is stale once the other acted."""
    other = make_runtime(settings, create=False)
    try:
        iid = start_process(rt, OFFICER, "case_transfer", START, T0)
        complete_task(rt, OFFICER, _open_id(rt, iid, "register_case"), REGISTER, T0)  # rt keeps this state warm
        complete_task(other, OFFICER, _open_id(rt, iid, "send_letter"), LETTER, T0 + timedelta(minutes=1))
        hits = rt.engine.warm.hits
        # the letter step exists only in the row: a stale warm workflow would still wait on the letter
        complete_task(rt, "health.officer", _open_id(rt, iid, "receive_letter"), RECEIPT, T0 + timedelta(minutes=2))
        assert rt.engine.warm.hits == hits
        assert _open_id(rt, iid, "review_transfer") is not None
        # and a replay of the step the other process did is refused, as without the cache
        with rt.session() as s:
            letter = s.scalar(select(HumanTask.id).where(HumanTask.instance_id == iid,
                                                         HumanTask.element_id == "send_letter"))
        with pytest.raises((Forbidden, Conflict)):
            complete_task(rt, OFFICER, letter, LETTER, T0 + timedelta(minutes=3))
    finally:
        other.session_factory.kw["bind"].dispose()


def test_warm_workflows_are_bounded():
    cache = warm_module.WarmWorkflows(size=2)

    class Wf:
        spec = object()
    kept = [Wf() for _ in range(3)]
    for n, wf in enumerate(kept):
        cache.put(f"state {n}", wf)
    assert cache.take("state 0", Wf.spec) is None  # the oldest went out
    assert cache.take("state 2", Wf.spec) is kept[2]
    assert cache.take("state 2", Wf.spec) is None  # taken, not shared
    assert cache.take("state 1", object()) is None  # another version's spec: not this workflow

