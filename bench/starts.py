"""Concurrent starts on PostgreSQL: two threads starting matters at once must never collide on a business key."""

from __future__ import annotations

import threading

from bench import actions
from bench._db import throwaway_database


def concurrent_start_errors(url: str, per_thread: int, threads: int = 2) -> int:
    rt = actions.runtime(url)
    errors: list = []
    barrier = threading.Barrier(threads, timeout=60)

    def starter(n):
        barrier.wait()
        for i in range(per_thread):
            try:
                actions.start_process(rt, actions.OFFICER, "case_transfer", {"title": f"并发 {n}-{i}"}, actions.T0)
            except Exception as exc:  # noqa: BLE001 - every failure counts
                errors.append(exc)

    pool = [threading.Thread(target=starter, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    rt.session_factory.kw["bind"].dispose()
    return len(errors)


def part(args, n, tmp, use_pg, result, notes) -> None:
    if not use_pg or (args.only and "starts" not in args.only):
        return
    with throwaway_database(args.pg, tmp) as url:
        result["concurrent_start_errors"] = concurrent_start_errors(url, n["starts"])
