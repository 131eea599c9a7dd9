"""Log lines carry the Temporal fields flat (workflow_id, run_id, activity_type, …) plus `order_id`,
also from inside the workflow sandbox, as JSON or on the console."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import structlog
from temporalio.client import Client
from temporalio.worker import Worker

from starter.logs import add_temporal_fields, configure_logging
from tests.ops.probe import LogProbe


def flatten(**event: Any) -> dict[str, Any]:
    return dict(add_temporal_fields(None, "info", event))


def test_activity_details_become_fields_with_the_order_id() -> None:
    event = flatten(event="activity completed", temporal_activity={
        "activity_id": "6", "activity_type": "ship_order", "attempt": 2, "namespace": "default",
        "task_queue": "orders", "workflow_id": "order-O-1", "workflow_run_id": "r1",
        "workflow_type": "OrderWorkflow"})

    assert event == {"event": "activity completed", "activity_id": "6", "activity_type": "ship_order",
                     "attempt": 2, "namespace": "default", "task_queue": "orders",
                     "workflow_id": "order-O-1", "run_id": "r1", "workflow_type": "OrderWorkflow",
                     "order_id": "O-1"}


def test_workflow_and_update_details_become_fields() -> None:
    event = flatten(event="x", temporal_workflow={
        "attempt": 1, "namespace": "default", "run_id": "r1", "task_queue": "orders",
        "workflow_id": "order-O-2", "workflow_type": "OrderWorkflow", "update_id": "u1",
        "update_name": "cancel"})

    assert event["workflow_id"] == "order-O-2" and event["order_id"] == "O-2"
    assert (event["update_name"], event["update_id"], event["run_id"]) == ("cancel", "u1", "r1")
    assert "attempt" not in event  # a workflow's own attempt is not an activity attempt


def test_other_workflows_get_no_order_id_and_a_callers_field_wins() -> None:
    event = flatten(event="x", order_id="mine",
                    temporal_workflow={"workflow_id": "webhook-dispatcher", "run_id": "r"})
    assert event["order_id"] == "mine"
    assert "order_id" not in flatten(event="x", temporal_workflow={"workflow_id": "webhook-dispatcher"})


@contextmanager
def logging_into(buffer: io.StringIO, *, json: bool) -> Iterator[None]:
    """configure_logging() into a buffer for a while, then the root logger as pytest had it."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("INFO", json=json, stream=buffer)
    try:
        yield
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        structlog.reset_defaults()


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    with logging_into(buffer, json=True):
        yield buffer


async def test_workflow_logger_lines_are_json_with_workflow_and_update_fields(
    client: Client, json_logs: io.StringIO,
) -> None:
    queue, order_id = f"log-probe-{uuid.uuid4().hex[:8]}", f"P-{uuid.uuid4().hex[:6]}"
    async with Worker(client, task_queue=queue, workflows=[LogProbe]):
        handle = await client.start_workflow(LogProbe.run, id=f"order-{order_id}", task_queue=queue)
        await handle.execute_update(LogProbe.finish)
        await handle.result()

    lines = [json.loads(line) for line in json_logs.getvalue().splitlines() if line.startswith("{")]
    [waiting] = [line for line in lines if line["event"] == "probe waiting"]
    [finishing] = [line for line in lines if line["event"] == "probe finishing"]
    assert waiting["order_id"] == finishing["order_id"] == order_id
    assert waiting["workflow_type"] == "LogProbe" and waiting["run_id"] == handle.result_run_id
    assert waiting["waiting_for"] == "an update"  # the caller's extra fields stay
    assert finishing["update_name"] == "finish" and finishing["update_id"]
    assert waiting["logger"] == "temporalio.workflow" and waiting["level"] == "info"


def test_the_console_renderer_shows_the_same_fields_as_key_values() -> None:
    buffer = io.StringIO()
    with logging_into(buffer, json=False):
        logging.getLogger("temporalio.activity").info("activity completed", extra={
            "temporal_activity": {"activity_type": "ship_order", "workflow_id": "order-O-9"}})

    line = buffer.getvalue()
    assert "activity completed" in line and not line.startswith("{")
    assert "order_id=O-9" in line and "activity_type=ship_order" in line
    assert "\x1b[" not in line  # no colour codes when the output is not a terminal
