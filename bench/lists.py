"""Inbox and case list at scale on PostgreSQL: rows made with set-based SQL (INSERT ... SELECT generate_series),
not through the engine (a list never reads a workflow). Two shapes: open tasks spread over the units, and
many open tasks for one unit and role."""

from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy import text

from runner.calendar import TZ
from runner.config import ROOT, Settings
from runner.org import UNITS, seed_demo_users, seed_units
from runner.queries import CaseFilters, InboxFilters, cases, find_viewer, inbox
from runner.runtime import make_runtime

NOW = datetime(2026, 6, 15, 10, tzinfo=TZ)
ENFORCEMENT = [code for code, _n, kind, _m in UNITS if kind in ("department", "town", "street", "zone")]


def fill(conn, instances: int, spread_open: int) -> None:
    """INSTANCES case transfers, each with one completed task and two member units; the first SPREAD_OPEN of
    them also have an open review task, round-robin over the enforcement units."""
    units = "ARRAY[" + ",".join(f"'{u}'" for u in ENFORCEMENT) + "]"
    n = len(ENFORCEMENT)
    conn.execute(text("""INSERT INTO process_definitions (id, process_key, version, name, checksum, bpmn_xml, forms,
        spec_json, status, basis_number, basis_title, author, comment, deployed_at)
        VALUES (1, 'case_transfer', 1, '案件移送', 'bench', '<x/>', '{}', '{}', 'active', '', '', '', '', :now)"""),
                 {"now": NOW})
    conn.execute(text(f"""INSERT INTO process_instances (id, definition_id, process_key, business_key, title, status,
        end_events, initiator, initiator_unit, units, started_at, serializer_version, state_json, data_summary,
        lock_version)
        SELECT i, 1, 'case_transfer', 'AJYS-' || to_char(:now - (i % 700) * interval '1 day', 'YYYYMMDD') || '-' ||
               lpad(i::text, 7, '0'), '第' || i || '号测试移送案', CASE WHEN i % 3 = 0 THEN 'completed' ELSE 'running'
               END, '[]', ({units})[1 + i % {n}] || '.officer', ({units})[1 + i % {n}],
               json_build_array(({units})[1 + i % {n}], ({units})[1 + (i + 1) % {n}]),
               :now - (i % 700) * interval '1 day', '1.4', '{{}}', '{{}}', 1
        FROM generate_series(1, :n) AS i"""), {"now": NOW, "n": instances})
    conn.execute(text(f"""INSERT INTO instance_units (instance_id, unit_code)
        SELECT i, ({units})[1 + i % {n}] FROM generate_series(1, :n) AS i
        UNION ALL SELECT i, ({units})[1 + (i + 1) % {n}] FROM generate_series(1, :n) AS i"""), {"n": instances})
    common = """process_key, business_key, title, element_id, name, kind, role, rules, documentation, created_at"""
    conn.execute(text(f"""INSERT INTO human_tasks (id, instance_id, unit_code, status, completed_at, completed_by,
        due_at, {common})
        SELECT md5('c' || i), i, ({units})[1 + i % {n}], 'completed', :now, ({units})[1 + i % {n}] || '.officer',
               NULL, 'case_transfer', 'K' || i, '第' || i || '号测试移送案', 'register_case', '登记移送案件', 'task',
               'officer', '[]', '', :now
        FROM generate_series(1, :n) AS i"""), {"now": NOW, "n": instances})
    conn.execute(text(f"""INSERT INTO human_tasks (id, instance_id, unit_code, status, due_at, {common})
        SELECT md5('o' || i), i, ({units})[1 + (i + 1) % {n}], 'open', :now + (i % 40 - 10) * interval '1 day',
               'case_transfer', 'K' || i, '第' || i || '号测试移送案', 'review_transfer', '审查移送案件', 'task',
               'officer', '[]', '', :now
        FROM generate_series(1, :k) AS i"""), {"now": NOW, "k": spread_open})
    conn.execute(text("ANALYZE"))


def concentrate(conn, one_unit: int, unit: str) -> None:
    """Give ONE_UNIT of the open tasks to UNIT (one unit and role holding a large share of the work)."""
    conn.execute(text("""UPDATE human_tasks SET unit_code = :u WHERE id IN (SELECT id FROM human_tasks
                         WHERE status = 'open' ORDER BY id LIMIT :k)"""), {"u": unit, "k": one_unit})
    conn.execute(text("ANALYZE human_tasks"))


def p95(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return times[max(0, int(len(times) * 0.95) - 1)]


def measure(url: str, instances: int, spread_open: int, one_unit: int, repeat: int) -> dict:
    rt = make_runtime(Settings(database_url=url, bpmn_dir=ROOT / "bpmn", rules_file=ROOT / "policy" / "RULES.md"))
    try:
        with rt.session() as s, s.begin():
            seed_units(s)
            seed_demo_users(s)
        bind = rt.session_factory.kw["bind"]
        t = time.perf_counter()
        with bind.begin() as conn:
            fill(conn, instances, spread_open)
        out = {"fill_seconds": time.perf_counter() - t, "instances": instances}
        officer = find_viewer(rt, "market_regulation.officer")
        for shape in ("spread", "one_unit"):
            if shape == "one_unit":
                with bind.begin() as conn:
                    concentrate(conn, one_unit, "market_regulation")
            inbox(rt, officer, InboxFilters(), NOW)
            cases(rt, officer, CaseFilters())
            out[f"inbox_{shape}"] = p95(lambda: inbox(rt, officer, InboxFilters(), NOW), repeat)
            out[f"cases_{shape}"] = p95(lambda: cases(rt, officer, CaseFilters()), repeat)
            out[f"inbox_total_{shape}"] = inbox(rt, officer, InboxFilters(), NOW).total
        return out
    finally:
        rt.session_factory.kw["bind"].dispose()


def part(args, n, tmp, use_pg, result, notes) -> None:
    if not use_pg or (args.only and "lists" not in args.only):
        return
    from bench._db import throwaway_database

    instances = n["instances"]
    with throwaway_database(args.pg, tmp) as url:
        got = measure(url, instances, min(100_000, instances // 10), min(20_000, instances // 50), 3 if args.smoke
                      else 20)
    result["inbox_p95_ms"] = {"spread": got["inbox_spread"], "one_unit": got["inbox_one_unit"]}
    result["case_list_p95_ms"] = {"spread": got["cases_spread"], "one_unit": got["cases_one_unit"]}
    notes["lists"] = got


