"""Services against a real database: happy path, refusals that change nothing, races, timers, crashes."""

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from runner import services
from runner.calendar import TZ
from runner.errors import Conflict, Forbidden, Invalid, NotFound
from runner.models import AuditEntry, HumanTask, InstanceUnit, ProcessDefinition, ProcessInstance, Timer
from runner.services import (
    claim_task,
    complete_task,
    delegate_task,
    fire_due_timers,
    release_task,
    start_process,
)
from tests.conftest import T0, snapshot
from tests.runner.conftest import RECEIVER, SENDER, START_DATA


def open_tasks(rt, iid):
    with rt.session() as s:
        return {r.element_id: r for r in s.scalars(select(HumanTask).where(
            HumanTask.instance_id == iid, HumanTask.status == "open"))}


def denied_count(rt):
    with rt.session() as s:
        return s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "denied"))


def test_start_opens_sender_task_with_working_day_deadline(mini_rt):
    iid = start_process(mini_rt, SENDER, "mini", START_DATA, T0)
    tasks = open_tasks(mini_rt, iid)
    assert list(tasks) == ["send_letter"]
    task = tasks["send_letter"]
    assert (task.unit_code, task.role) == ("market_regulation", "officer")
    assert task.rules == ["P5"]
    # notice on Mon 2026-03-02: the letter is due by the end of Thu 03-05
    assert task.due_at == datetime(2026, 3, 6, tzinfo=TZ)
    with mini_rt.session() as s:
        inst = s.get(ProcessInstance, iid)
        assert inst.business_key == "CS-20260302-0001"
        assert inst.data_summary["notice_date"] == "2026-03-02"
        assert set(inst.units) == {"market_regulation", "health"}
        indexed = set(s.scalars(select(InstanceUnit.unit_code).where(InstanceUnit.instance_id == iid)))
        assert indexed == {"market_regulation", "health"}
        timer = s.scalars(select(Timer).where(Timer.instance_id == iid)).one()
        assert timer.due_at == datetime(2026, 3, 6, tzinfo=TZ)


def test_whole_path_to_acceptance(mini_rt):
    iid = start_process(mini_rt, SENDER, "mini", START_DATA, T0)
    send = open_tasks(mini_rt, iid)["send_letter"]
    complete_task(mini_rt, SENDER, send.id, {"letter_no": "源市监移〔2026〕1号", "sent_date": "2026-03-03"},
                  T0 + timedelta(days=1))
    review = open_tasks(mini_rt, iid)["review_transfer"]
    assert review.unit_code == "health"
    complete_task(mini_rt, RECEIVER, review.id, {"decision": "accept"}, T0 + timedelta(days=2))
    with mini_rt.session() as s:
        inst = s.get(ProcessInstance, iid)
        assert (inst.status, inst.end_event) == ("completed", "end_accepted")
        waiting = s.scalars(select(Timer).where(Timer.instance_id == iid, Timer.status == "waiting")).all()
        assert waiting == []


@pytest.mark.parametrize(("user", "key", "data", "error", "field"), [
    (SENDER, "no_such_process", START_DATA, NotFound, None),
    ("nobody", "mini", START_DATA, Forbidden, None),
    (SENDER, "mini", {"receiver_unit": "health"}, Invalid, "title"),
    (SENDER, "mini", {**START_DATA, "receiver_unit": "no_such_unit"}, Invalid, "receiver_unit"),
    (SENDER, "mini", {**START_DATA, "fee": 100}, Invalid, "fee"),
    (SENDER, "mini", {**START_DATA, "title": 42}, Invalid, "title"),
])
def test_bad_start_is_refused_and_changes_nothing(mini_rt, user, key, data, error, field):
    before = snapshot(mini_rt)
    with pytest.raises(error) as info:
        start_process(mini_rt, user, key, data, T0)
    assert info.value.message
    if field:
        assert field in info.value.field_errors
    assert snapshot(mini_rt) == before


def test_start_by_role_not_allowed_is_denied_and_audited(mini_rt):
    before = snapshot(mini_rt)
    with pytest.raises(Forbidden, match="无权发起"):
        start_process(mini_rt, "supervision.officer", "mini", START_DATA, T0)
    assert snapshot(mini_rt) == before
    assert denied_count(mini_rt) == 1


def test_start_after_policy_expiry_is_refused_citing_v1(mini_rt):
    before = snapshot(mini_rt)
    with pytest.raises(Invalid, match="2026-11-19"):
        start_process(mini_rt, SENDER, "mini", START_DATA, datetime(2026, 11, 20, 9, tzinfo=TZ))
    assert snapshot(mini_rt) == before


def test_foreign_unit_cannot_complete_and_nothing_changes(mini_rt):
    iid = start_process(mini_rt, SENDER, "mini", START_DATA, T0)
    task = open_tasks(mini_rt, iid)["send_letter"]
    before = snapshot(mini_rt)
    with pytest.raises(Forbidden):
        complete_task(mini_rt, RECEIVER, task.id, {"letter_no": "x", "sent_date": "2026-03-02"}, T0)
    assert snapshot(mini_rt) == before
    assert denied_count(mini_rt) == 1


@pytest.mark.parametrize(("data", "field"), [
    ({}, "letter_no"),
    ({"letter_no": "x", "sent_date": "03/02/2026"}, "sent_date"),
    ({"letter_no": "x", "sent_date": "2026-03-02", "extra": 1}, "extra"),
    ({"letter_no": ["x"], "sent_date": "2026-03-02"}, "letter_no"),
])
def test_invalid_form_names_the_field_and_changes_nothing(mini_rt, data, field):
    iid = start_process(mini_rt, SENDER, "mini", START_DATA, T0)
    task = open_tasks(mini_rt, iid)["send_letter"]
    before = snapshot(mini_rt)
    with pytest.raises(Invalid) as info:
        complete_task(mini_rt, SENDER, task.id, data, T0)
    assert field in info.value.field_errors
    assert snapshot(mini_rt) == before


def test_conditional_requirement_from_schema(mini_rt):
    iid = start_process(mini_rt, SENDER, "mini", START_DATA, T0)
    complete_task(mini_rt, SENDER, open_tasks(mini_rt, iid)["send_letter"].id,
                  {"letter_no": "1", "sent_date": "2026-03-02"}, T0)
    review = open_tasks(mini_rt, iid)["review_transfer"]
    with pytest.raises(Invalid) as info:
        complete_task(mini_rt, RECEIVER, review.id, {"decision": "return"}, T0)
    assert "reason" in info.value.field_errors


def test_unknown_task_is_not_found(mini_rt):
    for task_id in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        with pytest.raises(NotFound):
            complete_task(mini_rt, SENDER, task_id, {}, T0)


def test_replayed_submission_is_refused_audited_and_nothing_doubles(mini_rt):
    iid = start_process(mini_rt, SENDER, "mini", START_DATA, T0)
    task = open_tasks(mini_rt, iid)["send_letter"]
    data = {"letter_no": "1", "sent_date": "2026-03-02"}
    complete_task(mini_rt, SENDER, task.id, data, T0)
    before = snapshot(mini_rt)
    with pytest.raises(Forbidden, match="不能重复提交"):
        complete_task(mini_rt, SENDER, task.id, data, T0)
    assert snapshot(mini_rt) == before
    assert denied_count(mini_rt) == 1


def test_two_simultaneous_completions_one_wins(mini_rt, monkeypatch):
    iid = start_process(mini_rt, SENDER, "mini", START_DATA, T0)
    task = open_tasks(mini_rt, iid)["send_letter"]
    barrier = threading.Barrier(2, timeout=10)
    real_lock = services.lock_instance
    calls = {"n": 0}

    def lock_after_both_checked(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] <= 2:  # both found the task open; then one takes the case's lock, the other waits
            barrier.wait()
        return real_lock(*args, **kwargs)

    monkeypatch.setattr(services, "lock_instance", lock_after_both_checked)
    results = []

    def worker():
        try:
            complete_task(mini_rt, SENDER, task.id, {"letter_no": "1", "sent_date": "2026-03-02"}, T0)
            results.append("ok")
        except Conflict as exc:
            results.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(map(str, results)).count("ok") == 1
    assert any(isinstance(r, Conflict) for r in results)
    with mini_rt.session() as s:
        completes = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "complete"))
        reviews = s.scalar(select(func.count()).select_from(HumanTask).where(
            HumanTask.element_id == "review_transfer"))
    assert (completes, reviews) == (1, 1)


def test_crash_mid_step_leaves_instance_before_the_step(mini_rt, monkeypatch):
    iid = start_process(mini_rt, SENDER, "mini", START_DATA, T0)
    task = open_tasks(mini_rt, iid)["send_letter"]
    before = snapshot(mini_rt)

    def crash(*_args, **_kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr(services, "sync_instance", crash)
    with pytest.raises(RuntimeError):
        complete_task(mini_rt, SENDER, task.id, {"letter_no": "1", "sent_date": "2026-03-02"}, T0)
    assert snapshot(mini_rt) == before


def test_late_letter_opens_supervision_task_and_keeps_sender_task(mini_rt):
    iid = start_process(mini_rt, SENDER, "mini", START_DATA, T0)
    assert fire_due_timers(mini_rt, datetime(2026, 3, 5, 23, 59, tzinfo=TZ)) == 0
    assert set(open_tasks(mini_rt, iid)) == {"send_letter"}
    assert fire_due_timers(mini_rt, datetime(2026, 3, 6, 0, 1, tzinfo=TZ)) == 1
    tasks = open_tasks(mini_rt, iid)
    assert set(tasks) == {"send_letter", "supervise_letter"}
    sup = tasks["supervise_letter"]
    assert (sup.kind, sup.unit_code, sup.role, sup.late_unit) == (
        "supervision", "supervision_office", "supervision_officer", "market_regulation")
    assert fire_due_timers(mini_rt, datetime(2026, 3, 7, tzinfo=TZ)) == 0  # fires once
    with mini_rt.session() as s:
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.instance_id == iid)))
    assert "escalate" in actions and "timer" in actions


def test_claim_release_delegate(mini_rt):
    iid = start_process(mini_rt, SENDER, "mini", START_DATA, T0)
    task = open_tasks(mini_rt, iid)["send_letter"]
    claim_task(mini_rt, SENDER, task.id, T0)
    # once claimed, a colleague of the same role can no longer act on it
    with pytest.raises(Forbidden):
        claim_task(mini_rt, "market_regulation.head", task.id, T0)
    release_task(mini_rt, SENDER, task.id, T0)
    before = snapshot(mini_rt)
    with pytest.raises(Invalid, match="本单位"):
        delegate_task(mini_rt, SENDER, task.id, RECEIVER, T0)
    with pytest.raises(Invalid):
        delegate_task(mini_rt, SENDER, task.id, "ghost", T0)
    assert snapshot(mini_rt) == before
    delegate_task(mini_rt, SENDER, task.id, "market_regulation.head", T0)
    assert open_tasks(mini_rt, iid)["send_letter"].assignee == "market_regulation.head"
    with pytest.raises(Forbidden):
        complete_task(mini_rt, SENDER, task.id, {"letter_no": "1", "sent_date": "2026-03-02"}, T0)
    complete_task(mini_rt, "market_regulation.head", task.id, {"letter_no": "1", "sent_date": "2026-03-02"}, T0)
    assert "review_transfer" in open_tasks(mini_rt, iid)


def test_spec_stored_once_per_version_not_in_instances(mini_rt):
    for _ in range(3):
        start_process(mini_rt, SENDER, "mini", START_DATA, T0)
    with mini_rt.session() as s:
        assert s.scalar(select(func.count()).select_from(ProcessDefinition)) == 1
        for inst in s.scalars(select(ProcessInstance)):
            assert '"spec"' not in inst.state_json[:200] and "task_specs" not in inst.state_json


def test_audit_log_is_append_only(mini_rt):
    start_process(mini_rt, SENDER, "mini", START_DATA, T0)
    with mini_rt.session() as s:
        entry = s.scalars(select(AuditEntry)).first()
        entry.detail = "rewritten"
        with pytest.raises(PermissionError):
            s.commit()
        s.rollback()
        with pytest.raises(PermissionError):
            s.delete(entry)
            s.commit()


def test_outcome_ignores_auxiliary_escalation_end(mini_rt):
    iid = start_process(mini_rt, SENDER, "mini", START_DATA, T0)
    assert fire_due_timers(mini_rt, datetime(2026, 3, 6, 0, 0, tzinfo=TZ)) == 0  # due instant: not yet late
    fire_due_timers(mini_rt, datetime(2026, 3, 6, 9, 0, tzinfo=TZ))
    tasks = open_tasks(mini_rt, iid)
    later = datetime(2026, 3, 6, 10, tzinfo=TZ)
    complete_task(mini_rt, SENDER, tasks["send_letter"].id, {"letter_no": "1", "sent_date": "2026-03-06"}, later)
    complete_task(mini_rt, RECEIVER, open_tasks(mini_rt, iid)["review_transfer"].id, {"decision": "accept"}, later)
    # the supervision office closes its 督办 last; the matter still ended in acceptance
    complete_task(mini_rt, "supervision.officer", tasks["supervise_letter"].id, {"action": "电话督促"},
                  later + timedelta(hours=1))
    with mini_rt.session() as s:
        inst = s.get(ProcessInstance, iid)
        assert inst.status == "completed"
        assert inst.end_event == "end_accepted"
        assert inst.end_events == ["end_accepted", "end_supervised"]


def test_process_documentation_comes_from_the_diagram(rt):
    assert all(b.documentation for b in rt.bundles.values())
