"""A worker per test on its own task queue, against the session's dev server and SQLite file."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle

from tests.factories import order_input
from worker import build_worker
from workflows.models import OrderInput, OrderView
from workflows.order import OrderWorkflow

HISTORIES = Path(__file__).parent.parent / "replay" / "histories"

StartOrder = Callable[..., Awaitable[WorkflowHandle[OrderWorkflow, OrderView]]]


@pytest.fixture
async def task_queue(client: Client, sqlite_sessions: sessionmaker[Session]) -> AsyncIterator[str]:
    queue = f"orders-test-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, sqlite_sessions, queue):
        yield queue


@pytest.fixture
async def start_order(client: Client, task_queue: str, request: pytest.FixtureRequest,
                      ) -> AsyncIterator[StartOrder]:
    """Start an order workflow and wait until validation has priced it.

    With ORDERS_RECORD_HISTORIES=1 each order's history is saved under tests/replay/histories/
    when the test ends, for the replay tests (see the README, "Changing workflow code").
    """
    started: list[WorkflowHandle[OrderWorkflow, OrderView]] = []

    async def start(customer_id: str, lines: dict[str, int], **kwargs: object,
                    ) -> WorkflowHandle[OrderWorkflow, OrderView]:
        data: OrderInput = order_input(customer_id, lines, **kwargs)  # type: ignore[arg-type]
        handle = await client.start_workflow(
            OrderWorkflow.run, data, id=f"order-{data.order_id}", task_queue=task_queue)
        await handle.execute_update(OrderWorkflow.accepted)
        started.append(handle)
        return handle

    yield start
    if os.environ.get("ORDERS_RECORD_HISTORIES") == "1":
        for number, handle in enumerate(started):
            history = await handle.fetch_history()
            name = request.node.name + (f"-{number}" if number else "")
            (HISTORIES / f"{name}.json").write_text(history.to_json())
