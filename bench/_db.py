"""A throwaway database for a benchmark: SQLite in a folder, or a schema of its own in PostgreSQL."""

from __future__ import annotations

import contextlib
import uuid

from sqlalchemy import create_engine, text


@contextlib.contextmanager
def throwaway_database(url: str | None, folder: str, name: str = "bench.db"):
    """Yield a database URL; a PostgreSQL schema made for the run is dropped afterwards."""
    if not url:
        yield f"sqlite:///{folder}/{name}"
        return
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
