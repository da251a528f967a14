"""The dashboard's figures on a seeded set of case transfers driven through the real diagram with a simulated
clock: on time against late, handling time in working days, state at the quarter's end, 督办 raised and closed,
and that every figure is exactly the matters its drill-down condition selects."""

from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from runner.calendar import TZ
from runner.models import ProcessInstance
from runner.queries.dashboard import (
    MEASURES,
    dashboard_figures,
    matter_conditions,
    period_for,
    shift_quarter,
    working_days_between,
)
from runner.services import complete_task, fire_due_timers
from tests.conftest import T0
from tests.webui.conftest import LETTER, RECEIVER, SENDER, open_task, start_transfer

SUPERVISION = {"supervision_measure": "notice", "supervision_opinion": "责令当日移送。", "report_to_discipline": False}


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=TZ)


def seed(rt) -> dict[str, int]:
    """Three transfers from the market regulator to the health commission, started Monday 2 March 2026:
    A's letter goes out at once, B's four working days late (督办 raised on the 6th, closed on the 11th),
    C's never in the first quarter (督办 open); A is accepted in the second quarter."""
    a = start_transfer(rt, T0, "甲案", upto="review")
    b = start_transfer(rt, T0, "乙案", upto="letter")
    c = start_transfer(rt, T0, "丙案", upto="letter")
    fire_due_timers(rt, at("2026-03-06"))  # letters due 5 March 24:00 (3 working days): 督办 for B and C
    complete_task(rt, SENDER, open_task(rt, b, "send_letter").id, LETTER, at("2026-03-10", 11))
    complete_task(rt, "supervision.officer", open_task(rt, b, "supervise_letter").id, SUPERVISION,
                  at("2026-03-11"))
    return {"A": a, "B": b, "C": c}


def second_quarter(rt, ids) -> None:
    complete_task(rt, RECEIVER, open_task(rt, ids["A"], "review_transfer").id, {"review_decision": "accept"},
                  at("2026-04-07", 10))
    # A's review was due 5 March (3 working days from the receipt on 2 March): its 督办 is closed with it
    complete_task(rt, "supervision.officer", open_task(rt, ids["A"], "supervise_review").id, SUPERVISION,
                  at("2026-04-07", 11))
    complete_task(rt, SENDER, open_task(rt, ids["C"], "send_letter").id, LETTER, at("2026-04-08", 10))


def unit_row(figures, code):
    return next(r for r in figures.units if r.key == code)


def test_quarter_figures_while_the_quarter_runs(rt):
    seed(rt)
    f = dashboard_figures(rt, None, at("2026-03-12"))
    assert f.period.label == "2026Q1" and f.period.running
    t = f.totals.counts
    assert (t["started"], t["open"], t["finished"]) == (3, 3, 0)
    # C's letter waits, and A's review (due 3 working days after its receipt): A's letter on time, B's late
    assert (t["overdue"], t["timed"], t["ontime"], t["late"]) == (2, 2, 1, 1)
    assert (t["supervised"], t["supervision_closed"], t["supervision_open"]) == (3, 1, 2)
    market = unit_row(f, "market_regulation")
    assert (market.counts["open"], market.counts["overdue"], market.counts["handled"]) == (1, 1, 3)
    assert market.on_time_rate == 50.0
    assert (market.counts["supervised"], market.counts["supervision_closed"], market.counts["supervision_open"]) \
        == (2, 1, 1)
    # five tasks done: four the same day, B's letter 2 March -> 10 March = 6 working days
    assert (market.avg_days, market.avg_basis) == (1.2, 5)
    health = unit_row(f, "health")
    assert (health.counts["open"], health.counts["overdue"], health.on_time_rate) == (1, 1, None)
    assert f.units[0].key == "market_regulation"  # the most overdue first
    [transfer] = f.procedures
    assert (transfer.key, transfer.counts["open"], transfer.counts["overdue"]) == ("case_transfer", 3, 2)
    assert [p.label for p in f.trend] == ["2024Q4", "2025Q1", "2025Q2", "2025Q3", "2025Q4", "2026Q1"]
    assert f.trend[-1].counts["started"] == 3 and f.trend[-1].on_time_rate == 50.0


def test_a_past_quarter_is_read_at_its_end_and_the_next_counts_what_happened_in_it(rt):
    ids = seed(rt)
    second_quarter(rt, ids)
    now = at("2026-04-09")
    q1, q2 = dashboard_figures(rt, "2026Q1", now), dashboard_figures(rt, "2026Q2", now)
    assert not q1.period.running and q1.period.as_of == at("2026-04-01", 0)
    # C's letter went out on 8 April: at the end of March it was still overdue, and A still ran
    assert (q1.totals.counts["overdue"], q1.totals.counts["open"], q1.totals.counts["finished"]) == (2, 3, 0)
    assert (q1.totals.counts["timed"], q1.totals.counts["late"]) == (2, 1)
    assert (q2.totals.counts["started"], q2.totals.counts["finished"], q2.totals.counts["open"]) == (0, 1, 2)
    # with the receiving unit's own deadlines (签收移送函, 审查移送案件) two matters count as late in the quarter
    assert (q2.totals.counts["timed"], q2.totals.counts["late"], q2.totals.counts["overdue"]) == (2, 2, 0)
    assert q2.totals.on_time_rate == 0.0
    # A ran from 2 March to 7 April: 21 working days in March after the 2nd, 1-3 April, then 7 April
    # (4-6 April is the Qingming holiday)
    assert not rt.calendar.is_working_day(date(2026, 4, 6))
    assert (q2.totals.avg_days, q2.totals.avg_basis) == (25.0, 1)
    assert q2.procedures[0].avg_days == 25.0
    assert [p.label for p in q2.trend][-2:] == ["2026Q1", "2026Q2"]
    assert q2.trend[-2].counts == {k: q1.totals.counts[k] for k in q2.trend[-2].counts}


def test_handling_time_skips_weekends_and_holidays(rt):
    assert working_days_between(rt, at("2026-03-02"), at("2026-03-02", 18)) == 0
    assert working_days_between(rt, at("2026-03-06"), at("2026-03-09")) == 1  # Friday to Monday
    assert working_days_between(rt, at("2026-04-03"), at("2026-04-07")) == 1  # across Qingming


def test_a_unit_head_sees_the_same_for_the_own_unit_only(rt):
    seed(rt)
    f = dashboard_figures(rt, "2026Q1", at("2026-03-12"), unit="health")
    assert [r.key for r in f.units] == ["health"]
    assert (f.totals.counts["open"], f.totals.counts["overdue"], f.totals.counts["supervised"]) == (1, 1, 1)
    assert f.unit_name == "县卫生健康局"
    market = dashboard_figures(rt, "2026Q1", at("2026-03-12"), unit="market_regulation")
    assert (market.totals.counts["overdue"], market.totals.counts["late"], market.totals.avg_days) == (1, 1, 1.2)


def count(rt, measure, p, unit=None, process=None) -> int:
    with rt.session() as s:
        return s.scalar(select(func.count()).select_from(ProcessInstance)
                        .where(*matter_conditions(measure, p, unit, process)))


@pytest.mark.parametrize("label", ["2026Q1", "2026Q2"])
def test_every_figure_is_the_count_of_its_drill_down(rt, label):
    ids = seed(rt)
    second_quarter(rt, ids)
    now = at("2026-04-09")
    f, p = dashboard_figures(rt, label, now), period_for(label, now)
    for row in f.units:
        for measure, n in row.counts.items():
            assert count(rt, measure, p, unit=row.key) == n, (row.key, measure)
    for row in f.procedures:
        for measure, n in row.counts.items():
            assert count(rt, measure, p, process=row.key) == n, (row.key, measure)
    for measure, n in f.totals.counts.items():
        assert count(rt, measure, p) == n, measure
    assert set(f.totals.counts) <= set(MEASURES)


def test_quarters_and_refusals(rt):
    assert shift_quarter("2026Q1", -1) == "2025Q4" and shift_quarter("2025Q4", 1) == "2026Q1"
    with pytest.raises(ValueError):
        period_for("2026Q3", at("2026-03-12"))  # not begun
    with pytest.raises(ValueError):
        period_for("2026-3", at("2026-03-12"))
