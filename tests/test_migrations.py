"""The Alembic migrations build exactly the schema of `db.models`, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, select

from db.migrate import MIGRATIONS, alembic_config, current, upgrade
from db.models import Base, Counter
from db.session import make_engine
from tests.conftest import PG_ADMIN_URL
from tests.factories import uid

HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


@contextmanager
def engine_for(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()  # so the PostgreSQL test database can be dropped


def schema_differences(url: str) -> list[object]:
    with engine_for(url) as engine, engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database nobody migrated yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('migrations') / 'empty.db'}"
        return
    name = uid("migrations").replace("-", "_")
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrations_live_beside_the_package() -> None:
    assert (MIGRATIONS / "env.py").is_file()
    assert HEAD is not None


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    assert current(database_url) == HEAD
    assert schema_differences(database_url) == []


def test_upgrading_again_changes_nothing(database_url: str) -> None:
    upgrade(database_url)

    assert current(database_url) == HEAD
    assert schema_differences(database_url) == []


def test_an_empty_database_is_unmigrated_until_upgraded(empty_database: str) -> None:
    assert current(empty_database) is None
    assert schema_differences(empty_database) != []

    upgrade(empty_database)

    assert current(empty_database) == HEAD
    assert schema_differences(empty_database) == []
    with engine_for(empty_database) as engine, engine.connect() as connection:
        assert connection.execute(select(Counter.name, Counter.value)).all() == [("invoice", 0)]


def test_downgrading_to_base_removes_every_table(empty_database: str) -> None:
    upgrade(empty_database)
    command.downgrade(alembic_config(empty_database), "base")

    with engine_for(empty_database) as engine:
        assert inspect(engine).get_table_names() == ["alembic_version"]
    upgrade(empty_database)
    assert schema_differences(empty_database) == []
