"""Declarative base, engine and session factories."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, sessionmaker


class Base(DeclarativeBase):
    pass


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite files get their folder, foreign keys and a busy timeout."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        in_memory = ":memory:" in url or url in ("sqlite://", "sqlite:///")

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=5000")
            if not in_memory:
                # WAL: readers never wait for the writer, and a commit appends to the log instead of
                # rewriting pages twice; NORMAL sync is durable across a crash of the process in WAL mode.
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
    return engine


def make_session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False)


def create_schema(engine: Engine) -> None:
    """Create the tables, and the triggers and chain head that keep the audit log append-only."""
    from runner import audit, models  # noqa: F401  (registers the tables)

    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # processes starting together (gunicorn workers) take turns
            conn.execute(text("SELECT pg_advisory_xact_lock(7242001)"))
        Base.metadata.create_all(conn)
        audit.install(conn)


def drop_schema(engine: Engine) -> None:
    from runner import audit, models  # noqa: F401

    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        audit.uninstall(conn)


def why_unreachable(url: str) -> str | None:
    """None when a database at URL answers a query, else the first line of why it does not."""
    try:
        eng = create_engine(url)
        with eng.connect() as conn:
            conn.execute(text("select 1"))
        eng.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not here"
        return str(exc).splitlines()[0]
