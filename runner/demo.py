"""Demo procedures for a living first look (seeded by `liandong init-db --demo`)."""

from __future__ import annotations

from runner.runtime import Runtime


def seed_demo_cases(rt: Runtime) -> str:
    """Seed demo cases in different states; idempotent."""
    return "演示案件：暂无"
