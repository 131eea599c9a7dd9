"""The CLI in process (typer's CliRunner) against the API tests' databases, worker and Temporal server.

The fixtures are the API tests' own (imported, not copied), so the CLI, the HTTP API and the Python
client act on the same orders. A command runs in a thread: it starts its own event loop
(`asyncio.run`), while the test's loop keeps the worker polling.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from starter.cli import app
from starter.service import Services
from starter.settings import Settings
from tests.api.conftest import (
    ADMIN_TOKEN,
    admin,
    api,
    catalog,
    order_services,
    orders_api,
    services,
    settings,
)

# The API tests' fixtures, offered to the CLI tests too (pytest finds fixtures by name in a conftest).
__all__ = ["Cli", "Outcome", "admin", "api", "catalog", "cli", "order_services", "orders_api", "services",
           "settings", "stack_cli"]

RUNNER = CliRunner()


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def error(self) -> dict[str, Any]:
        """The `--json` error on stderr: the HTTP API's error shape (plus a hint)."""
        error: dict[str, Any] = json.loads(self.stderr)["error"]
        return error


class Cli:
    """`await cli("order", "show", order_id, "--json")` runs `orders …` with this environment."""

    def __init__(self, config: Settings) -> None:
        self.env: dict[str, str | None] = {
            "DATABASE_URL": config.database_url, "TEMPORAL_ADDRESS": config.temporal_address,
            "TEMPORAL_NAMESPACE": config.temporal_namespace,
            "TEMPORAL_TASK_QUEUE": config.temporal_task_queue, "ORDERS_ADMIN_TOKEN": ADMIN_TOKEN,
            "ORDERS_TOKEN": None, "ORDERS_FULFILLMENT": None}

    async def __call__(self, *args: str, input: str | None = None, token: str | None = None) -> Outcome:
        env = self.env | ({"ORDERS_TOKEN": token} if token else {})
        result = await asyncio.to_thread(RUNNER.invoke, app, list(args), input=input, env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Outcome(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def cli(settings: Settings, sqlite_sessions: sessionmaker[Session]) -> Cli:
    """The CLI on the migrated SQLite file; Temporal on port 1, which never answers."""
    return Cli(settings)


@pytest.fixture
def stack_cli(order_services: Services) -> Cli:
    """The CLI wired to the Temporal dev server and the worker of `orders_api`."""
    return Cli(order_services.settings)
