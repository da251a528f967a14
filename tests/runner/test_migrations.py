"""`alembic upgrade head` on an empty database gives exactly the schema of runner/models.py: a table or column
added to the models without a migration fails here."""

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from alembic import command
from runner.db import Base, make_engine

ROOT = Path(__file__).resolve().parents[2]


def test_upgrade_head_on_an_empty_database_equals_the_models(database_url):
    engine = make_engine(database_url)
    try:
        config = Config(str(ROOT / "alembic.ini"))
        config.set_main_option("script_location", str(ROOT / "alembic"))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            tables = set(inspect(conn).get_table_names())
        assert diff == []
        assert set(Base.metadata.tables) <= tables
        assert "audit_chain" in tables
    finally:
        engine.dispose()
