"""Slow down repeated failed logins, per account name and per client address."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

_MAX_WAIT = timedelta(minutes=15)
_FORGET_AFTER = timedelta(hours=1)


@dataclass
class _Record:
    failures: int
    last: datetime


class LoginThrottle:
    """After FREE failures, each further attempt must wait 2, 4, 8 … seconds (at most 15 minutes).

    Times come from the caller (the injected clock), so tests move time instead of sleeping."""

    def __init__(self, free: int = 5):
        self.free = free
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def wait_seconds(self, keys: list[str], now: datetime) -> int:
        """Seconds to wait before the next attempt for any of KEYS (0 = may try now)."""
        with self._lock:
            longest = timedelta(0)
            for key in keys:
                rec = self._records.get(key)
                if rec is None or rec.failures < self.free:
                    continue
                left = rec.last + self._delay(rec.failures) - now
                longest = max(longest, left)
            return int(longest.total_seconds() + 0.999) if longest > timedelta(0) else 0

    def failed(self, keys: list[str], now: datetime) -> None:
        with self._lock:
            self._forget_old(now)
            for key in keys:
                rec = self._records.get(key)
                if rec is None or now - rec.last > _FORGET_AFTER:
                    self._records[key] = _Record(1, now)
                else:
                    rec.failures, rec.last = rec.failures + 1, now

    def succeeded(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._records.pop(key, None)

    def _delay(self, failures: int) -> timedelta:
        return min(timedelta(seconds=2 ** (failures - self.free + 1)), _MAX_WAIT)

    def _forget_old(self, now: datetime) -> None:
        if len(self._records) < 10_000:
            return
        for key in [k for k, r in self._records.items() if now - r.last > _FORGET_AFTER]:
            del self._records[key]
