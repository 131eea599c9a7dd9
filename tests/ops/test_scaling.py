"""Workers side by side share one task queue: two `python worker.py` processes on PostgreSQL, as in
`docker compose up --scale worker=2`, both process orders, and every order completes once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from db.migrate import upgrade
from db.session import make_engine, make_sessionmaker
from tests.factories import add_customer, add_product, order_input
from tests.ops.conftest import Workers, task_queue
from workflows.order import OrderWorkflow
from workflows.rules import OrderStatus

ORDERS = 20


async def test_two_workers_on_one_task_queue_share_the_orders(
    client: Client, workers: Workers, pg_database: str,
) -> None:
    upgrade(pg_database)
    sessions = make_sessionmaker(make_engine(pg_database))
    queue = task_queue()
    pair = [workers.start(queue, pg_database) for _ in range(2)]
    identities = {await worker.identity() for worker in pair}
    assert len(identities) == 2

    sku = add_product(sessions, on_hand=ORDERS)
    inputs = [order_input(add_customer(sessions), {sku: 1}, receipt_auto_confirm=timedelta(seconds=1))
              for _ in range(ORDERS)]
    handles = [await client.start_workflow(OrderWorkflow.run, data, id=f"order-{data.order_id}",
                                           task_queue=queue) for data in inputs]
    finals = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 45)
    assert {view.status for view in finals} == {OrderStatus.COMPLETED}

    activities_by_worker: Counter[str] = Counter()
    for handle in handles:
        async for event in handle.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                activities_by_worker[event.activity_task_completed_event_attributes.identity] += 1
    assert set(activities_by_worker) == identities, activities_by_worker
    total = sum(activities_by_worker.values())
    assert min(activities_by_worker.values()) >= total // 10, activities_by_worker  # a real share
    for worker in pair:
        assert await worker.terminate(timeout=20) == 0
