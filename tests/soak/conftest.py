"""The soak's stack: PostgreSQL (migrated by Alembic), the session's Temporal dev server, a worker on
a queue of its own and the app over ASGI, with policy timers short enough to fire during the run.

Size and seed: `ORDERS_SOAK_ORDERS` (default 100) or `--soak-orders N` when this directory is on the
command line (`pytest tests/soak --soak-orders 1000`); `ORDERS_SOAK_SEED`, `ORDERS_SOAK_CLIENTS`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from db.migrate import upgrade
from db.session import make_engine, make_sessionmaker
from starter.service import Services
from starter.settings import Settings
from tests.api.conftest import ADMIN_TOKEN, serve
from worker import build_worker

DEFAULT_ORDERS = 100
DEFAULT_SEED = 20250601
DEFAULT_CLIENTS = 8

# Short enough to fire for the orders nobody acts on, long enough for the clients that do act.
PAYMENT_WINDOW = timedelta(seconds=8)
RECEIPT_AUTO_CONFIRM = timedelta(seconds=5)
HOLD_TIMEOUT = timedelta(seconds=8)
APPROVAL_THRESHOLD = Decimal("5000")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak-orders", type=int, default=None,
                     help=f"orders in the soak (default ORDERS_SOAK_ORDERS or {DEFAULT_ORDERS})")


@dataclass(frozen=True)
class SoakConfig:
    orders: int
    seed: int
    clients: int


@pytest.fixture(scope="session")
def soak_config(request: pytest.FixtureRequest) -> SoakConfig:
    # getoption with a default: the option exists only when this conftest was loaded at start-up.
    orders = request.config.getoption("soak_orders", default=None)
    return SoakConfig(
        orders=orders or int(os.environ.get("ORDERS_SOAK_ORDERS", DEFAULT_ORDERS)),
        seed=int(os.environ.get("ORDERS_SOAK_SEED", DEFAULT_SEED)),
        clients=int(os.environ.get("ORDERS_SOAK_CLIENTS", DEFAULT_CLIENTS)),
    )


@pytest.fixture(scope="session")
def soak_url(pg_database: str) -> str:
    upgrade(pg_database)
    return pg_database


@pytest.fixture(scope="session")
def soak_sessions(soak_url: str) -> sessionmaker[Session]:
    """The test's own connections, for the invariants (the API and the worker have theirs)."""
    return make_sessionmaker(make_engine(soak_url))


@pytest.fixture
async def soak_services(client: Client, soak_url: str) -> AsyncIterator[Services]:
    queue = f"soak-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        database_url=soak_url, admin_token=ADMIN_TOKEN, temporal_task_queue=queue,
        temporal_address=client.service_client.config.target_host,
        payment_window=PAYMENT_WINDOW, receipt_auto_confirm=RECEIPT_AUTO_CONFIRM,
        hold_timeout=HOLD_TIMEOUT, approval_threshold=APPROVAL_THRESHOLD,
    )
    # Separate pools, as in production where the API and the worker are separate processes.
    api_engine, worker_engine = make_engine(soak_url), make_engine(soak_url)
    try:
        async with build_worker(client, make_sessionmaker(worker_engine), queue, settings=settings):
            yield Services(settings, make_sessionmaker(api_engine), client)
    finally:
        api_engine.dispose()
        worker_engine.dispose()


@pytest.fixture
async def soak_api(soak_services: Services) -> AsyncIterator[httpx.AsyncClient]:
    # A crash answers 500 instead of raising in the client: the soak counts it as a finding.
    async for http in serve(soak_services, raise_app_exceptions=False):
        yield http
