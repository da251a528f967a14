"""Shared fixtures: settings on a real database (SQLite and PostgreSQL), runtime, clock, snapshots."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text

from runner.calendar import TZ
from runner.config import ROOT, Settings
from runner.db import why_unreachable
from runner.org import seed_demo_users, seed_units
from runner.runtime import Runtime, deploy_definitions, make_runtime

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)  # a Monday, inside the policy's window


@pytest.fixture(scope="session")
def postgres_reason():
    return why_unreachable(POSTGRES_URL)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path, postgres_reason):
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    if postgres_reason:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but not reachable: {postgres_reason}")
        pytest.skip(f"PostgreSQL not reachable: {postgres_reason}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def settings(database_url) -> Settings:
    return Settings(database_url=database_url, bpmn_dir=ROOT / "bpmn", rules_file=ROOT / "policy" / "RULES.md",
                    calendar_dir=ROOT / "runner" / "data" / "calendar")


def prepared_runtime(settings: Settings):
    """Yield a runtime with the organisation, demo accounts and its diagrams deployed; dispose it after."""
    runtime = make_runtime(settings)
    with runtime.session() as s, s.begin():
        seed_units(s)
        seed_demo_users(s)
    deploy_definitions(runtime, T0)
    yield runtime
    runtime.session_factory.kw["bind"].dispose()


@pytest.fixture
def rt(settings) -> Runtime:
    """A runtime with the organisation, demo accounts and every diagram in bpmn/ deployed."""
    yield from prepared_runtime(settings)


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def set(self, when: datetime) -> datetime:
        self.now = when
        return when

    def advance(self, **delta) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def snapshot(rt: Runtime, exclude_denied: bool = True, exclude_sign_in: bool = True) -> dict:
    """Every row of every table, to assert that a refused action changed nothing. Sign-in bookkeeping (open
    sessions, counted attempts) is left out unless asked for: a test may sign someone in between."""
    from runner.models import AuditEntry, LoginAttempt, UserSession

    sign_in = {LoginAttempt.__tablename__, UserSession.__tablename__} if exclude_sign_in else set()
    out = {}
    with rt.session() as s:
        bind = s.get_bind()
        for table in sorted(set(inspect(bind).get_table_names()) - sign_in):
            if table == "audit_chain" and exclude_denied:
                continue  # the chain head moves with every entry, denied ones too
            rows = s.execute(text(f'SELECT * FROM "{table}"')).all()
            if table == AuditEntry.__tablename__ and exclude_denied:
                denied = set(s.scalars(select(AuditEntry.id).where(AuditEntry.action == "denied")))
                rows = [r for r in rows if r[0] not in denied]
            out[table] = sorted(repr(tuple(r)) for r in rows)
    return out


@pytest.fixture
def db_snapshot():
    return snapshot


SCENARIO_DIR = Path(__file__).parent / "scenarios"
