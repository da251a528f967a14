"""Timer sweeps through the real worker: `liandong worker` processes (the same entry point and loop as in
production: `runner.cli` → `runner.worker.run_forever`, claims with leases and FOR UPDATE SKIP LOCKED) fire
the due timers of N registered transfers on PostgreSQL, first one process alone, then two at once, each on a
database of its own filled the same way. Measured from the moment the processes are started (their start-up
is inside the timing) until no timer due at the fixed `--now` is left waiting; then each process is stopped
with SIGTERM, as an operator would.

Also counted: timers fired twice (audit entries of action "timer" per timer: must be 0) and each process's
resident memory (/proc/PID/status) when it reported it had started and when the sweep was over."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from bench import actions
from bench._db import throwaway_database

FIRE_AT = actions.T0 + timedelta(days=30)  # every letter deadline of prepare() is past by then
READY = "已启动"  # what `liandong worker` prints once its runtime is open


def prepare(url: str, cases: int) -> None:
    """CASES registered transfers, each waiting on its letter deadline timer."""
    rt = actions.runtime(url)
    for i in range(cases):
        iid = actions.start_process(rt, actions.OFFICER, "case_transfer", {"title": f"定时 {i}"}, actions.T0)
        actions.complete_task(rt, actions.OFFICER, actions._open_task(rt, iid, "register_case"), actions.REGISTER,
                              actions.T0)
    rt.session_factory.kw["bind"].dispose()


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def worker_argv(batch: int, interval: float) -> list[str]:
    """`liandong worker` exactly as the console script runs it (runner.cli:main), at the fixed time FIRE_AT."""
    return [sys.executable, "-c", "import sys; from runner.cli import main; sys.exit(main())", "worker",
            "--now", FIRE_AT.isoformat(), "--interval", str(interval), "--batch", str(batch)]


def _claimed(log: Path) -> int:
    """Timers a worker claimed, from its own log lines ("worker NAME: N claimed, ...")."""
    return sum(int(m) for m in re.findall(r": (\d+) claimed", log.read_text(errors="replace")))


def _due_left(conn) -> int:
    return conn.execute(text("SELECT count(*) FROM timers WHERE status = 'waiting' AND parked = false "
                             "AND due_at < :now"), {"now": FIRE_AT}).scalar_one()


def sweep(url: str, processes: int, folder: str, batch: int = 100, interval: float = 1.0,
          patience: float = 1800.0) -> dict:
    """Start PROCESSES workers on URL, wait until nothing due is left, stop them; timings, duplicates, RSS."""
    env = {**os.environ, "DATABASE_URL": url, "LIANDONG_INSTANCE_DIR": folder, "PYTHONPATH": str(actions.ROOT)}
    logs = [Path(folder) / f"worker-{processes}-{k}.log" for k in range(processes)]
    probe = create_engine(url)
    procs: list[subprocess.Popen] = []
    try:
        with probe.connect() as conn:
            due = _due_left(conn)
        t0 = time.perf_counter()
        for log in logs:
            with open(log, "wb") as out:
                procs.append(subprocess.Popen(worker_argv(batch, interval), cwd=actions.ROOT, env=env, stdout=out,
                                              stderr=subprocess.STDOUT))
        ready_at: dict[int, float] = {}
        rss_before: dict[int, float] = {}
        peak: dict[int, float] = {}
        while True:
            now = time.perf_counter()
            for k, (p, log) in enumerate(zip(procs, logs, strict=True)):
                if p.poll() is not None:
                    raise RuntimeError(f"worker {k} exited with {p.returncode}: "
                                       + log.read_text(errors="replace")[-1500:])
                mb = rss_mb(p.pid)
                if mb is not None:
                    peak[k] = max(peak.get(k, 0.0), mb)
                if k not in ready_at and READY in log.read_text(errors="replace"):
                    ready_at[k], rss_before[k] = now, mb
            with probe.connect() as conn:
                left = _due_left(conn)
            if not left and len(ready_at) == processes:
                break
            if now - t0 > patience:
                raise RuntimeError(f"{left} timers still due after {patience:.0f} s")
            time.sleep(0.2)
        elapsed = time.perf_counter() - t0
        rss_after = {k: rss_mb(p.pid) for k, p in enumerate(procs)}
        with probe.connect() as conn:
            fired = conn.execute(text("SELECT count(*) FROM audit_log WHERE action = 'timer'")).scalar_one()
            duplicates = conn.execute(text("SELECT count(*) FROM (SELECT task_id FROM audit_log WHERE action = "
                                           "'timer' GROUP BY task_id HAVING count(*) > 1) d")).scalar_one()
        return {"processes": processes, "due": due, "fired": fired, "duplicates": duplicates,
                "seconds": elapsed, "startup_s": max(ready_at.values()) - t0,
                "sweep_after_first_ready_s": elapsed - (min(ready_at.values()) - t0),
                "rss_before_mb": [round(rss_before[k] or 0, 1) for k in sorted(rss_before)],
                "rss_after_mb": [round(rss_after[k] or 0, 1) for k in sorted(rss_after)],
                "rss_peak_mb": [round(peak[k], 1) for k in sorted(peak)],
                "claimed_per_process": [_claimed(log) for log in logs]}
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        probe.dispose()


def part(args, n, tmp, use_pg, result, notes) -> None:
    if not use_pg or (args.only and "timers" not in args.only):
        return
    runs = {}
    for processes in (1, 2):
        with throwaway_database(args.pg, tmp) as url:
            prepare(url, n["timers"])
            runs[processes] = sweep(url, processes, tmp)
    one, two = runs[1], runs[2]
    result["timer_sweep_speedup"] = one["seconds"] / two["seconds"]
    result["worker_rss_mb"] = {"before": one["rss_before_mb"][0], "after": one["rss_after_mb"][0]}
    notes["timers"] = {"cases": n["timers"], "one": one, "two": two,
                       "duplicates": one["duplicates"] + two["duplicates"],
                       "speedup_after_first_ready": one["sweep_after_first_ready_s"]
                       / two["sweep_after_first_ready_s"],
                       "note": "`liandong worker` processes (run_forever, batch 100) at a fixed --now; process "
                               "start-up is inside both timings"}
