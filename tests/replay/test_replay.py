"""Replay recorded histories against today's workflow code: a non-deterministic change fails here.

Re-record (only when a change is *meant* to alter new histories, after guarding the old path with
`workflow.patched`): ORDERS_RECORD_HISTORIES=1 pytest tests/workflows tests/webhooks
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.order import OrderWorkflow
from workflows.webhooks import WebhookDispatchWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_is_a_history_for_every_order_shape() -> None:
    names = {path.stem for path in HISTORIES}
    for shape in ("credit_order_ships", "prepaid_order_cancels", "prepaid_order_proceeds",
                  "manual_order_waits", "over_the_credit_limit", "rejected_order", "short_stock",
                  "editing_lines", "cancel_after_payment_and_shipment", "cancel_before_shipping",
                  "undecided_hold", "dispatcher-"):
        assert any(shape in name for name in names), f"no recorded history for {shape}"


@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_recorded_history_replays_without_nondeterminism(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=[OrderWorkflow, WebhookDispatchWorkflow],
                        data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
