"""`liandong serve`: N web processes under gunicorn (production); timers run in `liandong worker`."""

from __future__ import annotations

import os
import sys


def serve_parser(sub) -> None:
    p = sub.add_parser("serve", help="以生产方式启动网页服务（gunicorn，多个进程；定时器由 liandong worker 运行）")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=2, help="网页进程数（建议每个 CPU 核 1～2 个）")
    p.add_argument("--threads", type=int, default=1)


def gunicorn_argv(args) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "--workers", str(args.workers), "--threads", str(args.threads),
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
