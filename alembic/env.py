"""Alembic environment: runner.models' metadata; the URL from DATABASE_URL, else alembic.ini."""

import os

from alembic import context
from runner import models  # noqa: F401  (registers the tables)
from runner.db import Base, make_engine

config = context.config
url = os.environ.get("DATABASE_URL") or config.attributes.get("url") or config.get_main_option("sqlalchemy.url")


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
