"""The access rules in runner.access: each Python predicate agrees with its SQL twin, and the role matters.

The grid inserts task rows of every shape (unit and role matching or not, field None/in/out, assignee
None/self/other, open or closed) into a real database and compares, for every demo account, the rows the
Python rule accepts with the rows its SQL twin selects.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from runner import access
from runner.errors import Forbidden
from runner.models import HumanTask, ProcessInstance, Unit, User
from runner.org import demo_accounts
from runner.services import claim_task, complete_task, start_process
from runner.standing import _default_starter
from tests.conftest import T0, snapshot
from tests.runner.conftest import SENDER, START_DATA

UNITS = ("market_regulation", "health", "county_government", "supervision_office", "justice_bureau")
ROLES = ("officer", "unit_head", "leader", "supervision_officer", "justice_reviewer", "legal_staff")
FIELDS = (None, "market", "ecology")
ASSIGNEES = (None, "market_regulation.officer", "market_regulation.head", "health.head", "county.leader_a",
             "supervision.officer")
STATUSES = ("open", "completed")


def _users(rt) -> list[User]:
    with rt.session() as s:
        users = list(s.scalars(select(User).order_by(User.username)))
        s.expunge_all()
    return users


@pytest.fixture
def grid(mini_rt):
    """Every shape of task row, on one real instance; returns (runtime, rows)."""
    iid = start_process(mini_rt, SENDER, "mini", START_DATA, T0)
    with mini_rt.session() as s, s.begin():
        s.execute(delete(HumanTask))
        for n, (unit, role, field, assignee, status) in enumerate(
                itertools.product(UNITS, ROLES, FIELDS, ASSIGNEES, STATUSES)):
            s.add(HumanTask(id=f"grid-{n:04d}", instance_id=iid, process_key="mini", business_key="CS-1",
                            title="t", element_id="send_letter", name="发出移送函", unit_code=unit, role=role,
                            field=field, assignee=assignee, status=status, created_at=T0,
                            due_at=T0 + timedelta(days=n % 5 - 2)))
    with mini_rt.session() as s:
        rows = list(s.scalars(select(HumanTask)))
        s.expunge_all()
    return mini_rt, rows


def _selected(rt, *conditions) -> set[str]:
    with rt.session() as s:
        return set(s.scalars(select(HumanTask.id).where(*conditions)))


def test_grid_covers_every_role_and_task_shape(grid):
    rt, rows = grid
    users = _users(rt)
    assert {u.role for u in users} >= {"officer", "unit_head", "leader", "county_head", "justice_reviewer",
                                       "supervision_officer", "government_clerk", "discipline_officer",
                                       "legal_staff", "admin"}
    assert len(rows) == len(UNITS) * len(ROLES) * len(FIELDS) * len(ASSIGNEES) * len(STATUSES)


def test_can_act_agrees_with_its_sql_twin_for_every_user_and_task(grid):
    rt, rows = grid
    some_yes = 0
    for user in _users(rt):
        python = {r.id for r in rows if access.can_act(user, r)}
        assert _selected(rt, access.can_act_sql(user)) == python, user.username
        some_yes += bool(python)
    assert some_yes >= 10  # the grid exercises the rule, not only its refusals


def test_worklist_agrees_with_its_sql_branches_and_they_do_not_overlap(grid):
    rt, rows = grid
    for user in _users(rt):
        python = {r.id for r in rows if access.in_worklist(user, r)}
        by_role, mine = access.worklist_branches(user)
        by_role_ids, mine_ids = _selected(rt, *by_role), _selected(rt, *mine)
        assert by_role_ids | mine_ids == python, user.username
        assert not by_role_ids & mine_ids, user.username  # union_all would list a task twice


def test_oversight_agrees_with_its_sql_twin(grid):
    rt, rows = grid
    heads = 0
    for user in _users(rt):
        python = {r.id for r in rows if access.oversees(user, r)}
        assert _selected(rt, *access.oversees_sql(user)) == python, user.username
        heads += bool(python)
    assert heads == 2  # market_regulation.head and health.head; the grid's other units have no head


def test_may_read_agrees_with_its_sql_twin(mini_rt):
    for sender, receiver in [(SENDER, "health"), (SENDER, "nanma_street"), ("health.officer", "public_security")]:
        start_process(mini_rt, sender, "mini", {**START_DATA, "receiver_unit": receiver}, T0)
    with mini_rt.session() as s:
        instances = [(i.id, list(i.units)) for i in s.scalars(select(ProcessInstance))]
    for user in _users(mini_rt):
        python = {iid for iid, units in instances if access.may_read(user, units)}
        with mini_rt.session() as s:
            sql = set(s.scalars(select(ProcessInstance.id).where(*access.may_read_sql(user))))
        assert sql == python, user.username


def test_may_start_agrees_with_its_sql_twin_for_every_diagram(rt):
    users = _users(rt)
    for bundle in rt.bundles.values():
        python = {u.username for u in users if access.may_start(bundle, u)}
        with rt.session() as s:
            sql = set(s.scalars(select(User.username).join(Unit, User.unit_code == Unit.code)
                                .where(*access.may_start_sql(bundle))))
            assert sql == python, bundle.process_key
            assert _default_starter(s, bundle) == (min(python) if python else None)


# -- the role matters ------------------------------------------------------------------------------
def _row(**kw) -> HumanTask:
    base = {"unit_code": "market_regulation", "role": "officer", "field": None, "assignee": None, "status": "open"}
    return HumanTask(**{**base, **kw})


def _user(username: str) -> User:
    for name, _pw, unit, role, fields in demo_accounts():
        if name == username:
            return User(username=name, unit_code=unit, role=role, fields=fields)
    raise KeyError(username)


@pytest.mark.parametrize(("username", "task", "expected"), [
    ("market_regulation.officer", _row(), True),
    ("market_regulation.officer", _row(role="unit_head"), False),   # same unit, another role
    ("market_regulation.head", _row(), False),                       # the head does not act on officers' tasks
    ("market_regulation.head", _row(role="unit_head"), True),
    ("health.officer", _row(), False),                               # another unit
    ("market_regulation.officer", _row(assignee="market_regulation.head"), False),
    ("market_regulation.head", _row(assignee="market_regulation.head"), True),  # delegated to the head
    ("county.leader_a", _row(unit_code="county_government", role="leader", field="market"), True),
    ("county.leader_b", _row(unit_code="county_government", role="leader", field="market"), False),
    ("county.head", _row(unit_code="county_government", role="leader", field="market"), False),
    ("county.head", _row(unit_code="county_government", role="county_head"), True),
    ("justice.legal", _row(unit_code="justice_bureau", role="justice_reviewer"), False),
    ("admin", _row(unit_code="justice_bureau", role="justice_reviewer"), False),
])
def test_who_may_act_is_decided_by_unit_role_field_and_assignee(username, task, expected):
    assert access.can_act(_user(username), task) is expected


def _head_task(rt) -> tuple[int, str]:
    """A real task of the unit head's (as a diagram that assigns the head would create)."""
    iid = start_process(rt, SENDER, "mini", START_DATA, T0)
    with rt.session() as s, s.begin():
        row = s.scalars(select(HumanTask).where(HumanTask.instance_id == iid, HumanTask.status == "open")).one()
        row.role = "unit_head"
        return iid, row.id


def test_officer_of_the_unit_cannot_act_on_the_head_task_and_nothing_changes(mini_rt):
    _iid, task_id = _head_task(mini_rt)
    before = snapshot(mini_rt)
    with pytest.raises(Forbidden):
        claim_task(mini_rt, SENDER, task_id, T0)
    with pytest.raises(Forbidden):
        complete_task(mini_rt, SENDER, task_id, {"letter_no": "1", "sent_date": "2026-03-02"}, T0)
    assert snapshot(mini_rt) == before
    complete_task(mini_rt, "market_regulation.head", task_id, {"letter_no": "1", "sent_date": "2026-03-02"}, T0)


def test_officer_inbox_leaves_out_the_head_task_of_the_same_unit(mini_rt):
    from runner.queries import InboxFilters, find_viewer, inbox

    _iid, task_id = _head_task(mini_rt)
    officer = find_viewer(mini_rt, SENDER)
    head = find_viewer(mini_rt, "market_regulation.head")
    assert task_id not in {r.id for r in inbox(mini_rt, officer, InboxFilters(), T0).rows}
    assert task_id in {r.id for r in inbox(mini_rt, head, InboxFilters(), T0).rows}


def test_the_read_side_takes_its_rules_from_access_not_from_the_write_side():
    import ast

    from runner.config import ROOT

    for path in sorted((ROOT / "runner" / "queries").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert "runner.services" not in imported, path.name
