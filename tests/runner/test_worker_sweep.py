"""The timer worker also sweeps orphan evidence files (a refused form's uploads), at most once an hour."""

from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta

from runner import worker
from tests.conftest import T0


def _orphan(folder, name: str, now: datetime):
    path = folder / name
    path.write_bytes(b"x")
    old = (now - timedelta(days=3)).timestamp()  # older than the 2-day grace a form may still be open
    os.utime(path, (old, old))
    return path


def test_the_worker_round_sweeps_orphans_at_most_once_an_hour(rt, tmp_path):
    rt.settings.extra["upload_dir"] = str(tmp_path)
    first = _orphan(tmp_path, "a" * 64, T0)
    last = worker.sweep_if_due(rt, T0, None)
    assert last == T0 and not first.exists()
    second = _orphan(tmp_path, "c" * 64, T0)
    assert worker.sweep_if_due(rt, T0 + timedelta(minutes=59), last) == T0 and second.exists()
    later = T0 + timedelta(hours=1)
    assert worker.sweep_if_due(rt, later, last) == later and not second.exists()


class _OneRound(threading.Event):
    """A stop event that is set as soon as the worker waits after its first round."""

    def wait(self, timeout=None):
        self.set()
        return True


def test_run_forever_sweeps_with_its_injected_clock(rt, tmp_path):
    rt.settings.extra["upload_dir"] = str(tmp_path)
    orphan = _orphan(tmp_path, "d" * 64, T0)
    young = tmp_path / ("e" * 64)
    young.write_bytes(b"y")
    os.utime(young, (T0.timestamp(), T0.timestamp()))
    worker.run_forever(rt, lambda: T0, 30, _OneRound(), worker="test")
    assert not orphan.exists() and young.exists()
