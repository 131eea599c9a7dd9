"""Phase 2: round trip of a cheap update on manual-fulfilment orders waiting in PROCESSING, first
with the system idle, then while whole orders run at the benchmark's concurrency on the same worker.

The update is `change_status` PROCESSING → PROCESSING with a sub-status label; if the workflow
refuses that, `edit` of the notes (both run no activity before answering). The table says which.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from bench.drive import Driver, FullOrders
from bench.measure import percentile
from bench.run import Run, target
from bench.seed import MANAGER, WAREHOUSE
from workflows.models import EditCommand, StatusCommand
from workflows.order import OrderWorkflow
from workflows.rules import OrderStatus

LABELS = ("PACKED", "IN_PRODUCTION")  # alternate, so that every update really changes the order
RAMP = 3.0  # seconds for the load to reach its steady state before timing


async def sub_status(handle: WorkflowHandle[Any, Any], i: int) -> None:
    await handle.execute_update(OrderWorkflow.change_status, StatusCommand(
        actor=WAREHOUSE, status=OrderStatus.PROCESSING, sub_status=LABELS[i % 2]))


async def notes(handle: WorkflowHandle[Any, Any], i: int) -> None:
    await handle.execute_update(OrderWorkflow.edit, EditCommand(
        actor=MANAGER, notes=f"bench note {i}", reason="benchmark"))


UPDATES = {"change_status (sub-status label)": sub_status, "edit (notes)": notes}


async def choose(run: Run, handle: WorkflowHandle[Any, Any]) -> Any:
    for name, update in UPDATES.items():
        try:
            await update(handle, 0)
            return name, update
        except WorkflowUpdateFailedError as refused:
            run.say(f"  {name} refused ({refused.cause}); trying the next update")
            run.notes.append(f"The workflow refused `{name}` on a PROCESSING order: {refused.cause}.")
    raise RuntimeError("no cheap update is accepted by a PROCESSING order")


async def time_updates(update: Any, handles: list[WorkflowHandle[Any, Any]], samples: int,
                       seconds: float = float("inf")) -> list[float]:
    """One update at a time, round-robin over the orders, for `samples` updates or `seconds`;
    milliseconds each."""
    times: list[float] = []
    deadline = time.monotonic() + seconds
    for i in range(samples):
        if time.monotonic() > deadline:
            break
        began = time.perf_counter()
        await update(handles[i % len(handles)], i // len(handles) + 1)
        times.append(1000 * (time.perf_counter() - began))
    return times


def show(times: list[float]) -> str:
    return f"p50 {percentile(times, 50):.0f} ms · p99 {percentile(times, 99):.0f} ms (n={len(times)})"


async def update_latency(run: Run) -> None:
    c = run.config
    run.say(f"phase 2: update round trip, {c.samples} updates idle and {c.samples} (or "
            f"{c.load_seconds:.0f}s) under load ({c.concurrency} whole orders in flight)")
    worker = run.worker("bench-latency")
    manual = Driver(FullOrders(run.client, run.catalog, "bench-latency", fulfillment="manual"))
    handles = await asyncio.gather(*(manual.kind.start() for _ in range(c.manual_orders)))
    await asyncio.gather(*(manual.wait_for(h, "PROCESSING") for h in handles))
    name, update = await choose(run, handles[0])
    await time_updates(update, handles, len(handles))  # warm-up: one each
    idle = await time_updates(update, handles, c.samples)
    run.say(f"  idle: {show(idle)}")
    stop = asyncio.Event()
    full = Driver(FullOrders(run.client, run.catalog, "bench-latency"))
    load = asyncio.create_task(full.run(None, c.concurrency, stop))
    try:
        await asyncio.sleep(RAMP)
        busy = await time_updates(update, handles, c.samples, c.load_seconds)
    except BaseException:  # failed or interrupted: the load goes too, quietly
        load.cancel()
        await asyncio.gather(load, return_exceptions=True)
        raise
    stop.set()
    batch = await load
    rate = batch.orders / batch.seconds
    run.say(f"  under load: {show(busy)} (the load ran {rate:.2f} orders/s)")
    worker.stop()
    run.row(f"Update round trip ({name}), idle", show(idle),
            target(percentile(idle, 99) <= 150, "p99 ≤ 150 ms"))
    run.row(f"Update round trip ({name}), under load", f"{show(busy)} (load: {rate:.2f} orders/s)")
