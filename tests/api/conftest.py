"""The real app over ASGI on the session's migrated SQLite file; Temporal only where a test asks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from starter.api import create_app
from starter.service import Services
from starter.settings import Settings
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


@pytest.fixture
async def tokens(api: httpx.AsyncClient, admin: dict[str, str]) -> dict[Role, dict[str, str]]:
    """An Authorization header for one fresh user of every role."""
    headers: dict[Role, dict[str, str]] = {}
    for role in Role:
        created = await api.post("/users", json={"name": f"{role.value} user", "role": role.value},
                                 headers=admin)
        assert created.status_code == 201, created.text
        headers[role] = bearer(created.json()["token"])
    return headers
