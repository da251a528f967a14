"""How long one action takes end to end (load state, run, sync tables, commit) on SQLite or PostgreSQL.

    .venv/bin/python bench/engine_bench.py [--n 200] [--database-url URL]

Prints per-action timings and the stored state size. Targets live here, not in unit tests.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _db import throwaway_database  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from runner.calendar import TZ  # noqa: E402
from runner.config import ROOT, Settings  # noqa: E402
from runner.models import HumanTask, ProcessInstance  # noqa: E402
from runner.org import seed_demo_users, seed_units  # noqa: E402
from runner.runtime import deploy_definitions, make_runtime  # noqa: E402
from runner.services import complete_task, start_process  # noqa: E402

FIXTURES = ROOT / "tests" / "runner" / "fixtures"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    from datetime import datetime

    now = datetime(2026, 3, 2, 9, tzinfo=TZ)
    with tempfile.TemporaryDirectory() as tmp, throwaway_database(args.database_url, tmp) as url:
        rt = make_runtime(Settings(database_url=url, bpmn_dir=FIXTURES))
        with rt.session() as s, s.begin():
            seed_units(s)
            seed_demo_users(s)
        deploy_definitions(rt, now)
        starts, completes = [], []
        for i in range(args.n):
            t = time.perf_counter()
            iid = start_process(rt, "market_regulation.officer", "mini",
                                {"title": f"基准案件 {i}", "receiver_unit": "health"}, now)
            starts.append(time.perf_counter() - t)
            with rt.session() as s:
                task_id = s.scalar(select(HumanTask.id).where(HumanTask.instance_id == iid))
            t = time.perf_counter()
            complete_task(rt, "market_regulation.officer", task_id, {"letter_no": "1", "sent_date": "2026-03-02"},
                          now + timedelta(minutes=1))
            completes.append(time.perf_counter() - t)
        with rt.session() as s:
            size = s.scalar(select(func.avg(func.length(ProcessInstance.state_json))))
    for name, xs in (("start_process", starts), ("complete_task", completes)):
        xs = sorted(xs)
        print(f"{name}: n={len(xs)} median={statistics.median(xs) * 1000:.1f} ms "
              f"p95={xs[int(len(xs) * 0.95) - 1] * 1000:.1f} ms")
    print(f"stored state per instance: {size:.0f} bytes (spec stored once per definition version)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
