"""Webhook fixtures: local receivers, a worker and a fast dispatcher per test, the Webhooks service.

The databases are shared by the whole test session, so every test leaves no active webhook behind
(other tests' dispatchers would otherwise deliver to it).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle

from db.models import Webhook
from starter.service import Services
from starter.settings import Settings
from starter.webhooks import Webhooks, ensure_dispatcher
from tests.factories import order_input
from tests.webhooks.receiver import Receiver
from tests.workflows.conftest import HISTORIES
from worker import build_worker
from workflows.models import OrderView
from workflows.order import OrderWorkflow
from workflows.webhook_models import DeliveryPolicy, DispatchSettings

# Fast enough for tests: idle rounds every 200 ms, retries after 0.3 s, 0.6 s, 1 s, 1 s.
FAST = DispatchSettings(
    poll_interval=timedelta(milliseconds=200),
    delivery=DeliveryPolicy(timeout=timedelta(seconds=2), initial_backoff=timedelta(milliseconds=300),
                            max_backoff=timedelta(seconds=1), max_attempts=5),
)

StartOrder = Callable[..., Awaitable[WorkflowHandle[OrderWorkflow, OrderView]]]


def deactivate_all(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        s.execute(update(Webhook).where(Webhook.active).values(active=False))


@pytest.fixture(autouse=True)
def no_webhook_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    for name in ("sessions", "sqlite_sessions"):
        if name in request.fixturenames:
            deactivate_all(request.getfixturevalue(name))


@pytest.fixture
async def receivers() -> AsyncIterator[Callable[..., Awaitable[Receiver]]]:
    started: list[Receiver] = []

    async def start(**kwargs: object) -> Receiver:
        receiver = await Receiver(**kwargs).start()  # type: ignore[arg-type]
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        await receiver.stop()


@pytest.fixture
async def task_queue(client: Client, sqlite_sessions: sessionmaker[Session]) -> AsyncIterator[str]:
    queue = f"webhooks-test-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, sqlite_sessions, queue):
        yield queue


@pytest.fixture
async def dispatcher(client: Client, task_queue: str, request: pytest.FixtureRequest,
                     ) -> AsyncIterator[WorkflowHandle[object, None]]:
    """This test's own dispatcher (the singleton id would be shared by every test of the session).

    With ORDERS_RECORD_HISTORIES=1 its history is saved for the replay tests, like the orders'.
    """
    handle = await ensure_dispatcher(client, task_queue, workflow_id=f"webhook-dispatcher-{task_queue}",
                                     settings=FAST)
    yield handle
    if os.environ.get("ORDERS_RECORD_HISTORIES") == "1":
        history = await client.get_workflow_handle(handle.id).fetch_history()
        (HISTORIES / f"dispatcher-{request.node.name}.json").write_text(history.to_json())
    await handle.terminate("test finished")


@pytest.fixture
def webhooks(client: Client, task_queue: str, sqlite_url: str, sqlite_sessions: sessionmaker[Session],
             dispatcher: WorkflowHandle[object, None]) -> Webhooks:
    services = Services(Settings(database_url=sqlite_url, temporal_task_queue=task_queue),
                        sqlite_sessions, client)
    return Webhooks(services, dispatcher_id=dispatcher.id)


@pytest.fixture
async def start_order(client: Client, task_queue: str) -> StartOrder:
    async def start(customer_id: str, lines: dict[str, int], **kwargs: object,
                    ) -> WorkflowHandle[OrderWorkflow, OrderView]:
        data = order_input(customer_id, lines, **kwargs)  # type: ignore[arg-type]
        handle = await client.start_workflow(
            OrderWorkflow.run, data, id=f"order-{data.order_id}", task_queue=task_queue)
        await handle.execute_update(OrderWorkflow.accepted)
        return handle

    return start
