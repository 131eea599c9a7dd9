"""Phase 3: RSS of one worker process holding open orders (SHIPPED, waiting for receipt).

The worker keeps the orders it runs in its sticky cache, up to `max_cached_workflows` (the SDK's
default is 1000; ORDERS_MAX_CACHED_WORKFLOWS). Past that, the least recently used are evicted and
replayed from history when they next get a task, so RSS should stop growing at the cache size.
Open orders are started without waiting (`start_workflow`); visibility counts the SHIPPED ones.
For scale, the bare workflow's worker is measured the same way with up to 300 open.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from bench.bare import BareWorkflow
from bench.drive import BareOrders, Driver, FullOrders, Kind
from bench.procs import Child
from bench.run import Run, target
from starter.settings import get_settings
from starter.temporal import workflow_id
from workflows import search_attributes as sa
from workflows.order import OrderWorkflow

QUEUE, BARE_QUEUE = "bench-memory", "bench-memory-bare"
SETTLE = 3.0  # seconds for the worker to finish bookkeeping before RSS is read
BARE_OPEN = 300  # enough for a slope; bare workflows are only the yardstick here
STALL = 180.0  # no new SHIPPED order for this long: something is wrong


async def in_parallel(count: int, concurrency: int, start: object) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with sem:
            await start()  # type: ignore[operator]

    await asyncio.gather(*(one() for _ in range(count)))


async def open_orders(run: Run, count: int, total: int) -> None:
    handles: list[WorkflowHandle[Any, Any]] = []

    async def start() -> None:
        data = run.catalog.order()
        handles.append(await run.client.start_workflow(
            OrderWorkflow.run, data, id=workflow_id(data.order_id), task_queue=QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL))

    await in_parallel(count, run.config.concurrency, start)
    query = f"TaskQueue = '{QUEUE}' AND OrderStatus = 'SHIPPED' AND ExecutionStatus = 'Running'"
    await wait_count(run.client, query, total)
    await confirm_shipped(handles, run.config.concurrency)


async def wait_count(client: Client, query: str, count: int) -> None:
    seen, since = -1, time.monotonic()
    while (shipped := (await client.count_workflows(query)).count) < count:
        if shipped != seen:
            seen, since = shipped, time.monotonic()
        elif time.monotonic() - since > STALL:
            raise TimeoutError(f"stuck at {shipped} of {count} SHIPPED orders")
        await asyncio.sleep(1.0)


async def confirm_shipped(handles: list[WorkflowHandle[Any, Any]], concurrency: int) -> None:
    """Visibility is eventually consistent; the server's record of each order (describe) decides."""
    sem = asyncio.Semaphore(concurrency)

    async def status(handle: WorkflowHandle[Any, Any]) -> str | None:
        async with sem:
            return (await handle.describe()).typed_search_attributes.get(sa.ORDER_STATUS)

    deadline = time.monotonic() + STALL
    while handles:
        statuses = await asyncio.gather(*(status(h) for h in handles))
        handles = [h for h, s in zip(handles, statuses, strict=True) if s != "SHIPPED"]
        if handles and time.monotonic() > deadline:
            raise TimeoutError(f"{len(handles)} orders not SHIPPED yet")
        await asyncio.sleep(1.0 if handles else 0)


async def open_bare(run: Run, count: int) -> None:
    async def start() -> None:
        await run.client.execute_update_with_start_workflow(BareWorkflow.shipped, start_workflow_operation=(
            BareOrders.operation(uuid.uuid4().hex, BARE_QUEUE)))

    await in_parallel(count, run.config.concurrency, start)


async def idle_rss(run: Run, worker: Child, kind: Kind) -> float:
    await Driver(kind).run(run.config.warmup, run.config.concurrency)
    await asyncio.sleep(SETTLE)
    return worker.rss()


async def worker_memory(run: Run) -> None:
    levels = run.config.memory_levels
    cache = getattr(get_settings(), "max_cached_workflows", 1000)
    run.say(f"phase 3: worker RSS with {', '.join(map(str, levels))} open orders "
            f"(sticky cache: max_cached_workflows={cache})")
    worker = run.worker(QUEUE)
    base = await idle_rss(run, worker, FullOrders(run.client, run.catalog, QUEUE))
    run.say(f"  0 open orders (after {run.config.warmup} completed): RSS {base:.0f} MiB")
    readings: list[tuple[int, float]] = []
    for level in levels:
        began = time.monotonic()
        await open_orders(run, level - (readings[-1][0] if readings else 0), level)
        await asyncio.sleep(SETTLE)
        readings.append((level, worker.rss()))
        grown = readings[-1][1] - base
        run.say(f"  {level} open orders: RSS {readings[-1][1]:.0f} MiB (+{grown:.0f} MiB, "
                f"{grown * 1000 / level:.1f} MiB per 1k open, {grown * 1000 / min(level, cache):.1f} "
                f"per 1k cached; {time.monotonic() - began:.0f}s to open them)")
    worker.stop()
    bare_worker = run.worker(BARE_QUEUE, bare=True)
    bare_base = await idle_rss(run, bare_worker, BareOrders(run.client, BARE_QUEUE))
    bare_open = min(levels[0], BARE_OPEN)
    await open_bare(run, bare_open)
    await asyncio.sleep(SETTLE)
    bare_per_k = (bare_worker.rss() - bare_base) * 1000 / min(bare_open, cache)
    run.say(f"  bare workflow, {bare_open} open: RSS {bare_base:.0f} → {bare_worker.rss():.0f} MiB "
            f"= {bare_per_k:.1f} MiB per 1k cached")
    bare_worker.stop()
    per_cached = [(rss - base) * 1000 / min(level, cache) for level, rss in readings]
    run.row("Worker RSS with " + " / ".join(str(level) for level, _ in readings) + " open orders",
            f"{base:.0f} MiB idle → " + " / ".join(f"{rss:.0f}" for _, rss in readings) + " MiB")
    run.row("Worker memory per 1k open orders (at each level)",
            " / ".join(f"{(rss - base) * 1000 / level:.0f}" for level, rss in readings) + " MiB")
    run.row(f"Worker memory per 1k cached orders (cache {cache}) · bare workflow",
            " / ".join(f"{x:.0f}" for x in per_cached) + f" MiB · bare {bare_per_k:.0f} MiB",
            target(max(per_cached) <= 60, "≤ 60 MiB per 1k open orders"))
    run.notes.append(f"Sticky cache: max_cached_workflows={cache} (SDK default 1000). Past it the worker "
                     "evicts the least recently used orders, so RSS stops growing with open orders; an "
                     "evicted order is rebuilt by replaying its history when it next gets a task.")
