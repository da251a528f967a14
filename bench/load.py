"""HTTP under gunicorn on PostgreSQL: USERS simulated officers on loopback for SECONDS, counting requests,
errors and p95. Each officer signs in through the JSON API, then over and over starts a case transfer,
completes its registration and its letter, and reads the inbox (a write-heavy mix: 3 writes, 1 read)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

from sqlalchemy import text

from bench import actions
from bench._db import throwaway_database
from bench.lists import ENFORCEMENT
from runner.org import DEMO_PASSWORD


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


class _Officer:
    def __init__(self, base: str, username: str):
        import http.cookiejar

        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.token = self.call("GET", "/api/csrf")["csrf_token"]
        self.token = self.call("POST", "/api/login", {"username": username, "password": DEMO_PASSWORD})["csrf_token"]

    def call(self, method: str, path: str, data: dict | None = None) -> dict:
        body = json.dumps(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers={"Content-Type": "application/json", "X-CSRFToken": getattr(
                                         self, "token", "")})
        with self.opener.open(req, timeout=60) as r:
            return json.loads(r.read() or b"{}")


def load(base: str, users: int, seconds: float) -> dict:
    times: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    senders = [u for u in ENFORCEMENT if u != "health"]

    def timed(fn, count=True):
        t = time.perf_counter()
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - any failure is an error
            with lock:
                detail = exc.read().decode("utf-8", "replace")[:300] if hasattr(exc, "read") else str(exc)[:300]
                errors.append(f"{type(exc).__name__}: {detail}")
            return None
        finally:
            if count:
                with lock:
                    times.append(time.perf_counter() - t)

    from datetime import datetime

    from runner.calendar import TZ

    letter = {**actions.LETTER, "letter_date": datetime.now(TZ).date().isoformat()}  # the server's today
    # signing in (a deliberately slow password hash) is not part of the timed mix
    officers = [timed(lambda n=n: _Officer(base, f"{senders[n % len(senders)]}.officer"), count=False)
                for n in range(users)]
    stop = time.monotonic() + seconds

    def work(officer, n):
        i = 0
        while officer is not None and time.monotonic() < stop:
            i += 1
            started = timed(lambda i=i: officer.call("POST", "/api/processes/case_transfer/start",
                                                     {"title": f"压测案件 {n}-{i}"}))
            if started is None:  # refused or no server: count it, and do not spin (it would inflate req/s)
                time.sleep(1)
                continue
            task = started.get("next_task")
            if task:
                done = timed(lambda t=task: officer.call("POST", f"/api/tasks/{t}/complete", actions.REGISTER))
                task = (done or {}).get("next_task")
            if task:
                timed(lambda t=task: officer.call("POST", f"/api/tasks/{t}/complete", letter))
            timed(lambda: officer.call("GET", "/api/tasks"))

    t0 = time.monotonic()
    pool = [threading.Thread(target=work, args=(o, n)) for n, o in enumerate(officers)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.monotonic() - t0
    times.sort()
    return {"requests": len(times), "errors": len(errors), "first_errors": errors[:3],
            "rps": len(times) / elapsed, "p95_ms": times[max(0, int(len(times) * 0.95) - 1)] * 1000 if times else None}


def part(args, n, tmp, use_pg, result, notes) -> None:
    if not use_pg or (args.only and "http" not in args.only):
        return
    with throwaway_database(args.pg, tmp) as url:
        rt = actions.runtime(url)  # schema, organisation, diagrams
        with rt.session() as s, s.begin():  # the server runs on today's date: keep the policy in force for it
            s.execute(text("UPDATE process_definitions SET effective_to = NULL"))
        rt.session_factory.kw["bind"].dispose()
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
                     "mix": "per officer: start, complete 2 steps, read inbox (JSON API)"}
