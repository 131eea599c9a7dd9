"""A worker killed with SIGKILL in the middle of a step, and PostgreSQL connections cut under load.

"In the middle" is made deterministic from outside: the test holds the product's row lock
(SELECT ... FOR UPDATE), so the ship or restock activity blocks inside its transaction after it has
written its first row; the worker is killed while it waits there. When the lock goes, the orphaned
transaction rolls back (its client is gone); Temporal times the attempt out (start-to-close, 30 s)
and a new worker runs the step again. Nothing may happen twice, nothing may be lost.

Both kill scenarios share one crash (the 30 s timeout dominates; paying it once keeps the suite fast).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from db.models import Return, Shipment, StockMovement
from tests.factories import FINANCE, MANAGER, SYSTEM, add_customer, add_product, order_input
from tests.faults.conftest import (
    Workers,
    bounded,
    eventually,
    finished,
    row_lock,
    running_activities,
    terminate_backends,
    worker_backends,
    worker_pool,
)
from tests.faults.invariants import OrderHandle, assert_ledgers_balance, assert_orders_settled
from tests.workflows.helpers import credit_used, payments, stock, wait_for_status
from workflows.models import CancelCommand, OrderInput, OrderView, PaymentCommand, ReceiptCommand
from workflows.order import OrderWorkflow
from workflows.rules import OrderStatus

# Start-to-close (30 s) + retry backoff + a new worker's first poll, with room to spare.
RECOVERY_TIMEOUT = 60.0


async def start(client: Client, workers: Workers, data: OrderInput) -> OrderHandle:
    return await client.start_workflow(OrderWorkflow.run, data, id=f"order-{data.order_id}",
                                       task_queue=workers.task_queue)


def movements(sessions: sessionmaker[Session], order_id: str) -> list[tuple[str, int]]:
    with sessions() as s:
        rows = s.execute(select(StockMovement.kind, StockMovement.delta)
                         .where(StockMovement.order_id == order_id).order_by(StockMovement.id))
        return [(kind, delta) for kind, delta in rows]


def count(sessions: sessionmaker[Session], model: type[Return] | type[Shipment], order_id: str) -> int:
    with sessions() as s:
        return len(s.scalars(select(model).where(model.order_id == order_id)).all())


async def attempts(handle: OrderHandle, activity: str) -> list[int]:
    """The attempt number each run of `activity` succeeded on, from the workflow's history."""
    history = await handle.fetch_history()
    names = {event.event_id: event.activity_task_scheduled_event_attributes.activity_type.name
             for event in history.events if event.HasField("activity_task_scheduled_event_attributes")}
    return [event.activity_task_started_event_attributes.attempt for event in history.events
            if event.HasField("activity_task_started_event_attributes")
            and names[event.activity_task_started_event_attributes.scheduled_event_id] == activity]


@dataclass
class Crash:
    """What the crash left behind: a cancelled order whose restock was cut off, and an order whose
    shipment was cut off, both finished by a second worker."""

    cancelled: OrderHandle
    cancelled_view: OrderView
    cancelled_sku: str
    shipped: OrderHandle
    shipped_view: OrderView
    shipped_sku: str
    customer: str


@pytest.fixture(scope="module")
async def crash(client: Client, temporal_env: WorkflowEnvironment, pg_url: str,
                pg_sessions: sessionmaker[Session], tmp_path_factory: pytest.TempPathFactory,
                ) -> AsyncIterator[Crash]:
    with worker_pool(temporal_env, pg_url, tmp_path_factory.mktemp("crash")) as workers:
        first = workers.start()
        customer = add_customer(pg_sessions)
        sku_a, sku_b = (add_product(pg_sessions, price="25.00", on_hand=10),
                        add_product(pg_sessions, price="40.00", on_hand=10))
        a = await start(client, workers, order_input(customer, {sku_a: 3}, terms="prepaid"))
        b = await start(client, workers, order_input(customer, {sku_b: 2}, terms="prepaid"))
        await wait_for_status(a, OrderStatus.AWAITING_PAYMENT)
        await bounded(a.execute_update(OrderWorkflow.pay, PaymentCommand(
            actor=FINANCE, amount=Decimal("75.00"), reference="BANK-A")), 20, "A's payment")
        await wait_for_status(a, OrderStatus.SHIPPED)
        await wait_for_status(b, OrderStatus.AWAITING_PAYMENT)

        with row_lock(pg_url, "products", "sku", sku_a) as lock_a, \
                row_lock(pg_url, "products", "sku", sku_b) as lock_b:
            # A: refund runs (no product row), then restock blocks on A's product.
            await bounded(a.execute_update(OrderWorkflow.cancel, CancelCommand(
                actor=MANAGER, reason="refused at the door")), 20, "A's cancel")
            # B: the capture runs, then the shipment blocks on B's product.
            await bounded(b.execute_update(OrderWorkflow.pay, PaymentCommand(
                actor=FINANCE, amount=Decimal("80.00"), reference="BANK-B")), 20, "B's payment")

            async def both_blocked() -> bool:
                blocked = await asyncio.to_thread(worker_backends, pg_url, workers.app_name,
                                                  waiting_on_lock=True)
                return (len(blocked) >= 2 and "restock_order" in await running_activities(a)
                        and "ship_order" in await running_activities(b))

            await eventually(both_blocked, 15, "restock of A and shipment of B blocked on the row locks")
            assert payments(pg_sessions, a.id.removeprefix("order-"))[-1][0] == "refund"
            workers.kill(first)
            lock_a.release()
            lock_b.release()

        workers.start()
        cancelled_view = await finished(a, RECOVERY_TIMEOUT)
        shipped_view = await wait_for_status(b, OrderStatus.SHIPPED, timeout=RECOVERY_TIMEOUT)
        yield Crash(a, cancelled_view, sku_a, b, shipped_view, sku_b, customer)


async def test_a_kill_during_restock_still_refunds_once_and_restocks_exactly(
    crash: Crash, pg_sessions: sessionmaker[Session],
) -> None:
    view = crash.cancelled_view
    assert await attempts(crash.cancelled, "restock_order") == [2], "the kill did not cut the restock"
    assert view.status == OrderStatus.CANCELLED
    assert view.compensation_pending == []
    assert not view.needs_attention
    assert payments(pg_sessions, view.order_id) == [
        ("capture", Decimal("75.00")), ("refund", Decimal("75.00"))]
    assert stock(pg_sessions, crash.cancelled_sku) == (10, 0)
    assert count(pg_sessions, Return, view.order_id) == 1
    assert view.return_ is not None and view.return_.lines[0].quantity == 3
    assert movements(pg_sessions, view.order_id) == [("ship", -3), ("restock", 3)]
    assert_ledgers_balance(pg_sessions, skus=[crash.cancelled_sku], order_ids=[view.order_id],
                           customer_ids=[crash.customer])
    await assert_orders_settled([crash.cancelled], pg_sessions)


async def test_a_kill_during_shipment_ships_once_and_takes_the_stock_once(
    crash: Crash, pg_sessions: sessionmaker[Session],
) -> None:
    view = crash.shipped_view
    assert await attempts(crash.shipped, "ship_order") == [2], "the kill did not cut the shipment"
    assert count(pg_sessions, Shipment, view.order_id) == 1
    with pg_sessions() as s:
        shipment = s.get_one(Shipment, view.order_id)
    assert view.shipment is not None and view.shipment.tracking_number == shipment.tracking_number
    assert stock(pg_sessions, crash.shipped_sku) == (8, 0)
    assert movements(pg_sessions, view.order_id) == [("ship", -2)]
    assert payments(pg_sessions, view.order_id) == [("capture", Decimal("80.00"))]
    assert_ledgers_balance(pg_sessions, skus=[crash.shipped_sku], order_ids=[view.order_id],
                           customer_ids=[crash.customer])
    await assert_orders_settled([crash.shipped], pg_sessions)


@contextlib.asynccontextmanager
async def connections_cut(url: str, app_name: str, every: float) -> AsyncIterator[list[int]]:
    """Terminate every PostgreSQL connection of the worker every `every` seconds, in the background;
    yields a list that collects how many were cut each time."""
    cuts: list[int] = []

    async def cut() -> None:
        while True:
            cuts.append(await asyncio.to_thread(terminate_backends, url, app_name))
            await asyncio.sleep(every)

    task = asyncio.create_task(cut())
    try:
        yield cuts
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_orders_reach_their_state_when_database_connections_are_cut_mid_activity(
    client: Client, workers: Workers, pg_url: str, pg_sessions: sessionmaker[Session],
) -> None:
    workers.start()
    customer = add_customer(pg_sessions, credit_limit="100000")
    skus = [add_product(pg_sessions, price="10.00", on_hand=50) for _ in range(2)]
    inputs = [order_input(customer, {skus[n % 2]: 1 + n % 3}) for n in range(10)]

    # Deterministic first cut: all ten reservations are waiting inside their transactions.
    with row_lock(pg_url, "products", "sku", skus[0]), row_lock(pg_url, "products", "sku", skus[1]):
        handles = [await start(client, workers, data) for data in inputs]

        async def all_blocked() -> list[int]:
            blocked = await asyncio.to_thread(worker_backends, pg_url, workers.app_name,
                                              waiting_on_lock=True)
            return blocked if len(blocked) == len(inputs) else []

        await eventually(all_blocked, 20, "ten reservations blocked on the product row locks")
        assert terminate_backends(pg_url, workers.app_name) >= len(inputs)

    # Then cut every connection every 300 ms while the orders ship, settle and cancel.
    completed, cancelled = handles[::2], handles[1::2]
    async with connections_cut(pg_url, workers.app_name, every=0.3) as cuts:
        for handle in handles:
            await wait_for_status(handle, OrderStatus.SHIPPED, timeout=30)
        await bounded(asyncio.gather(
            *(h.execute_update(OrderWorkflow.confirm_receipt, ReceiptCommand(actor=SYSTEM))
              for h in completed),
            *(h.execute_update(OrderWorkflow.cancel, CancelCommand(actor=MANAGER, reason="lost parcel"))
              for h in cancelled)), 30, "the receipts and cancels")
        await asyncio.sleep(1.0)  # settlements and compensations run under the cuts
    assert sum(cuts) > 0, "no connection was cut while the orders ran"

    finals = await asyncio.gather(*(finished(h, 45) for h in handles))
    by_id = {view.order_id: view for view in finals}
    taken = dict.fromkeys(skus, 0)
    for data in inputs:
        view = by_id[data.order_id]
        line = data.order.lines[0]
        if view.status == OrderStatus.COMPLETED:
            taken[line.sku] += line.quantity
            assert view.invoice is not None and view.invoice.amount == view.total
            assert payments(pg_sessions, view.order_id) == [("capture", view.total)]
            assert movements(pg_sessions, view.order_id) == [("ship", -line.quantity)]
        else:
            assert view.status == OrderStatus.CANCELLED, view
            assert view.return_ is not None and view.invoice is None
            assert payments(pg_sessions, view.order_id) == []
            assert movements(pg_sessions, view.order_id) == [("ship", -line.quantity),
                                                               ("restock", line.quantity)]
    assert sorted(v.order_id for v in finals if v.status == OrderStatus.COMPLETED) == sorted(
        h.id.removeprefix("order-") for h in completed)
    assert {sku: stock(pg_sessions, sku) for sku in skus} == {sku: (50 - taken[sku], 0) for sku in skus}
    assert credit_used(pg_sessions, customer) == Decimal("0.00")
    assert_ledgers_balance(pg_sessions, skus=skus, order_ids=list(by_id), customer_ids=[customer])
    await assert_orders_settled(handles, pg_sessions)
