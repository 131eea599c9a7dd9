"""Alembic environment: migrates the URL set by `db.migrate` against `db.models.Base.metadata`."""

from __future__ import annotations

from alembic import context

from db.models import Base
from db.session import make_engine

config = context.config
target_metadata = Base.metadata


def _run() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("sqlalchemy.url is not set; migrate with db.migrate.upgrade(url)")
    # make_engine gives SQLite its BEGIN IMMEDIATE and foreign keys, as the application sees it.
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                # SQLite cannot ALTER most things; batch mode recreates the table there and is a
                # plain ALTER on PostgreSQL, so one generated script serves both.
                render_as_batch=True,
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; run against a database")
_run()
