"""Real concurrent actions on one case: parallel branches completed at once, and timers firing during a completion.

Each thread calls the service as a request would, in its own session; a barrier lines them up so that both are
in flight at the same moment. Repeated over several rounds, on SQLite and PostgreSQL."""

import os
import threading
from datetime import datetime
from functools import partial

import yaml
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from runner import services
from runner.calendar import TZ
from runner.models import AuditEntry, HumanTask, ProcessInstance, Timer
from runner.services import complete_task, fire_due_timers, start_process
from tests.conftest import SCENARIO_DIR
from tests.runner.conftest import SENDER, START_DATA
from tests.webui.conftest import Browser
from webui import create_app

ROUNDS = int(os.environ.get("LIANDONG_RACE_ROUNDS", "4"))  # raise it for a longer stress run
SCENARIO = SCENARIO_DIR / "joint_enforcement__p4a_single_field.yaml"
UNITS = {"health": "health.officer", "nanma_street": "nanma_street.officer"}


def drive_to(rt, element: str) -> tuple[int, dict]:
    """Run the single-field joint enforcement scenario up to the first completion of ELEMENT.

    Return the instance id and the data the scenario then submits for ELEMENT, by unit."""
    steps = yaml.safe_load(SCENARIO.read_text(encoding="utf-8"))["steps"]
    now, iid, payload = None, None, {}
    for step in steps:
        if "at" in step:
            now = datetime.fromisoformat(str(step["at"]))
        elif "start" in step:
            iid = start_process(rt, step["as"], step["start"], step["data"], now)
        elif step.get("complete") == element:
            payload[step["unit"]] = step["data"]
        elif "complete" in step and not payload:
            complete_task(rt, step["as"], open_task(rt, iid, step["complete"], step.get("unit")).id, step["data"],
                          now)
    return iid, payload


def open_task(rt, iid: int, element: str, unit: str | None = None) -> HumanTask:
    with rt.session() as s:
        query = select(HumanTask).where(HumanTask.instance_id == iid, HumanTask.element_id == element,
                                        HumanTask.status == "open")
        if unit:
            query = query.where(HumanTask.unit_code == unit)
        return s.scalars(query).one()


def run_together(*actions) -> list:
    """Run each action in its own thread, released at the same moment; return each result or exception."""
    barrier = threading.Barrier(len(actions), timeout=30)
    results: list = [None] * len(actions)

    def worker(i, action):
        barrier.wait()
        try:
            results[i] = action()
        except Exception as exc:  # noqa: BLE001 - the test reports whatever escaped
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i, a)) for i, a in enumerate(actions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a racing action hung"
    return results


def test_two_units_giving_opinions_at_once_both_succeed(rt):
    both_succeeded = 0
    for round_no in range(ROUNDS):
        iid, opinions = drive_to(rt, "collect_opinions")
        now = datetime(2026, 3, 2, 10, round_no, tzinfo=TZ)
        tasks = {unit: open_task(rt, iid, "collect_opinions", unit).id for unit in UNITS}
        order = list(UNITS) if round_no % 2 == 0 else list(reversed(UNITS))
        results = run_together(*[partial(complete_task, rt, UNITS[u], tasks[u], opinions[u], now) for u in order])
        assert results == [iid, iid], f"round {round_no}: {results!r}"
        both_succeeded += 1
        with rt.session() as s:
            inst = s.get(ProcessInstance, iid)
            stored = {o["unit"]: o for o in inst.data_summary["opinions"]}
            completes = s.scalar(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.instance_id == iid, AuditEntry.action == "complete",
                AuditEntry.element_id == "collect_opinions"))
        assert stored == {u: {**opinions[u]["opinion"], "unit": u} for u in UNITS}
        assert completes == 2
        assert open_task(rt, iid, "review_opinions").unit_code == "market_regulation"
    assert both_succeeded == ROUNDS


def test_two_units_posting_opinions_over_http_at_once_both_succeed(rt, settings, clock, tmp_path):
    """The same race through the web form: two signed-in browsers post at the same moment."""
    app = create_app(settings.with_(extra={"upload_dir": str(tmp_path / "uploads")}), clock=clock)
    app.config["TESTING"] = True
    try:
        browsers = {}
        for unit, username in UNITS.items():
            browsers[unit] = Browser(app.test_client(), username)
            assert browsers[unit].login().status_code == 302
        for round_no in range(ROUNDS // 2):
            iid, _opinions = drive_to(rt, "collect_opinions")
            forms = {"health": {"opinion.stance": "agree"},
                     "nanma_street": {"opinion.stance": "disagree", "opinion.comments": "夜间检查人手不足"}}
            posts = [partial(browsers[u].post, f"/tasks/{open_task(rt, iid, 'collect_opinions', u).id}", forms[u])
                     for u in UNITS]
            results = run_together(*posts)
            assert [getattr(r, "status_code", r) for r in results] == [302, 302], f"round {round_no}"
            with rt.session() as s:
                stored = {o["unit"]: o["stance"] for o in s.get(ProcessInstance, iid).data_summary["opinions"]}
            assert stored == {"health": "agree", "nanma_street": "disagree"}
    finally:
        app.extensions["liandong"].session_factory.kw["bind"].dispose()


def test_a_timer_round_racing_a_completion_fires_each_due_timer_once(rt):
    after_time_limit = datetime(2026, 3, 21, 9, 0, tzinfo=TZ)
    for round_no in range(ROUNDS):
        iid, reports = drive_to(rt, "report_implementation")
        task = open_task(rt, iid, "report_implementation", "health").id
        results = run_together(
            partial(complete_task, rt, UNITS["health"], task, reports["health"], after_time_limit),
            partial(fire_due_timers, rt, after_time_limit))
        assert results[0] == iid, f"round {round_no}: {results!r}"
        assert not isinstance(results[1], Exception), f"round {round_no}: {results!r}"
        # Whichever lost the race, the timer is due until it fires (in the round, or inside the completion,
        # which advances the case to the same moment): later rounds find nothing more to fire.
        assert fire_due_timers(rt, after_time_limit) == 0
        with rt.session() as s:
            waiting = s.scalar(select(func.count()).select_from(Timer).where(
                Timer.instance_id == iid, Timer.element_id == "report_overdue", Timer.status == "waiting"))
            failures = s.scalar(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.instance_id == iid, AuditEntry.action == "denied"))
            supervised = list(s.scalars(select(HumanTask.late_unit).where(
                HumanTask.instance_id == iid, HumanTask.element_id == "supervise_late_report")))
        assert (waiting, failures) == (0, 0), f"round {round_no}"
        # Fired exactly once: one supervision per late unit, and the unit still late among them.
        assert "nanma_street" in supervised and len(supervised) == len(set(supervised)), f"round {round_no}"
        assert open_task(rt, iid, "report_implementation", "nanma_street").status == "open"


def test_a_database_failure_on_one_case_does_not_stop_the_timer_round(mini_rt, monkeypatch):
    first, second = (start_process(mini_rt, SENDER, "mini", START_DATA, datetime(2026, 3, 2, 9, tzinfo=TZ))
                     for _ in range(2))
    real_fire = services._fire

    def fire_failing_on_first(rt, instance_id, now):
        if instance_id == first:
            raise OperationalError("SELECT ...", {}, Exception("connection reset"))
        return real_fire(rt, instance_id, now)

    monkeypatch.setattr(services, "_fire", fire_failing_on_first)
    late = datetime(2026, 3, 6, 9, tzinfo=TZ)
    assert fire_due_timers(mini_rt, late) == 1
    monkeypatch.setattr(services, "_fire", real_fire)
    assert fire_due_timers(mini_rt, late) == 1  # the failed one fires in the next round, once
    assert fire_due_timers(mini_rt, late) == 0
    for iid in (first, second):
        assert open_task(mini_rt, iid, "supervise_letter").kind == "supervision"
