"""The inbox query of issue 10: narrow statements built once per viewer and filters, plain rows, cached unit
names; what it shows must not change with any of that."""

from datetime import datetime, timedelta

from runner.calendar import TZ
from runner.models import Unit
from runner.queries import InboxFilters, find_viewer, inbox
from runner.queries.worklist import _STATEMENTS
from runner.services import fire_due_timers
from tests.conftest import T0
from tests.webui.conftest import SENDER, start_transfer


def test_inbox_rows_come_in_deadline_order_with_every_field_a_row_shows(rt):
    first = start_transfer(rt, T0 + timedelta(days=2), "后到期", upto="letter")
    second = start_transfer(rt, T0, "先到期", upto="letter")
    officer = find_viewer(rt, SENDER)
    page = inbox(rt, officer, InboxFilters(), T0 + timedelta(days=2))
    assert [r.instance_id for r in page.rows] == [second, first] and page.total == 2
    row = page.rows[0]
    assert (row.title, row.name, row.unit_name, row.can_act) == ("先到期", "发出移送函并移送材料", "县市场监管局", True)
    assert row.days_left is not None and row.due_at is not None and not row.overdue
    two = inbox(rt, officer, InboxFilters(per_page=1, page=2), T0 + timedelta(days=2))
    assert [r.instance_id for r in two.rows] == [first] and two.total == 2


def test_the_overdue_filter_is_never_answered_from_an_earlier_time(rt):
    start_transfer(rt, T0, upto="letter")
    officer = find_viewer(rt, SENDER)
    overdue = InboxFilters(status="overdue")
    assert inbox(rt, officer, overdue, T0).rows == []  # built and kept for T0
    late = datetime(2026, 3, 9, 10, tzinfo=TZ)
    fire_due_timers(rt, late)
    assert len(inbox(rt, officer, overdue, late).rows) == 1


def test_the_same_viewer_and_filters_reuse_one_statement_and_others_get_their_own(rt):
    start_transfer(rt, T0, upto="letter")
    officer = find_viewer(rt, SENDER)
    _STATEMENTS.clear()
    inbox(rt, officer, InboxFilters(), T0)
    inbox(rt, officer, InboxFilters(), T0 + timedelta(hours=1))
    assert len(_STATEMENTS) == 1
    receiver = find_viewer(rt, "health.officer")
    theirs = inbox(rt, receiver, InboxFilters(), T0).rows  # not the sender's statement
    assert {r.unit_code for r in theirs} == {"health"} and "发出移送函并移送材料" not in {r.name for r in theirs}
    assert len(_STATEMENTS) == 2


def test_a_renamed_unit_shows_its_new_name_at_once(rt):
    start_transfer(rt, T0, upto="letter")
    officer = find_viewer(rt, SENDER)
    assert inbox(rt, officer, InboxFilters(), T0).rows[0].unit_name == "县市场监管局"
    with rt.session() as s, s.begin():
        s.get(Unit, "market_regulation").name = "县市场监督管理局"
    assert inbox(rt, officer, InboxFilters(), T0).rows[0].unit_name == "县市场监督管理局"
