"""The thin loop that calls fire_due_timers(now) every few seconds."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from runner.runtime import Runtime
from runner.services import fire_due_timers

log = logging.getLogger(__name__)


def wall_clock() -> datetime:
    return datetime.now(UTC)


def start_timer_thread(rt: Runtime, interval: float, clock: Callable[[], datetime] = wall_clock
                       ) -> threading.Event:
    """Fire due timers every INTERVAL seconds in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()

    def loop():
        while not stop.wait(interval):
            try:
                fired = fire_due_timers(rt, clock())
                if fired:
                    log.info("fired timers of %d instance(s)", fired)
            except Exception:  # noqa: BLE001 - the loop must survive one bad round
                log.exception("timer round failed")

    threading.Thread(target=loop, name="liandong-timers", daemon=True).start()
    return stop
