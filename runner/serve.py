"""`liandong serve`: N web processes under gunicorn (production); timers run in `liandong worker`.

Defaults for the machine it runs on: one process per usable CPU core, each with 4 threads (gunicorn's
gthread worker). A request spends much of its time waiting on PostgreSQL; the threads of a process overlap
those waits while the processes use the cores. Measured on 2 cores (docs/PERFORMANCE.md): 50 officers with
a think time keep the p95 under 200 ms; sync workers (1 thread) queue every request behind the one in hand.
"""

from __future__ import annotations

import os
import sys

THREADS = 4


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def default_workers() -> int:
    return usable_cores()


def default_threads() -> int:
    return THREADS


def serve_parser(sub) -> None:
    p = sub.add_parser("serve", help="以生产方式启动网页服务（gunicorn，多个进程；定时器由 liandong worker 运行）")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=None,
                   help=f"网页进程数（默认每个 CPU 核 1 个，本机 {default_workers()} 个）")
    p.add_argument("--threads", type=int, default=None,
                   help=f"每个网页进程的线程数（默认 {THREADS}；大于 1 时使用 gthread 工作方式）")


def gunicorn_argv(args) -> list[str]:
    workers = args.workers or default_workers()
    threads = args.threads or default_threads()
    worker_class = ["--worker-class", "gthread"] if threads > 1 else []
    return [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", str(threads), *worker_class,
            "--bind", f"{args.host}:{args.port}", "--access-logfile", "-", "--timeout", "60", "webui.wsgi:app"]


def cmd_serve(args) -> int:
    """Replace this process with gunicorn serving webui.wsgi:app (diagrams are deployed by init-db, not here)."""
    from runner.config import settings_from_env
    from runner.setup import secret_key_problem, with_secret_key

    settings = with_secret_key(settings_from_env())  # made once here, so every worker reads the same key
    problem = secret_key_problem(settings, args.host)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    argv = gunicorn_argv(args)
    os.execv(argv[0], argv)
    return 0  # not reached
