"""SIGTERM drains a worker: it stops taking tasks, lets the running activity finish and report, and
exits 0 — well within ORDERS_DRAIN_TIMEOUT; another worker then carries the order on."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from tests.factories import add_customer, add_product, order_input
from tests.ops.conftest import Workers, task_queue
from workflows.order import OrderWorkflow
from workflows.rules import OrderStatus

BOOKING = 3.0  # seconds the slow carrier takes
DRAIN = 15.0


async def wait_until_exists(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout} s"
        await asyncio.sleep(0.05)


async def test_sigterm_lets_the_running_activity_finish_and_exits_0(
    client: Client, workers: Workers, ops_database: tuple[str, sessionmaker[Session]], tmp_path: Path,
) -> None:
    url, sessions = ops_database
    queue, mark = task_queue(), tmp_path / "booking-started"
    slow = workers.start(queue, url, module="tests.ops.slow_worker", ORDERS_DRAIN_TIMEOUT=f"{DRAIN:.0f}s",
                         ORDERS_TEST_CARRIER_MARK=str(mark), ORDERS_TEST_CARRIER_DELAY=str(BOOKING))
    identity = await slow.identity()
    data = order_input(add_customer(sessions), {add_product(sessions): 1},
                       receipt_auto_confirm=timedelta(seconds=1))
    handle = await client.start_workflow(OrderWorkflow.run, data, id=f"order-{data.order_id}",
                                         task_queue=queue)
    await wait_until_exists(mark, timeout=20)

    signalled = time.monotonic()
    exit_code = await slow.terminate(timeout=DRAIN + 10)
    took = time.monotonic() - signalled

    assert exit_code == 0, slow.text()[-3000:]
    assert BOOKING - 1 < took < DRAIN, f"stopped after {took:.1f} s"
    events = [(r["event"], r.get("activity_type")) for r in slow.records()]
    draining = events.index(("draining: no new tasks, waiting for running activities", None))
    shipped = events.index(("activity completed", "ship_order"))
    assert draining < shipped < events.index(("worker stopped", None))

    # The result reached Temporal from the draining worker: the order does not redo the shipment.
    history = await handle.fetch_history()
    [scheduled] = [e.event_id for e in history.events
                   if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                   and e.activity_task_scheduled_event_attributes.activity_type.name == "ship_order"]
    [completed] = [e.activity_task_completed_event_attributes for e in history.events
                   if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                   and e.activity_task_completed_event_attributes.scheduled_event_id == scheduled]
    assert completed.identity == identity

    fresh = workers.start(queue, url)
    final = await asyncio.wait_for(handle.result(), 30)
    assert final.status == OrderStatus.COMPLETED
    assert await fresh.terminate(timeout=DRAIN + 10) == 0
