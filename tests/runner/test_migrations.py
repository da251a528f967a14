"""`alembic upgrade head` on an empty database gives exactly the schema of runner/models.py: a table or column
added to the models without a migration fails here."""

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from alembic import command
from runner.db import Base, make_engine

ROOT = Path(__file__).resolve().parents[2]


def _upgrade(conn, revision: str) -> None:
    """Run the project's Alembic migrations up to REVISION on CONN, inside its transaction."""
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    config.attributes["connection"] = conn
    command.upgrade(config, revision)


def test_upgrade_head_on_an_empty_database_equals_the_models(database_url):
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            _upgrade(conn, "head")
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            tables = set(inspect(conn).get_table_names())
        assert diff == []
        assert set(Base.metadata.tables) <= tables
        assert "audit_chain" in tables
    finally:
        engine.dispose()


def test_a_log_chained_before_0004_still_verifies_and_the_system_chain_goes_on_from_it(database_url):
    """0004 rewrites nothing: entries chained on the single chain (numbered by id) stay the start of the system
    chain; an entry written after the upgrade continues it, and tampering with an old entry is still found."""
    from datetime import UTC, datetime

    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from runner.audit import entry_hash, verify
    from runner.models import AuditEntry

    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            _upgrade(conn, "0003")
            prev = ""
            for number in (1, 2, 3):
                old = AuditEntry(id=number, at=datetime(2026, 3, 2, number, tzinfo=UTC), actor="someone",
                                 action="denied", instance_id=None, task_id=None, element_id=None,
                                 detail=f"旧记录 {number}", changes={}, prev_hash=prev)
                old.hash = entry_hash(old)
                conn.execute(text("INSERT INTO audit_log (id, at, actor, action, detail, changes, prev_hash, hash) "
                                  "VALUES (:id, :at, :actor, :action, :detail, '{}', :prev, :hash)"),
                             {"id": number, "at": old.at.replace(tzinfo=None) if conn.dialect.name == "sqlite"
                              else old.at, "actor": old.actor, "action": old.action, "detail": old.detail,
                              "prev": prev, "hash": old.hash})
                prev = old.hash
            conn.execute(text("UPDATE audit_chain SET seq = 3, hash = :h WHERE id = 1"), {"h": prev})
            _upgrade(conn, "head")
        with Session(engine) as s, s.begin():
            s.add(AuditEntry(at=datetime(2026, 3, 3, tzinfo=UTC), actor="someone", action="denied", detail="新记录"))
        with Session(engine) as s:
            new = s.scalars(select(AuditEntry).where(AuditEntry.detail == "新记录")).one()
            assert (new.chain_id, new.seq, new.prev_hash) == (None, 4, prev)
            result = verify(s)
        assert result.ok and result.checked == 4, result.problem
        with engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.execute(text("DROP TRIGGER audit_log_no_update"))
            else:
                conn.execute(text("DROP TRIGGER audit_log_no_change ON audit_log"))
            conn.execute(text("UPDATE audit_log SET detail = '改过' WHERE id = 2"))
        with Session(engine) as s:
            assert verify(s).problem.startswith("第 2 条审计记录被改动")
    finally:
        engine.dispose()
