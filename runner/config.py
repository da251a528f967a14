"""Settings, built from the environment by one function."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The key Settings() carries when nothing else is given: fine for tests and a loopback demo, never for a server
# others can reach (anyone who knows it can sign a session cookie). `liandong init-db`/`run` make a real one.
DEV_SECRET_KEY = "dev-only-change-me"
KNOWN_DEV_KEYS = frozenset({DEV_SECRET_KEY, "", "dev", "secret", "change-me", "changeme"})
SECRET_KEY_FILE = "secret_key"


@dataclass(frozen=True)
class Settings:
    database_url: str = f"sqlite:///{ROOT / 'instance' / 'liandong.db'}"
    bpmn_dir: Path = ROOT / "bpmn"
    rules_file: Path | None = None
    calendar_dir: Path = ROOT / "runner" / "data" / "calendar"
    secret_key: str = DEV_SECRET_KEY
    # Where the generated secret key (and, by default, the SQLite database) lives; outside the repository's files.
    instance_dir: Path = ROOT / "instance"
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


def weak_secret_key(key: str) -> bool:
    """A key anyone could know or guess: the built-in development key, a well-known word, or a short one."""
    return key in KNOWN_DEV_KEYS or len(key) < 32


def _instance_dir(env, database_url: str) -> Path:
    # The folder of the SQLite database, else ROOT/instance; LIANDONG_INSTANCE_DIR overrides both.
    if env.get("LIANDONG_INSTANCE_DIR"):
        return Path(env["LIANDONG_INSTANCE_DIR"])
    if database_url.startswith("sqlite:///") and not database_url.startswith("sqlite:///:memory:"):
        return Path(database_url.removeprefix("sqlite:///")).parent
    return ROOT / "instance"


def _stored_secret_key(instance_dir: Path) -> str | None:
    try:
        return (instance_dir / SECRET_KEY_FILE).read_text(encoding="ascii").strip() or None
    except (FileNotFoundError, NotADirectoryError):
        return None


def settings_from_env(env: dict | None = None) -> Settings:
    """Build Settings from environment variables (LIANDONG_* and DATABASE_URL).

    The secret key is LIANDONG_SECRET_KEY, else the one kept in INSTANCE_DIR/secret_key (made by
    runner.setup.ensure_secret_key), else the development key, which `liandong run` refuses off loopback."""
    env = os.environ if env is None else env
    base = Settings(rules_file=_find_rules(ROOT))
    rules = env.get("LIANDONG_RULES_FILE")
    database_url = env.get("DATABASE_URL", base.database_url)
    instance_dir = _instance_dir(env, database_url)
    return base.with_(
        database_url=database_url,
        instance_dir=instance_dir,
        bpmn_dir=Path(env.get("LIANDONG_BPMN_DIR", base.bpmn_dir)),
        rules_file=Path(rules) if rules else base.rules_file,
        calendar_dir=Path(env.get("LIANDONG_CALENDAR_DIR", base.calendar_dir)),
        secret_key=env.get("LIANDONG_SECRET_KEY") or _stored_secret_key(instance_dir) or base.secret_key,
        urgent_query_limit=env.get("LIANDONG_URGENT_QUERY_LIMIT", base.urgent_query_limit),
        urgent_onsite_limit=env.get("LIANDONG_URGENT_ONSITE_LIMIT", base.urgent_onsite_limit),
        timer_interval_seconds=int(env.get("LIANDONG_TIMER_INTERVAL", base.timer_interval_seconds)),
        extra={"secure_cookies": env.get("LIANDONG_SECURE_COOKIES", "") == "1",
               # evidence files live here (the database holds only their description)
               "upload_dir": env.get("LIANDONG_UPLOAD_DIR", "")},
    )
