"""Standing processes: one quarterly meeting cycle is always running within the policy window."""

from datetime import datetime

from sqlalchemy import select

from runner.calendar import TZ, format_local
from runner.models import ProcessInstance, Timer
from runner.standing import ensure_standing_processes


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


def test_standing_meeting_cycle_is_started_once_and_waits_for_the_quarter_end(rt):
    started = ensure_standing_processes(rt, at("2026-03-02T09:00"))
    assert len(started) == 1
    assert ensure_standing_processes(rt, at("2026-03-03T09:00")) == []
    with rt.session() as s:
        inst = s.get(ProcessInstance, started[0])
        timers = list(s.scalars(select(Timer).where(Timer.instance_id == inst.id, Timer.status == "waiting")))
    assert (inst.process_key, inst.status, inst.initiator) == ("quarterly_meeting", "running", "govoffice.clerk")
    assert inst.business_key.startswith("LXHY-20260302-")
    assert [format_local(t.due_at) for t in timers] == ["2026-03-31 24:00"]


def test_no_new_meeting_cycle_after_the_policy_expires(rt):
    assert ensure_standing_processes(rt, at("2026-11-20T09:00")) == []


def test_standing_cycle_starts_as_the_given_account(rt):
    started = ensure_standing_processes(rt, at("2026-03-02T09:00"), username="govoffice.clerk")
    with rt.session() as s:
        assert s.get(ProcessInstance, started[0]).initiator == "govoffice.clerk"
