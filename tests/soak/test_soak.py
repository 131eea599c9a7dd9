"""Soak: several clients send mixed traffic through the HTTP API, then everything must add up.

Run `pytest tests/soak -s` to see the summary; `ORDERS_SOAK_ORDERS=1000` (or `--soak-orders 1000`)
for the long run, `ORDERS_SOAK_SEED` to replay another plan (see tests/soak/conftest.py).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus

from starter.temporal import workflow_id
from tests.faults.invariants import (
    OrderHandle,
    assert_orders_settled,
    credit_problems,
    invoice_problems,
    money_problems,
    stock_problems,
)
from tests.soak.checks import (
    ANSWERED,
    REFUSED,
    Ledger,
    Outcomes,
    Warnings,
    answer_problems,
    history_problems,
    refusals_per_order,
)
from tests.soak.conftest import (
    DEFAULT_ORDERS,
    HOLD_TIMEOUT,
    PAYMENT_WINDOW,
    RECEIPT_AUTO_CONFIRM,
    SoakConfig,
)
from tests.soak.scenarios import plan, scenario_of
from tests.soak.traffic import COMMANDS, Cast, Catalog, Orders, Recorder
from workflows.order import OrderWorkflow

# After the traffic, the longest timer plus room for a loaded worker to catch up.
SETTLE_TIMEOUT = max(PAYMENT_WINDOW, RECEIPT_AUTO_CONFIRM, HOLD_TIMEOUT).total_seconds() * 2 + 30


async def test_mixed_traffic_leaves_ledgers_orders_and_histories_consistent(
    soak_api: httpx.AsyncClient, soak_sessions: sessionmaker[Session], soak_config: SoakConfig,
    client: Client,
) -> None:
    print(f"\nsoak: seed {soak_config.seed}, {soak_config.orders} orders, {soak_config.clients} clients")
    started = time.monotonic()
    api = Recorder(soak_api)
    cast = await Cast.hire(soak_api)
    catalog = await Catalog.create(api, cast.admin, soak_config.orders)
    orders = Orders(api, cast)
    with Warnings() as warnings:
        await traffic(orders, catalog, soak_config)
        traffic_done = time.monotonic()
        ids = list(orders.created)
        handles: list[OrderHandle] = [client.get_workflow_handle_for(OrderWorkflow.run, workflow_id(i))
                                      for i in ids]
        await until_closed(handles, SETTLE_TIMEOUT)
        await assert_orders_settled(handles, soak_sessions, timeout=30)
    settled = time.monotonic()

    problems = [*stock_problems(soak_sessions, catalog.skus), *money_problems(soak_sessions, ids),
                *invoice_problems(soak_sessions), *credit_problems(soak_sessions, catalog.customers)]
    views, histories = await read_back(handles, orders, api, soak_config.clients)
    ledger = Ledger.load(soak_sessions, ids)
    refused = refusals_per_order(api.answers)
    for oid in ids:
        problems += history_problems(views[oid], histories[oid], ledger, refused[oid])
    problems += answer_problems(api.answers)
    outcomes = Outcomes.of(views, histories)
    if soak_config.orders >= DEFAULT_ORDERS:
        problems += outcomes.coverage_problems()

    print(summary(orders, outcomes, api, warnings, {
        "traffic": traffic_done - started, "settling": settled - traffic_done,
        "checks": time.monotonic() - settled, "total": time.monotonic() - started}))
    assert not problems, f"{len(problems)} problems:\n  " + "\n  ".join(problems[:100])


async def traffic(orders: Orders, catalog: Catalog, config: SoakConfig) -> None:
    """`config.clients` clients take the seeded plan's scripts one after another until none is left."""
    rng = random.Random(config.seed)
    work = [(name, random.Random(rng.getrandbits(64))) for name in plan(rng, config.orders)]
    work.reverse()

    async def a_client() -> None:
        while work:
            name, script_rng = work.pop()
            await scenario_of(name)(orders, catalog, script_rng)

    await asyncio.gather(*(a_client() for _ in range(config.clients)))


async def until_closed(handles: list[OrderHandle], timeout: float) -> None:
    """Wait (bounded) until every order's workflow has closed: the timers finish whatever the
    clients left; assert_orders_settled then names any order still open."""
    deadline = time.monotonic() + timeout
    open_ = list(handles)
    while open_ and time.monotonic() < deadline:
        described = await asyncio.gather(*(h.describe() for h in open_))
        open_ = [h for h, d in zip(open_, described, strict=True)
                 if d.status == WorkflowExecutionStatus.RUNNING]
        if open_:
            await asyncio.sleep(0.5)


async def read_back(handles: list[OrderHandle], orders: Orders, api: Recorder, parallel: int,
                    ) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """Every order's final view (its workflow's result: a GET would replay each closed workflow)
    and its history through the API (those answers are checked like the rest)."""
    gate = asyncio.Semaphore(parallel)
    views: dict[str, dict[str, Any]] = {}
    histories: dict[str, list[dict[str, Any]]] = {}

    async def one(handle: OrderHandle) -> None:
        async with gate:
            view = (await handle.result()).model_dump(mode="json", by_alias=True)
            views[view["order_id"]] = view
            answer = await api.call("history", "GET", f"/orders/{view['order_id']}/history",
                                    orders.cast.admin, order_id=view["order_id"])
            histories[view["order_id"]] = answer.json() if answer.status_code == 200 else []

    await asyncio.gather(*(one(handle) for handle in handles))
    return views, histories


def summary(orders: Orders, outcomes: Outcomes, api: Recorder, warnings: Warnings,
            seconds: dict[str, float]) -> str:
    def line(counts: Counter[Any]) -> str:
        return ", ".join(f"{k} {n}" for k, n in counts.most_common()) or "none"

    commands = [a for a in api.answers if a.what in COMMANDS or a.what in ("create", "stock")]
    refused = Counter(a.status for a in commands if a.status in REFUSED)
    return "\n".join([
        f"  {len(orders.created)} orders on PostgreSQL; time: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()),
        f"  scripts: {line(Counter(orders.created.values()))}",
        f"  final status: {line(outcomes.final)}",
        f"  cancelled from: {line(outcomes.cancelled_from)}",
        f"  timers fired: {line(outcomes.fired)}",
        f"  commands: {len(commands)} sent, {sum(refused.values())} refused ({line(refused)}), "
        f"{sum(a.expect is not None and not a.expect & ANSWERED for a in api.answers)} probes; "
        f"{len(api.answers) - len(commands)} reads; scripts that gave up: {len(orders.gave_up)}",
        f"  SDK warnings: {line(warnings.seen)}",
    ])
