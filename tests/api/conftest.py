"""The real app over ASGI on the session's migrated SQLite file; Temporal only where a test asks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from starter.api import create_app
from starter.service import Services
from starter.settings import Settings
from tests.api.support import make_catalog
from worker import build_worker
from workflows.rules import Role

ADMIN_TOKEN = "test-admin-token-0123456789"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def settings(sqlite_url: str) -> Settings:
    # Port 1 never answers: tests that need Temporal use the `orders_api` fixture instead.
    return Settings(database_url=sqlite_url, admin_token=ADMIN_TOKEN, temporal_address="127.0.0.1:1")


@pytest.fixture
def services(settings: Settings, sqlite_sessions: sessionmaker[Session]) -> Services:
    return Services(settings, sqlite_sessions)


async def serve(services: Services, *, raise_app_exceptions: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(services)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://api.test") as http,
    ):
        yield http


@pytest.fixture
async def api(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    async for http in serve(services):
        yield http


@pytest.fixture
def admin() -> dict[str, str]:
    return bearer(ADMIN_TOKEN)


@dataclass(frozen=True)
class Person:
    id: str
    headers: dict[str, str]


async def add_person(api: httpx.AsyncClient, role: Role, name: str | None = None) -> Person:
    created = await api.post("/users", json={"name": name or f"{role.value} user", "role": role.value},
                             headers=bearer(ADMIN_TOKEN))
    assert created.status_code == 201, created.text
    return Person(created.json()["id"], bearer(created.json()["token"]))


@pytest.fixture
async def people(api: httpx.AsyncClient) -> dict[Role, Person]:
    """One fresh user of every role."""
    return {role: await add_person(api, role) for role in Role}


@pytest.fixture
def tokens(people: dict[Role, Person]) -> dict[Role, dict[str, str]]:
    """An Authorization header for one fresh user of every role."""
    return {role: person.headers for role, person in people.items()}


@asynccontextmanager
async def running_services(
    client: Client, sessions: sessionmaker[Session], sqlite_url: str
) -> AsyncIterator[Services]:
    """Services wired to the session's Temporal dev server, with a worker on a queue of its own."""
    queue = f"orders-api-{uuid.uuid4().hex[:8]}"
    settings = Settings(database_url=sqlite_url, admin_token=ADMIN_TOKEN, temporal_task_queue=queue,
                        temporal_address=client.service_client.config.target_host)
    async with build_worker(client, sessions, queue):
        yield Services(settings, sessions, client)


@pytest.fixture
async def order_services(
    client: Client, sqlite_sessions: sessionmaker[Session], sqlite_url: str
) -> AsyncIterator[Services]:
    async with running_services(client, sqlite_sessions, sqlite_url) as services:
        yield services


@pytest.fixture
async def orders_api(order_services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """The app wired to the session's Temporal dev server and a worker."""
    async for http in serve(order_services):
        yield http


@pytest.fixture
async def catalog(orders_api: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, str]:
    """A customer with credit and two products in stock (see support.order_body)."""
    return await make_catalog(orders_api, admin)
