"""`python -m bench`: the figures of issue 10 in one run on this machine; `--json` prints them as one object.

    python -m bench [--json] [--smoke] [--pg URL] [--instances N] [--plot docs/bench_steps.svg]

--smoke runs the same code with small numbers (for CI: it proves the benchmark runs, and asserts nothing
about time). Without a reachable PostgreSQL the PostgreSQL figures are null and the table says why.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import actions  # noqa: E402
from bench._db import throwaway_database  # noqa: E402
from runner.db import why_unreachable  # noqa: E402

DEFAULT_PG = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
KEYS = ["persisted_vs_bare", "step_growth", "inbox_p95_ms", "case_list_p95_ms", "concurrent_start_errors",
        "timer_sweep_speedup", "worker_rss_mb", "http_rps", "http_p95_ms", "http_errors", "http_read_rps",
        "http_read_p95_ms"]


def sizes(smoke: bool, instances: int | None, timers: int | None = None) -> dict:
    if smoke:
        return {"paths": 2, "steps": 24, "early": 10, "late": 20, "instances": 2000, "starts": 4,
                "timers": 20, "http_users": 2, "http_seconds": 3, "think": "0.05-0.2", "read_users": 2,
                "read_seconds": 2}
    return {"paths": 20, "steps": 500, "early": 10, "late": 500, "instances": instances or 1_000_000,
            "starts": 25, "timers": timers or 3000, "http_users": 50, "http_seconds": 120, "think": "1-3",
            "read_users": 20, "read_seconds": 60}


def measure_actions(url: str, n: dict, plot: list | None = None) -> tuple[float, float, dict]:
    """(persisted/bare ratio, step growth, details) on the database at URL."""
    rt = actions.runtime(url)
    try:
        actions.persisted_paths(rt, 1)  # warm caches: parsing, first connection
        actions.bare_paths(rt, 1)
        ours = actions.persisted_paths(rt, n["paths"])
        bare = actions.bare_paths(rt, n["paths"])
        costs, state_sizes, stopped = actions.step_costs(rt, n["steps"])
        growth = actions.growth(costs, n["early"], n["late"]) if not stopped else None
        if plot is not None:
            plot.append((rt.session_factory.kw["bind"].dialect.name, costs))
        return bare / ours, growth, {"ours_ms": ours * 1000, "bare_ms": bare * 1000, "state_bytes": state_sizes,
                                     "stopped": stopped}
    finally:
        rt.session_factory.kw["bind"].dispose()


def run(args) -> dict:
    n = sizes(args.smoke, args.instances, args.timers)
    if args.http_seconds:
        n["http_seconds"] = args.http_seconds
    pg_problem = None if args.no_pg else why_unreachable(args.pg)
    use_pg = not args.no_pg and pg_problem is None
    result: dict = {k: None for k in KEYS}
    notes: dict = {"sizes": n, "postgresql": "skipped" if args.no_pg else (pg_problem or "reachable")}
    curves: list = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.only and "actions" not in args.only:
            for _name, fn in _later_parts():
                fn(args, n, tmp, use_pg, result, notes)
            result["notes"] = notes
            return result
        with throwaway_database(None, tmp) as url:
            ratio, growth, detail = measure_actions(url, n, curves)
        result["persisted_vs_bare"] = {"sqlite": ratio, "postgresql": None}
        result["step_growth"] = {"sqlite": growth, "postgresql": None}
        notes["actions_sqlite"] = detail
        if use_pg:
            with throwaway_database(args.pg, tmp) as url:
                ratio, growth, detail = measure_actions(url, n, curves)
            result["persisted_vs_bare"]["postgresql"] = ratio
            result["step_growth"]["postgresql"] = growth
            notes["actions_postgresql"] = detail
        for name, fn in _later_parts():
            print(f"bench: {name} ...", file=sys.stderr, flush=True)
            fn(args, n, tmp, use_pg, result, notes)
    if args.plot:
        from bench.plot import write_svg

        write_svg(Path(args.plot), curves)
        notes["plot"] = args.plot
    result["notes"] = notes
    return result


def _later_parts():
    from bench import lists, load, starts, timers

    return [("lists", lists.part), ("starts", starts.part), ("timers", timers.part), ("http", load.part)]


def table(result: dict) -> str:
    def fmt(v):
        if v is None:
            return "—"
        if isinstance(v, dict):
            return ", ".join(f"{k} {fmt(x)}" for k, x in v.items())
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    lines = ["| figure | value |", "|---|---|"]
    lines += [f"| {k} | {fmt(result.get(k))} |" for k in KEYS]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--smoke", action="store_true", help="small numbers: proves it runs, measures nothing")
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL URL (a schema of its own is made and dropped)")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--instances", type=int, help="instances for the list figures (default 1,000,000)")
    parser.add_argument("--timers", type=int, help="due timers for the sweep figures (default 3,000)")
    parser.add_argument("--think", default="", help="officers' think time before each request, LOW-HIGH seconds "
                        "drawn uniformly (default 1-3; 0: back to back)")
    parser.add_argument("--http-seconds", type=int, help="how long the officers' HTTP load runs (default 120)")
    parser.add_argument("--only", default="", help="comma-separated parts to run: actions,lists,starts,timers,http")
    parser.add_argument("--plot", default="", help="write the action cost against step as SVG here")
    args = parser.parse_args(argv)
    result = run(args)
    print(json.dumps(result, ensure_ascii=False, default=str) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
