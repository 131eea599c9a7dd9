"""A cancel racing with the shipment or with settlement has one defined outcome.

- Settlement wins: once settle has started, a cancel is refused (`not_allowed`, rules.cancel_refusal),
  so an invoice is never issued for a voided order.
- Cancel wins over a shipment in flight: the cancel is accepted, the shipment finishes, and the
  compensation restocks it with a return record.

"In flight" is made deterministic by blocking the activity's transaction from outside: on SQLite a
second connection holding BEGIN IMMEDIATE stops every writer (held for a second at most, and the
test reads nothing from SQLite meanwhile); on PostgreSQL a row lock on the product stops only the
steps that touch stock.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.carrier import LocalCarrier
from activities.models import ShipInput, StockLine
from activities.orders import OrderActivities
from db.migrate import upgrade
from db.models import AuditEvent, Return, Shipment
from db.session import make_engine, make_sessionmaker
from tests.factories import (
    ADDRESS,
    FINANCE,
    MANAGER,
    SALES,
    SYSTEM,
    WAREHOUSE,
    add_customer,
    add_product,
    order_input,
    uid,
)
from tests.faults.conftest import bounded, eventually, finished, row_lock, running_activities
from tests.faults.invariants import OrderHandle, assert_ledgers_balance
from tests.workflows.conftest import StartOrder
from tests.workflows.helpers import (
    credit_used,
    invoice_of,
    open_reservations,
    payments,
    stock,
    wait_for_status,
)
from worker import build_worker
from workflows import errors
from workflows.activity_options import BUSINESS_ERRORS
from workflows.models import CancelCommand, OrderView, PaymentCommand, ReceiptCommand, StatusCommand
from workflows.order import OrderWorkflow
from workflows.rules import OrderStatus


@contextmanager
def sqlite_writers_blocked(sqlite_url: str) -> Iterator[None]:
    """Hold SQLite's write lock from a second connection: every activity blocks at its BEGIN."""
    connection = sqlite3.connect(make_url(sqlite_url).database or "", isolation_level=None, timeout=5)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


async def until_running(handle: OrderHandle, activity: str) -> None:
    async def started() -> bool:
        return activity in await running_activities(handle)

    await eventually(started, 10, f"{activity} to be running")


def returns(sessions: sessionmaker[Session], order_id: str) -> int:
    with sessions() as s:
        return len(s.scalars(select(Return).where(Return.order_id == order_id)).all())


def refused_audit(sessions: sessionmaker[Session], order_id: str) -> list[tuple[str, str | None]]:
    with sessions() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.order_id == order_id,
                                                  AuditEvent.accepted.is_(False)))
        return [(event.action, event.reason) for event in rows]


async def test_a_cancel_during_settlement_is_refused_and_the_order_completes(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session], sqlite_url: str,
) -> None:
    customer = add_customer(sqlite_sessions)
    sku = add_product(sqlite_sessions, price="20.00", on_hand=5)
    handle = await start_order(customer, {sku: 2})
    await wait_for_status(handle, OrderStatus.SHIPPED)

    with sqlite_writers_blocked(sqlite_url):
        delivered = await bounded(handle.execute_update(
            OrderWorkflow.confirm_receipt, ReceiptCommand(actor=SYSTEM)), 20, "the receipt update")
        assert delivered.status == OrderStatus.DELIVERED
        await until_running(handle, "settle_order")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await bounded(handle.execute_update(
                OrderWorkflow.cancel, CancelCommand(actor=MANAGER, reason="too late")), 20, "the cancel")
        await handle.signal(OrderWorkflow.cancel_async, CancelCommand(actor=MANAGER, reason="again"))

    assert isinstance(refused.value.cause, ApplicationError)
    assert refused.value.cause.type == errors.NOT_ALLOWED
    assert "being settled" in refused.value.cause.message
    final = await finished(handle)
    assert final.status == OrderStatus.COMPLETED
    assert final.cancel_reason is None and final.return_ is None
    invoice = invoice_of(sqlite_sessions, final.order_id)
    assert invoice is not None and invoice.amount == Decimal("40.00")
    assert payments(sqlite_sessions, final.order_id) == [("capture", Decimal("40.00"))]
    assert stock(sqlite_sessions, sku) == (3, 0)
    assert returns(sqlite_sessions, final.order_id) == 0
    assert [action for action, _ in refused_audit(sqlite_sessions, final.order_id)] == ["cancel"]
    assert_ledgers_balance(sqlite_sessions, skus=[sku], order_ids=[final.order_id],
                           customer_ids=[customer])


async def test_a_cancel_accepted_while_a_manual_shipment_is_booked_restocks_with_a_return(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session], sqlite_url: str,
) -> None:
    customer = add_customer(sqlite_sessions)
    sku = add_product(sqlite_sessions, price="15.00", on_hand=5)
    handle = await start_order(customer, {sku: 3}, fulfillment="manual")
    await wait_for_status(handle, OrderStatus.PROCESSING)

    tracking = uid("SF")
    with sqlite_writers_blocked(sqlite_url):
        await handle.signal(OrderWorkflow.change_status_async, StatusCommand(
            actor=WAREHOUSE, status=OrderStatus.SHIPPED, carrier="SF", tracking_number=tracking))
        await until_running(handle, "ship_order")
        accepted = await bounded(handle.execute_update(
            OrderWorkflow.cancel, CancelCommand(actor=SALES, reason="customer called")), 20, "the cancel")
        assert accepted.status == OrderStatus.CANCELLED

    final = await finished(handle)
    assert_cancelled_after_shipping(final, sqlite_sessions, sku, on_hand=5)
    assert final.shipment is not None and final.shipment.tracking_number == tracking
    assert credit_used(sqlite_sessions, customer) == Decimal("0.00")
    # The shipment that lost the race never moved the order to SHIPPED.
    assert OrderStatus.SHIPPED not in statuses_seen(sqlite_sessions, final.order_id)
    assert_ledgers_balance(sqlite_sessions, skus=[sku], order_ids=[final.order_id],
                           customer_ids=[customer])


def assert_cancelled_after_shipping(final: OrderView, sessions: sessionmaker[Session], sku: str,
                                    on_hand: int) -> None:
    assert final.status == OrderStatus.CANCELLED
    assert final.compensation_pending == []
    assert final.shipment is not None
    assert final.return_ is not None and final.return_.lines[0].quantity > 0
    assert returns(sessions, final.order_id) == 1
    with sessions() as s:
        assert s.get(Shipment, final.order_id) is not None
    assert stock(sessions, sku) == (on_hand, 0)
    assert open_reservations(sessions, final.order_id) == 0


def statuses_seen(sessions: sessionmaker[Session], order_id: str) -> set[str | None]:
    """Every status the audit trail says the order moved to."""
    with sessions() as s:
        return set(s.scalars(select(AuditEvent.to_status).where(AuditEvent.order_id == order_id)))


# --- the automatic shipment, blocked by a PostgreSQL row lock on the product ---------------------


@pytest.fixture(scope="module")
def pg_sessions(pg_database: str) -> sessionmaker[Session]:
    upgrade(pg_database)
    return make_sessionmaker(make_engine(pg_database))


@pytest.fixture
async def pg_queue(client: Client, pg_sessions: sessionmaker[Session]) -> AsyncIterator[str]:
    queue = f"orders-races-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, pg_sessions, queue):
        yield queue


async def test_a_cancel_accepted_while_the_automatic_shipment_runs_refunds_and_restocks(
    client: Client, pg_queue: str, pg_sessions: sessionmaker[Session], pg_database: str,
) -> None:
    customer = add_customer(pg_sessions)
    sku = add_product(pg_sessions, price="30.00", on_hand=4)
    data = order_input(customer, {sku: 2}, terms="prepaid")
    handle = await client.start_workflow(OrderWorkflow.run, data, id=f"order-{data.order_id}",
                                         task_queue=pg_queue)
    await wait_for_status(handle, OrderStatus.AWAITING_PAYMENT)

    with row_lock(pg_database, "products", "sku", sku):
        await bounded(handle.execute_update(OrderWorkflow.pay, PaymentCommand(
            actor=FINANCE, amount=Decimal("60.00"), reference="BANK-1")), 20, "the payment")
        await until_running(handle, "ship_order")
        accepted = await bounded(handle.execute_update(
            OrderWorkflow.cancel, CancelCommand(actor=MANAGER, reason="fraud suspected")), 20, "the cancel")
        assert accepted.status == OrderStatus.CANCELLED

    final = await finished(handle)
    assert_cancelled_after_shipping(final, pg_sessions, sku, on_hand=4)
    assert payments(pg_sessions, final.order_id) == [
        ("capture", Decimal("60.00")), ("refund", Decimal("60.00"))]
    assert invoice_of(pg_sessions, final.order_id) is None
    assert_ledgers_balance(pg_sessions, skus=[sku], order_ids=[final.order_id], customer_ids=[customer])


# --- no lock at all: a receipt, then a cancel after a short lag ---------------------------------


# From "at the same moment" to "well after settlement began": both outcomes show up across the lags.
LAGS = (0.0, 0.005, 0.02, 0.05, 0.2)


async def test_a_receipt_and_a_cancel_racing_it_end_in_exactly_one_coherent_outcome(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions)
    sku = add_product(sqlite_sessions, price="10.00", on_hand=20)
    handles = [await start_order(customer, {sku: 1}) for _ in LAGS]
    for handle in handles:
        await wait_for_status(handle, OrderStatus.SHIPPED)

    async def race(handle: OrderHandle, lag: float) -> bool:
        """Receipt, then a cancel `lag` seconds later; True when the cancel was accepted."""

        async def cancel() -> OrderView:
            await asyncio.sleep(lag)
            return await bounded(handle.execute_update(
                OrderWorkflow.cancel, CancelCommand(actor=MANAGER, reason="race")), 20, "the cancel")

        receipt = handle.signal(OrderWorkflow.confirm_receipt_async, ReceiptCommand(actor=SYSTEM))
        _, outcome = await asyncio.gather(receipt, cancel(), return_exceptions=True)
        if isinstance(outcome, WorkflowUpdateFailedError):
            assert isinstance(outcome.cause, ApplicationError), outcome
            assert outcome.cause.type == errors.NOT_ALLOWED, outcome.cause
            return False
        if isinstance(outcome, RPCError):  # the order completed while the cancel was on its way
            assert "closing workflow" in outcome.message, outcome
            return False
        assert isinstance(outcome, OrderView), outcome
        return True

    accepted = await asyncio.gather(*(race(handle, lag) for handle, lag in zip(handles, LAGS, strict=True)))
    finals = await asyncio.gather(*(finished(handle) for handle in handles))
    for was_accepted, final in zip(accepted, finals, strict=True):
        invoice = invoice_of(sqlite_sessions, final.order_id)
        if was_accepted:
            assert final.status == OrderStatus.CANCELLED and invoice is None
            assert payments(sqlite_sessions, final.order_id) == []
            assert returns(sqlite_sessions, final.order_id) == 1
        else:
            assert final.status == OrderStatus.COMPLETED and invoice is not None
            assert payments(sqlite_sessions, final.order_id) == [("capture", Decimal("10.00"))]
            assert returns(sqlite_sessions, final.order_id) == 0
    assert stock(sqlite_sessions, sku) == (20 - accepted.count(False), 0)
    assert credit_used(sqlite_sessions, customer) == Decimal("0.00")
    assert_ledgers_balance(sqlite_sessions, skus=[sku], order_ids=[f.order_id for f in finals],
                           customer_ids=[customer])


# --- found while writing these tests -------------------------------------------------------------


def test_a_tracking_number_already_used_by_another_order_is_refused_not_retried_forever(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    sku, tracking = add_product(sqlite_sessions, on_hand=5), uid("SF")
    acts = OrderActivities(sqlite_sessions, LocalCarrier())

    def ship(order_id: str) -> None:
        acts.ship_order(ShipInput(order_id=order_id, lines=[StockLine(sku=sku, quantity=1)],
                                  shipping_address=ADDRESS, carrier="SF", tracking_number=tracking))

    ship(uid("O"))
    with pytest.raises(ApplicationError) as refused:
        ship(uid("O"))
    assert refused.value.type in BUSINESS_ERRORS
