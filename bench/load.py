"""HTTP under gunicorn on PostgreSQL: USERS threads on loopback for SECONDS, counting requests, errors and p95.

What it sends today is a read mix that needs no sign-in (the sign-in page and /healthz, which asks the
database); officers starting and completing matters over HTTP are not scripted yet (docs/PERFORMANCE.md)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

from bench import actions
from bench._db import throwaway_database


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer")


def load(base: str, users: int, seconds: float) -> dict:
    times: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def user(n):
        paths = ["/login", "/healthz"]
        i = n
        while time.monotonic() < stop:
            t = time.perf_counter()
            try:
                with urllib.request.urlopen(base + paths[i % 2], timeout=30) as r:
                    r.read()
                    bad = r.status >= 500
            except Exception:  # noqa: BLE001 - any failure is an error
                bad = True
            with lock:
                times.append(time.perf_counter() - t)
                errors[0] += bad
            i += 1

    pool = [threading.Thread(target=user, args=(n,)) for n in range(users)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    times.sort()
    return {"requests": len(times), "errors": errors[0], "rps": len(times) / seconds,
            "p95_ms": times[max(0, int(len(times) * 0.95) - 1)] * 1000 if times else None}


def part(args, n, tmp, use_pg, result, notes) -> None:
    if not use_pg or (args.only and "http" not in args.only):
        return
    with throwaway_database(args.pg, tmp) as url:
        actions.runtime(url).session_factory.kw["bind"].dispose()  # schema, organisation, diagrams
        port = _free_port()
        env = {**os.environ, "DATABASE_URL": url, "LIANDONG_INSTANCE_DIR": tmp,
               "PYTHONPATH": str(actions.ROOT)}
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "2", "--bind",
                                   f"127.0.0.1:{port}", "webui.wsgi:app"], cwd=actions.ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait(f"http://127.0.0.1:{port}/healthz")
            got = load(f"http://127.0.0.1:{port}", n["http_users"], n["http_seconds"])
        finally:
            server.terminate()
            server.wait(30)
    result["http_rps"], result["http_p95_ms"] = got["rps"], got["p95_ms"]
    notes["http"] = {**got, "users": n["http_users"], "seconds": n["http_seconds"], "server": "gunicorn, 2 workers",
                     "mix": "GET /login and /healthz (no sign-in)"}
