"""How fast the inbox is with 100,000 instances' worth of human tasks, and that its query uses the indexes.

    .venv/bin/python bench/inbox_bench.py [--instances 100000] [--database-url postgresql+psycopg://...]

Bulk-inserts instances and human_tasks rows directly (no workflows: the inbox never reads one), then
times runner.queries.inbox (count + one page) for several users and filters, and prints the query
plan. Target: every inbox page under 100 ms on SQLite. Targets live here, not in unit tests.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _db import throwaway_database  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from runner.calendar import TZ  # noqa: E402
from runner.config import ROOT, Settings  # noqa: E402
from runner.models import HumanTask, InstanceUnit, ProcessDefinition, ProcessInstance  # noqa: E402
from runner.org import UNITS, seed_demo_users, seed_units  # noqa: E402
from runner.queries import (  # noqa: E402
    CaseFilters,
    InboxFilters,
    cases,
    find_viewer,
    inbox,
    inbox_count_statement,
    inbox_statement,
    notified_cases,
)
from runner.runtime import make_runtime  # noqa: E402

NOW = datetime(2026, 6, 15, 10, tzinfo=TZ)
TARGET_MS = 100
ENFORCEMENT = [code for code, _n, kind, _m in UNITS if kind in ("department", "town", "street", "zone")]
TASKS = [("register_case", "登记移送案件"), ("send_letter", "发出移送函并移送材料"),
         ("review_transfer", "审查移送案件")]


def fill(rt, instances: int, seed: int = 7) -> int:
    """Insert INSTANCES case transfers: two completed tasks and one open task each (3 rows per instance)."""
    rnd = random.Random(seed)
    with rt.session() as s, s.begin():
        seed_units(s)
        seed_demo_users(s)
        s.add(ProcessDefinition(id=1, process_key="case_transfer", version=1, name="案件移送", checksum="bench",
                                bpmn_xml="<x/>", forms={}, spec_json="{}", status="active", deployed_at=NOW))
    engine = rt.session_factory.kw["bind"]
    rows = 0
    batch = 5000
    with engine.begin() as conn:
        for first in range(1, instances + 1, batch):
            insts, tasks, members = [], [], []
            for iid in range(first, min(first + batch, instances + 1)):
                sender, receiver = rnd.sample(ENFORCEMENT, 2)
                started = NOW - timedelta(days=rnd.randint(0, 700), minutes=rnd.randint(0, 1440))
                key = f"AJYS-{started:%Y%m%d}-{iid:06d}"
                title = f"第{iid}号测试移送案"
                insts.append({"id": iid, "definition_id": 1, "process_key": "case_transfer", "business_key": key,
                              "title": title, "status": "running", "initiator": f"{sender}.officer",
                              "initiator_unit": sender, "units": sorted([sender, receiver]), "started_at": started,
                              "serializer_version": "1.4", "state_json": "{}", "data_summary": {},
                              "lock_version": 1})
                members += [{"instance_id": iid, "unit_code": u} for u in sorted([sender, receiver])]
                for n, (element, name) in enumerate(TASKS):
                    is_open = n == 2 or (n == 1 and rnd.random() < 0.3)
                    unit = receiver if element == "review_transfer" else sender
                    due = started + timedelta(days=rnd.randint(-10, 20)) if element != "register_case" else None
                    assignee = f"{unit}.officer" if is_open and rnd.random() < 0.1 else None
                    tasks.append({
                        "id": str(uuid.UUID(int=rnd.getrandbits(128))), "instance_id": iid,
                        "process_key": "case_transfer", "business_key": key, "title": title, "element_id": element,
                        "name": name, "kind": "task", "unit_code": unit, "role": "officer", "field": None,
                        "assignee": assignee, "form_file": None, "rules": [], "documentation": "", "late_unit": None,
                        "due_at": due, "status": "open" if is_open else "completed", "created_at": started,
                        "completed_at": None if is_open else started + timedelta(hours=n + 1),
                        "completed_by": None if is_open else f"{unit}.officer"})
            conn.execute(insert(ProcessInstance.__table__), insts)
            conn.execute(insert(HumanTask.__table__), tasks)
            conn.execute(insert(InstanceUnit.__table__), members)
            rows += len(tasks)
        conn.execute(text("ANALYZE"))
    return rows


def timed(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)]


def plan(rt, stmt) -> list[str]:
    engine = rt.session_factory.kw["bind"]
    compiled = stmt.compile(engine, compile_kwargs={"literal_binds": True})
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        rows = conn.execute(text(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + str(compiled)))
        return [str(r[-1] if sqlite else r[0]) for r in rows]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database-url", help="PostgreSQL URL (default: a temporary SQLite file)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, throwaway_database(args.database_url, tmp) as url:
        rt = make_runtime(Settings(database_url=url, bpmn_dir=ROOT / "bpmn", rules_file=ROOT / "policy" / "RULES.md"))
        t0 = time.perf_counter()
        rows = fill(rt, args.instances)
        print(f"{rt.session_factory.kw['bind'].dialect.name}: {args.instances} instances, {rows} human_tasks rows "
              f"inserted in {time.perf_counter() - t0:.1f} s")
        officer = find_viewer(rt, "market_regulation.officer")
        cases_to_time = [
            ("officer, first page", officer, InboxFilters()),
            ("officer, page 10", officer, InboxFilters(page=10)),
            ("officer, overdue", officer, InboxFilters(status="overdue")),
            ("officer, claimed by me", officer, InboxFilters(status="mine")),
            ("officer, search title", officer, InboxFilters(q="第4242号")),
            ("officer, search business key", officer, InboxFilters(q="AJYS-2026")),
            ("officer, due this week", officer,
             InboxFilters(due_from=NOW.date(), due_to=(NOW + timedelta(days=7)).date())),
            ("town officer", find_viewer(rt, "yanya_town.officer"), InboxFilters()),
            ("leader (fields)", find_viewer(rt, "county.leader_a"), InboxFilters()),
        ]
        worst = 0.0
        print(f"\ninbox (count + one page of 20), {args.repeat} runs each: median / p95 in ms")
        for label, viewer, filters in cases_to_time:
            median, p95 = timed(lambda v=viewer, f=filters: inbox(rt, v, f, NOW), args.repeat)
            page = inbox(rt, viewer, filters, NOW)
            worst = max(worst, p95)
            print(f"  {label:32s} {median:7.1f} / {p95:7.1f}   ({page.total} tasks)")
        for label, fn in [("case list, participating unit", lambda: cases(rt, officer, CaseFilters())),
                          ("inbox side panel: notified cases", lambda: notified_cases(rt, officer))]:
            median, p95 = timed(fn, max(3, args.repeat // 4))
            print(f"  {label:32s} {median:7.1f} / {p95:7.1f}   (instance_units index)")
        print("\nquery plan of the inbox page:")
        for line in plan(rt, inbox_statement(officer, InboxFilters(status="overdue", q="案"), NOW)):
            print("  " + line)
        print("query plan of the inbox count:")
        for line in plan(rt, inbox_count_statement(officer, InboxFilters(), NOW)):
            print("  " + line)
        lines = " ".join(plan(rt, inbox_statement(officer, InboxFilters(), NOW)))
        uses = all(ix in lines for ix in ("ix_human_tasks_inbox", "ix_human_tasks_assignee"))
        sqlite = rt.session_factory.kw["bind"].dialect.name == "sqlite"
        fast = worst <= TARGET_MS or not sqlite
        print(f"\nindexes used: {'yes' if uses else 'NO'}; worst p95 {worst:.1f} ms (target {TARGET_MS} ms on SQLite): "
              f"{'ok' if fast else 'SLOW'}")
        rt.session_factory.kw["bind"].dispose()
        return 0 if uses and fast else 1


if __name__ == "__main__":
    sys.exit(main())
