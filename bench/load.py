"""HTTP on loopback against the production server (`liandong serve`, gunicorn with its default workers and
threads for this machine) on PostgreSQL. Two loads, one after the other, on one server and database:

- **officers** (the issue's figure): USERS simulated officers for SECONDS. Each signs in through the JSON API
  (not timed: a deliberately slow password hash), then, over and over, starts a case transfer, completes
  its registration, issues the transfer letter (the document), completes the letter step and reads the inbox
  (4 writes, 1 read). A person does not submit back to
  back: before every request an officer thinks for a time drawn uniformly from THINK (seconds, default 1–3,
  `--think 1-3`; `--think 0` is the closed loop of earlier runs). The offered load is what the officers try
  to send: at most USERS / mean think requests a second, less when the server makes them wait.
- **read mix**: READ_USERS signed-in officers reading back to back (no think time: the server's capacity
  for reads) for READ_SECONDS: their inbox, history, a task's form, a case summary, and the HTML inbox and
  case list pages.

Each reports requests, errors (a non-2xx answer or a failed connection), throughput (answered requests a
second) and the p50/p95 response time."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.error
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


def think_range(spec: str) -> tuple[float, float]:
    """'1-3' → (1.0, 3.0); '0' → (0.0, 0.0)."""
    low, _, high = str(spec).partition("-")
    low_f = float(low)
    high_f = float(high) if high else low_f
    if low_f < 0 or high_f < low_f:
        raise ValueError(f"think time {spec!r}: expected LOW-HIGH seconds with 0 <= LOW <= HIGH")
    return low_f, high_f


class _Officer:
    def __init__(self, base: str, username: str):
        import http.cookiejar

        self.base = base
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        self.forms = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
        self.token = self.call("GET", "/api/csrf")["csrf_token"]
        self.token = self.call("POST", "/api/login", {"username": username, "password": DEMO_PASSWORD})["csrf_token"]

    def call(self, method: str, path: str, data: dict | None = None) -> dict:
        body = json.dumps(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers={"Content-Type": "application/json", "X-CSRFToken": getattr(
                                         self, "token", "")})
        with self.opener.open(req, timeout=60) as r:
            raw = r.read()
        if path.startswith("/api/"):
            return json.loads(raw or b"{}")
        return {"bytes": len(raw)}


    def post_form(self, path: str, fields: dict) -> int:
        """POST an HTML form; its redirect (303/302) is the answer, not followed."""
        import urllib.parse

        req = urllib.request.Request(self.base + path, data=urllib.parse.urlencode(fields).encode(), method="POST",
                                     headers={"X-CSRFToken": self.token})
        try:
            with self.forms.open(req, timeout=60) as r:
                r.read()
                return r.status
        except urllib.error.HTTPError as exc:
            if exc.code in (302, 303):
                return exc.code
            raise


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args, **_kw):
        return None


class _Recorder:
    def __init__(self):
        self.times: list[float] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()

    def timed(self, fn, count=True):
        t = time.perf_counter()
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - any failure is an error
            with self.lock:
                detail = exc.read().decode("utf-8", "replace")[:300] if hasattr(exc, "read") else str(exc)[:300]
                self.errors.append(f"{type(exc).__name__}: {detail}")
            return None
        finally:
            if count:
                with self.lock:
                    self.times.append(time.perf_counter() - t)

    def summary(self, elapsed: float) -> dict:
        times = sorted(self.times)

        def pct(q):
            return times[max(0, int(len(times) * q) - 1)] * 1000 if times else None

        return {"requests": len(times), "errors": len(self.errors), "first_errors": self.errors[:3],
                "offered_rps": len(times) / elapsed, "rps": (len(times) - len(self.errors)) / elapsed,
                "p50_ms": pct(0.50), "p95_ms": pct(0.95), "seconds": elapsed}


def _sign_in(base: str, users: int, rec: _Recorder) -> list:
    senders = [u for u in ENFORCEMENT if u != "health"]
    return [rec.timed(lambda n=n: _Officer(base, f"{senders[n % len(senders)]}.officer"), count=False)
            for n in range(users)]


def load(base: str, users: int, seconds: float, think: tuple[float, float] = (1.0, 3.0), seed: int = 10) -> dict:
    """The officers' write mix (see the module's doc); the offered load includes the think times."""
    rec = _Recorder()
    # number and date come from the issued letter (the form takes them from the document)
    letter = {k: v for k, v in actions.LETTER.items() if k not in ("letter_number", "letter_date")}
    officers = _sign_in(base, users, rec)
    stop = time.monotonic() + seconds
    rng = random.Random(seed)
    pauses = [random.Random(rng.random()) for _ in officers]  # one stream per officer: reproducible

    def work(officer, n):
        def pause() -> bool:  # think, unless the run is over by then
            wait = pauses[n].uniform(*think)
            if time.monotonic() + wait >= stop:
                return False
            time.sleep(wait)
            return True

        i = 0
        while officer is not None and pause():
            i += 1
            started = rec.timed(lambda i=i: officer.call("POST", "/api/processes/case_transfer/start",
                                                         {"title": f"压测案件 {n}-{i}"}))
            if started is None:  # refused or no server: counted; do not spin (it would inflate req/s)
                time.sleep(1)
                continue
            task = started.get("next_task")
            if task and pause():
                done = rec.timed(lambda t=task: officer.call("POST", f"/api/tasks/{t}/complete", actions.REGISTER))
                task = (done or {}).get("next_task")
            iid = started.get("instance_id")
            if task and pause():
                issued = rec.timed(lambda i=iid: officer.post_form(f"/instances/{i}/documents/transfer_letter", {}))
                if issued and pause():
                    rec.timed(lambda t=task: officer.call("POST", f"/api/tasks/{t}/complete", letter))
            if pause():
                rec.timed(lambda: officer.call("GET", "/api/tasks"))

    t0 = time.monotonic()
    pool = [threading.Thread(target=work, args=(o, n)) for n, o in enumerate(officers)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out = rec.summary(time.monotonic() - t0)
    out["think_s"] = list(think)
    out["offered_ceiling_rps"] = users / (sum(think) / 2) if sum(think) else None
    return out


def read_mix(base: str, users: int, seconds: float) -> dict:
    """READ_USERS officers reading back to back (see the module's doc)."""
    rec = _Recorder()
    officers = _sign_in(base, users, rec)
    stop = time.monotonic() + seconds

    def work(officer):
        while officer is not None and time.monotonic() < stop:
            got = rec.timed(lambda: officer.call("GET", "/api/tasks")) or {}
            rec.timed(lambda: officer.call("GET", "/api/history"))
            rec.timed(lambda: officer.call("GET", "/"))
            rec.timed(lambda: officer.call("GET", "/instances"))
            tasks = got.get("tasks") or []
            if tasks:
                rec.timed(lambda t=tasks[0]: officer.call("GET", f"/api/tasks/{t['id']}"))
                rec.timed(lambda t=tasks[0]: officer.call("GET", f"/api/instances/{t['instance_id']}"))

    t0 = time.monotonic()
    pool = [threading.Thread(target=work, args=(o,)) for o in officers]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return rec.summary(time.monotonic() - t0)


def serve_argv(port: int) -> list[str]:
    """`liandong serve` as the console script runs it, with its defaults for this machine."""
    return [sys.executable, "-c", "import sys; from runner.cli import main; sys.exit(main())", "serve",
            "--host", "127.0.0.1", "--port", str(port)]


def part(args, n, tmp, use_pg, result, notes) -> None:
    if not use_pg or (args.only and "http" not in args.only):
        return
    from runner.serve import default_threads, default_workers

    think = think_range(getattr(args, "think", None) or n.get("think", "1-3"))
    with throwaway_database(args.pg, tmp) as url:
        rt = actions.runtime(url)  # schema, organisation, diagrams
        with rt.session() as s, s.begin():  # the server runs on today's date: keep the policy in force for it
            s.execute(text("UPDATE process_definitions SET effective_to = NULL"))
        rt.session_factory.kw["bind"].dispose()
        port = _free_port()
        env = {**os.environ, "DATABASE_URL": url, "LIANDONG_INSTANCE_DIR": tmp,
               "PYTHONPATH": str(actions.ROOT)}
        with open(os.path.join(tmp, "serve.log"), "wb") as log:
            server = subprocess.Popen(serve_argv(port), cwd=actions.ROOT, env=env, stdout=log,
                                      stderr=subprocess.STDOUT)
        try:
            _wait(f"http://127.0.0.1:{port}/healthz")
            base = f"http://127.0.0.1:{port}"
            got = load(base, n["http_users"], n["http_seconds"], think)
            reads = read_mix(base, n["read_users"], n["read_seconds"])
        finally:
            server.terminate()
            server.wait(30)
    result["http_rps"], result["http_p95_ms"] = got["rps"], got["p95_ms"]
    result["http_errors"] = got["errors"]
    result["http_read_rps"], result["http_read_p95_ms"] = reads["rps"], reads["p95_ms"]
    notes["http"] = {**got, "users": n["http_users"],
                     "server": f"liandong serve: gunicorn, {default_workers()} workers × {default_threads()} "
                               "threads (gthread)",
                     "mix": "per officer: start, register, issue the letter, send it, read the inbox; a think "
                            "time before each"}
    notes["http_read"] = {**reads, "users": n["read_users"],
                          "mix": "closed loop, no think time: /api/tasks, /api/history, /, /instances, a task's "
                                 "form, a case summary"}
