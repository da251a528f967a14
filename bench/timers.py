"""Timer sweeps: due timers fired by one process, then by two processes at once, over the same number of cases
(on PostgreSQL); and the sweeping process's resident memory before and after."""

from __future__ import annotations

import multiprocessing as mp
import resource
import time
from datetime import timedelta

from bench import actions
from bench._db import throwaway_database


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare(url: str, cases: int) -> None:
    """CASES registered transfers, each waiting on its letter deadline timer."""
    rt = actions.runtime(url)
    for i in range(cases):
        iid = actions.start_process(rt, actions.OFFICER, "case_transfer", {"title": f"定时 {i}"}, actions.T0)
        actions.complete_task(rt, actions.OFFICER, actions._open_task(rt, iid, "register_case"), actions.REGISTER,
                              actions.T0)
    rt.session_factory.kw["bind"].dispose()


def _sweep(url: str, out) -> None:
    from runner.services import fire_due_timers

    rt = actions.make_runtime(actions.Settings(database_url=url, bpmn_dir=actions.ROOT / "bpmn",
                                               calendar_dir=actions.ROOT / "runner" / "data" / "calendar"),
                            create=False)  # prepare() made the schema; two processes creating it at once collide
    try:
        before = _rss_mb()
        fired = fire_due_timers(rt, actions.T0 + timedelta(days=30))
        out.put((fired, before, _rss_mb()))
    except BaseException as exc:  # the parent must hear of it, not wait on the queue for ever
        out.put(exc.__class__.__name__ + ": " + str(exc))
        raise
    finally:
        rt.session_factory.kw["bind"].dispose()


def sweep(url: str, processes: int) -> tuple[float, list]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_sweep, args=(url, out)) for _ in range(processes)]
    t = time.perf_counter()
    for p in procs:
        p.start()
    results = [_result(out, procs) for _ in procs]
    for p in procs:
        p.join()
    return time.perf_counter() - t, results


def _result(out, procs, patience: float = 600.0):
    """The next sweep's result; an error if a sweeping process failed or all of them died without one."""
    import queue

    waited = 0.0
    while True:
        try:
            got = out.get(timeout=5)
        except queue.Empty:
            waited += 5
            if waited >= patience or not any(p.is_alive() for p in procs):
                codes = [p.exitcode for p in procs]
                raise RuntimeError(f"timer sweep processes ended without a result (exit codes {codes})") from None
            continue
        if isinstance(got, str):
            raise RuntimeError(f"a timer sweep process failed: {got}")
        return got


def part(args, n, tmp, use_pg, result, notes) -> None:
    if not use_pg or (args.only and "timers" not in args.only):
        return
    timings = {}
    for processes in (1, 2):
        with throwaway_database(args.pg, tmp) as url:
            prepare(url, n["timers"])
            timings[processes] = sweep(url, processes)
    one, two = timings[1][0], timings[2][0]
    result["timer_sweep_speedup"] = one / two
    fired_two = sum(r[0] for r in timings[2][1])
    result["worker_rss_mb"] = {"before": round(timings[1][1][0][1], 1), "after": round(timings[1][1][0][2], 1)}
    notes["timers"] = {"cases": n["timers"], "one_process_s": one, "two_processes_s": two,
                       "fired_one": timings[1][1][0][0], "fired_two": fired_two,
                       "note": "process start-up (imports, diagram parsing) is inside both timings"}
