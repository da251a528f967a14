"""Operations endpoints: /healthz (the database answers) and /metrics (Prometheus text format).

Counts come from the database through indexes or one-row tables, so every web process reports the same
figures; the latency histogram is this process's own (Prometheus sums the processes it scrapes)."""

from __future__ import annotations

import threading
import time

from flask import Blueprint, Response, current_app, g, request
from sqlalchemy import func, select, text

from runner.models import AuditEntry, HumanTask, Timer

bp = Blueprint("ops", __name__)
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_lock = threading.Lock()
_hist = {"counts": [0] * (len(BUCKETS) + 1), "sum": 0.0, "n": 0}


def _rt():
    return current_app.extensions["liandong"]


@bp.get("/healthz")
def healthz():
    try:
        with _rt().session() as s:
            s.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means unhealthy; the body says which part
        return {"ok": False, "database": "unreachable"}, 503
    return {"ok": True, "database": "ok"}


@bp.get("/metrics")
def metrics():
    now = current_app.extensions["liandong.clock"]()
    with _rt().session() as s:
        # every entry has an id from one sequence (the chains are per case): the highest is the count so far
        actions = s.scalar(select(func.max(AuditEntry.id))) or 0
        open_tasks = s.scalar(select(func.count()).select_from(HumanTask).where(HumanTask.status == "open")) or 0
        overdue = s.scalar(select(func.count()).select_from(HumanTask)
                           .where(HumanTask.status == "open", HumanTask.due_at < now)) or 0
        timers = dict(s.execute(select(Timer.status, func.count()).group_by(Timer.status)).all())
    lines = [
        "# HELP liandong_audit_entries_total Actions recorded in the audit log (every change and refusal).",
        "# TYPE liandong_audit_entries_total counter", f"liandong_audit_entries_total {actions}",
        "# HELP liandong_open_tasks Open human tasks.", "# TYPE liandong_open_tasks gauge",
        f"liandong_open_tasks {open_tasks}",
        "# HELP liandong_overdue_tasks Open human tasks past their deadline.", "# TYPE liandong_overdue_tasks gauge",
        f"liandong_overdue_tasks {overdue}",
        "# HELP liandong_timers Timers by state (done: fired or ended).", "# TYPE liandong_timers gauge",
    ]
    lines += [f'liandong_timers{{status="{status}"}} {count}' for status, count in sorted(timers.items())]
    lines += ["# HELP liandong_request_seconds Request latency in this web process.",
              "# TYPE liandong_request_seconds histogram"]
    with _lock:
        running = 0
        for bound, count in zip(BUCKETS, _hist["counts"], strict=False):
            running += count
            lines.append(f'liandong_request_seconds_bucket{{le="{bound}"}} {running}')
        lines.append(f'liandong_request_seconds_bucket{{le="+Inf"}} {_hist["n"]}')
        lines += [f"liandong_request_seconds_sum {_hist['sum']:.6f}", f"liandong_request_seconds_count {_hist['n']}"]
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")


def init_ops(app) -> None:
    """Time every request (not /metrics itself) into the latency histogram."""
    @app.before_request
    def _start():
        g._ops_t0 = time.perf_counter()

    @app.after_request
    def _observe(response):
        t0 = g.pop("_ops_t0", None)
        if t0 is not None and request.path != "/metrics":
            elapsed = time.perf_counter() - t0
            with _lock:
                i = next((k for k, b in enumerate(BUCKETS) if elapsed <= b), len(BUCKETS))
                _hist["counts"][i] += 1
                _hist["sum"] += elapsed
                _hist["n"] += 1
        return response
    app.register_blueprint(bp)
