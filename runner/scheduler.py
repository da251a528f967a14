"""The wall clock, and the in-process timer thread kept for embedding (the web server no longer starts it:
`liandong worker` fires timers as a process of its own, see runner/worker.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

from runner.runtime import Runtime


def wall_clock() -> datetime:
    return datetime.now(UTC)


def start_timer_thread(rt: Runtime, interval: float, clock: Callable[[], datetime] = wall_clock
                       ) -> threading.Event:
    """Run the worker loop every INTERVAL seconds in a daemon thread; set the returned event to stop it."""
    from runner.worker import run_forever

    stop = threading.Event()
    threading.Thread(target=run_forever, args=(rt, clock, interval, stop), name="liandong-timers",
                     daemon=True).start()
    return stop
