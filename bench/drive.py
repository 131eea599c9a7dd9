"""The client side: what a shop does with an order, for the full workflow and the bare one alike.

Each order: update-with-start `accepted` → wait until SHIPPED → `confirm_receipt` update → result.
Nothing in the order's API announces SHIPPED, so the driver polls the `view` query: it first sleeps
80% of the recent mean time-to-ship (so most orders need one or two queries), then polls every
100 ms. Both kinds are driven the same way and the polls per order are reported.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from bench.bare import BareWorkflow
from bench.seed import SHOP, Catalog
from starter.temporal import workflow_id
from workflows.models import ReceiptCommand
from workflows.order import OrderWorkflow

POLL = 0.1


class Kind(Protocol):
    name: str
    task_queue: str

    async def start(self) -> WorkflowHandle[Any, Any]: ...
    async def stage(self, handle: WorkflowHandle[Any, Any]) -> str: ...
    async def confirm(self, handle: WorkflowHandle[Any, Any]) -> None: ...


@dataclass
class FullOrders:
    client: Client
    catalog: Catalog
    task_queue: str
    fulfillment: str = "auto"
    name: str = "OrderWorkflow"

    async def start(self) -> WorkflowHandle[Any, Any]:
        data = self.catalog.order(self.fulfillment)
        op = WithStartWorkflowOperation(OrderWorkflow.run, data, id=workflow_id(data.order_id),
                                        task_queue=self.task_queue,
                                        id_conflict_policy=WorkflowIDConflictPolicy.FAIL)
        await self.client.execute_update_with_start_workflow(OrderWorkflow.accepted,
                                                             start_workflow_operation=op)
        return await op.workflow_handle()

    async def stage(self, handle: WorkflowHandle[Any, Any]) -> str:
        return str((await handle.query(OrderWorkflow.view)).status.value)

    async def confirm(self, handle: WorkflowHandle[Any, Any]) -> None:
        await handle.execute_update(OrderWorkflow.confirm_receipt,
                                    ReceiptCommand(actor=SHOP, signed_by="bench"))


@dataclass
class BareOrders:
    client: Client
    task_queue: str
    name: str = "bare workflow"

    @staticmethod
    def operation(order_id: str, task_queue: str) -> WithStartWorkflowOperation[Any, Any]:
        return WithStartWorkflowOperation(BareWorkflow.run, order_id, id=f"bare-{order_id}",
                                          task_queue=task_queue,
                                          id_conflict_policy=WorkflowIDConflictPolicy.FAIL)

    async def start(self) -> WorkflowHandle[Any, Any]:
        op = self.operation(uuid.uuid4().hex, self.task_queue)
        await self.client.execute_update_with_start_workflow(BareWorkflow.accepted,
                                                             start_workflow_operation=op)
        return await op.workflow_handle()

    async def stage(self, handle: WorkflowHandle[Any, Any]) -> str:
        return str(await handle.query(BareWorkflow.view))

    async def confirm(self, handle: WorkflowHandle[Any, Any]) -> None:
        await handle.execute_update(BareWorkflow.confirm_receipt)


@dataclass
class Batch:
    orders: int = 0
    seconds: float = 0.0
    polls: int = 0
    last: WorkflowHandle[Any, Any] | None = None
    durations: list[float] = field(default_factory=list)


class Driver:
    """Runs whole orders of one kind with a fixed number in flight."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self._to_ship = 0.3  # seconds from accepted to SHIPPED, a running mean

    async def wait_for(self, handle: WorkflowHandle[Any, Any], stage: str, first: float = 0.0) -> int:
        await asyncio.sleep(first)
        polls = 1
        while await self.kind.stage(handle) != stage:
            await asyncio.sleep(POLL)
            polls += 1
        return polls

    async def one(self, batch: Batch) -> None:
        began = time.monotonic()
        handle = await self.kind.start()
        accepted = time.monotonic()
        polls = await self.wait_for(handle, "SHIPPED", first=0.8 * self._to_ship)
        batch.polls += polls  # not `+= await`: that reads the sum before the await
        self._to_ship = 0.9 * self._to_ship + 0.1 * (time.monotonic() - accepted)
        await self.kind.confirm(handle)
        await handle.result()
        batch.orders += 1
        batch.durations.append(time.monotonic() - began)
        batch.last = handle

    async def run(self, orders: int | None, concurrency: int, stop: asyncio.Event | None = None) -> Batch:
        """`orders` whole orders (or until `stop` is set), `concurrency` of them in flight."""
        batch = Batch()
        left = [orders if orders is not None else -1]

        async def lane() -> None:
            while left[0] != 0 and not (stop and stop.is_set()):
                left[0] -= 1
                await self.one(batch)

        began = time.monotonic()
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(lane())
        batch.seconds = time.monotonic() - began
        return batch
