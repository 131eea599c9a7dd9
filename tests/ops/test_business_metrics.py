"""The business counters of `workflows/metrics.py`: low-cardinality codes, recorded once per order
even though a worker without a cache replays the workflow's code on every task."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.ops.conftest import free_port
from tests.ops.probe import MetricsProbe
from tests.ops.prometheus import scrape, value
from workflows.metrics import cancel_reason_code, hold_reason_codes


def test_cancel_reasons_are_reduced_to_codes() -> None:
    assert cancel_reason_code("payment_timeout") == "payment_timeout"
    assert cancel_reason_code("hold_timeout") == "hold_timeout"
    assert cancel_reason_code("rejected: total too high") == "rejected"
    assert cancel_reason_code("invalid_order: lines[0].sku: unknown sku X") == "invalid_order"
    assert cancel_reason_code("the customer changed their mind") == "manual"
    assert cancel_reason_code(None) == "manual"


def test_hold_reasons_are_reduced_to_codes() -> None:
    assert hold_reason_codes("over_credit_limit, above_approval_threshold") == [
        "over_credit_limit", "above_approval_threshold"]
    assert hold_reason_codes("insufficient_stock: A (1 available), B (0 available)") == [
        "insufficient_stock"]
    assert hold_reason_codes("manual_hold: waiting for the customer") == ["manual_hold"]
    assert hold_reason_codes("something new") == ["other"]


async def test_counters_are_recorded_once_per_order_despite_replays(
    temporal_env: WorkflowEnvironment,
) -> None:
    port, queue = free_port(), f"metrics-probe-{uuid.uuid4().hex[:8]}"
    runtime = Runtime(telemetry=TelemetryConfig(
        metrics=PrometheusConfig(bind_address=f"127.0.0.1:{port}")))
    client = await Client.connect(temporal_env.client.service_client.config.target_host,
                                  namespace=temporal_env.client.namespace, runtime=runtime)
    # No sticky cache: every workflow task replays the history from the start.
    async with Worker(client, task_queue=queue, workflows=[MetricsProbe], max_cached_workflows=0):
        outcomes = ["completed", "rejected: total too high", "the customer changed their mind"]
        await asyncio.wait_for(asyncio.gather(*(
            client.execute_workflow(MetricsProbe.run, outcome, id=f"probe-{uuid.uuid4()}",
                                    task_queue=queue)
            for outcome in outcomes)), 30)

        samples = await scrape(f"http://127.0.0.1:{port}/metrics", queue,
                               lambda s: value(s, "orders_duration_count") >= 3)

    assert value(samples, "orders_started", workflow_type="MetricsProbe") == 3
    assert value(samples, "orders_held", reason="over_credit_limit") == 3
    assert value(samples, "orders_held", reason="above_approval_threshold") == 3
    assert value(samples, "orders_held", reason="insufficient_stock") == 3
    assert value(samples, "orders_completed") == 1
    assert value(samples, "orders_cancelled", reason="rejected") == 1
    assert value(samples, "orders_cancelled", reason="manual") == 1
    assert value(samples, "orders_compensation_failed", step="refund") == 2
    assert value(samples, "orders_duration_count", outcome="completed") == 1
    assert value(samples, "orders_duration_count", outcome="cancelled") == 2
