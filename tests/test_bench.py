"""The benchmark runs end to end with small numbers and prints every figure of issue 10 (nothing about time)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_smoke_prints_every_key(tmp_path, postgres_reason):
    plot = tmp_path / "steps.svg"
    argv = [sys.executable, "-m", "bench", "--smoke", "--json", "--plot", str(plot)]
    if postgres_reason:
        argv.append("--no-pg")
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    from bench.__main__ import KEYS

    assert set(KEYS) <= set(result)
    assert set(result["persisted_vs_bare"]) == {"sqlite", "postgresql"}
    if not postgres_reason:
        assert all(result[k] is not None for k in KEYS)
        assert set(result["inbox_p95_ms"]) == {"spread", "one_unit"}
    assert plot.read_text(encoding="utf-8").startswith("<svg")


def test_think_time_is_read_as_a_range_of_seconds():
    import pytest

    from bench.load import think_range

    assert think_range("1-3") == (1.0, 3.0) and think_range("0") == (0.0, 0.0)
    with pytest.raises(ValueError):
        think_range("3-1")
