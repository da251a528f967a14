"""Settings, built from the environment by one function."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    database_url: str = f"sqlite:///{ROOT / 'instance' / 'liandong.db'}"
    bpmn_dir: Path = ROOT / "bpmn"
    rules_file: Path | None = None
    calendar_dir: Path = ROOT / "runner" / "data" / "calendar"
    secret_key: str = "dev-only-change-me"
    # How long an "immediately" answered query or an urgent on-site handling may take.
    urgent_query_limit: str = "PT2H"
    urgent_onsite_limit: str = "PT2H"
    timer_interval_seconds: int = 30
    extra: dict = field(default_factory=dict)

    def with_(self, **changes) -> Settings:
        return replace(self, **changes)


def _find_rules(root: Path) -> Path | None:
    # The repo carries a copy of the policy (tests check it matches ../shared/policy when present).
    for candidate in (root / "policy" / "RULES.md", root.parent / "shared" / "policy" / "RULES.md"):
        if candidate.exists():
            return candidate
    return None


def settings_from_env(env: dict | None = None) -> Settings:
    """Build Settings from environment variables (LIANDONG_* and DATABASE_URL)."""
    env = os.environ if env is None else env
    base = Settings(rules_file=_find_rules(ROOT))
    rules = env.get("LIANDONG_RULES_FILE")
    return base.with_(
        database_url=env.get("DATABASE_URL", base.database_url),
        bpmn_dir=Path(env.get("LIANDONG_BPMN_DIR", base.bpmn_dir)),
        rules_file=Path(rules) if rules else base.rules_file,
        calendar_dir=Path(env.get("LIANDONG_CALENDAR_DIR", base.calendar_dir)),
        secret_key=env.get("LIANDONG_SECRET_KEY", base.secret_key),
        urgent_query_limit=env.get("LIANDONG_URGENT_QUERY_LIMIT", base.urgent_query_limit),
        urgent_onsite_limit=env.get("LIANDONG_URGENT_ONSITE_LIMIT", base.urgent_onsite_limit),
        timer_interval_seconds=int(env.get("LIANDONG_TIMER_INTERVAL", base.timer_interval_seconds)),
        extra={"secure_cookies": env.get("LIANDONG_SECURE_COOKIES", "") == "1"},
    )
