"""What an SRE sees of a running `python worker.py`: Prometheus metrics and JSON log lines.

One worker process serves the module: it runs one order to completion and refuses one invalid order;
the tests then read its metrics endpoint and its log.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from db.migrate import upgrade
from db.session import make_engine, make_sessionmaker
from tests.factories import add_customer, add_product, order_input
from tests.ops.conftest import WorkerProcess, Workers, free_port, task_queue
from tests.ops.prometheus import Sample, scrape, value
from workflows.models import OrderView
from workflows.order import OrderWorkflow
from workflows.rules import OrderStatus

DRAIN = 10.0


@dataclass
class Observed:
    worker: WorkerProcess
    queue: str
    completed: OrderView
    refused: OrderView
    metrics_url: str

    async def scrape(self, *expected: str) -> list[Sample]:
        """This worker's samples of the test's task queue, once every `expected` name is there."""
        return await scrape(self.metrics_url, self.queue,
                            lambda samples: set(expected) <= {s.name for s in samples})


@pytest.fixture(scope="module")
async def observed(temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory,
                   ) -> AsyncIterator[Observed]:
    tmp = tmp_path_factory.mktemp("observed")
    url = f"sqlite:///{tmp / 'orders.db'}"
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    workers = Workers(temporal_env, tmp)
    port, queue = free_port(), task_queue()
    worker = workers.start(queue, url, ORDERS_METRICS_PORT=str(port), ORDERS_METRICS_HOST="127.0.0.1",
                           ORDERS_DRAIN_TIMEOUT=f"{DRAIN:.0f}s")
    try:
        await worker.wait_for("worker started")
        client = temporal_env.client
        customer, sku = add_customer(sessions), add_product(sessions, price="12.50")
        good = order_input(customer, {sku: 2}, receipt_auto_confirm=timedelta(seconds=1))
        bad = order_input(customer, {"NO-SUCH-SKU": 1})
        handles = [await client.start_workflow(OrderWorkflow.run, data, id=f"order-{data.order_id}",
                                               task_queue=queue) for data in (good, bad)]
        completed, refused = await asyncio.wait_for(
            asyncio.gather(*(handle.result() for handle in handles)), 30)
        yield Observed(worker, queue, completed, refused, f"http://127.0.0.1:{port}/metrics")
        assert await worker.terminate(DRAIN + 10) == 0, worker.text()[-3000:]
    finally:
        workers.kill_all()


async def test_the_orders_ran_on_the_worker_process(observed: Observed) -> None:
    assert observed.completed.status == OrderStatus.COMPLETED
    assert observed.refused.status == OrderStatus.CANCELLED


async def test_metrics_endpoint_serves_the_sdk_metrics_of_the_worker(observed: Observed) -> None:
    samples = await observed.scrape("temporal_workflow_completed",
                                    "temporal_activity_execution_latency_count")

    assert value(samples, "temporal_workflow_completed", workflow_type="OrderWorkflow") == 2
    assert value(samples, "temporal_activity_execution_latency_count", activity_type="ship_order") == 1
    assert value(samples, "temporal_workflow_task_schedule_to_start_latency_count") > 0


async def test_business_refusals_of_activities_are_counted_apart_from_failures(
    observed: Observed,
) -> None:
    samples = await observed.scrape("orders_activity_refusals")

    assert value(samples, "orders_activity_refusals", activity_type="validate_order",
                 error_type="invalid_input") == 1


async def test_order_workflow_business_counters_are_exposed(observed: Observed) -> None:
    samples = await observed.scrape("orders_started", "orders_completed", "orders_cancelled")

    assert value(samples, "orders_started", workflow_type="OrderWorkflow") == 2
    assert value(samples, "orders_completed") == 1
    assert value(samples, "orders_cancelled", reason="invalid_order") == 1
    assert value(samples, "orders_duration_count", outcome="completed") == 1


async def test_activity_log_lines_are_json_with_workflow_activity_and_order_fields(
    observed: Observed,
) -> None:
    order_id = observed.completed.order_id
    [shipped] = [r for r in observed.worker.events("activity completed")
                 if r.get("activity_type") == "ship_order"]

    assert shipped["order_id"] == order_id
    assert shipped["workflow_id"] == f"order-{order_id}"
    assert shipped["workflow_type"] == "OrderWorkflow"
    assert shipped["task_queue"] == observed.queue
    assert shipped["attempt"] == 1
    assert shipped["run_id"] and shipped["activity_id"]
    assert shipped["level"] == "info" and shipped["timestamp"].endswith("Z")
    assert isinstance(shipped["duration_ms"], int)
    assert "temporal_activity" not in shipped  # flattened, not nested


async def test_a_refused_activity_logs_the_refusal_with_its_type(observed: Observed) -> None:
    [refusal] = [r for r in observed.worker.events("activity refused")
                 if r.get("order_id") == observed.refused.order_id]

    assert refusal["activity_type"] == "validate_order"
    assert refusal["error_type"] == "invalid_input"
    assert "NO-SUCH-SKU" in refusal["error"]
