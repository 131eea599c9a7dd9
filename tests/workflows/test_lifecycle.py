"""The order lifecycle end to end on a real dev server and a real SQLite database."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from tests.factories import FINANCE, SALES, SYSTEM, WAREHOUSE, add_customer, add_product, uid
from tests.workflows.conftest import StartOrder
from tests.workflows.helpers import (
    credit_holds,
    credit_used,
    invoice_of,
    open_reservations,
    payments,
    stock,
    wait_for_status,
)
from workflows import errors
from workflows.models import PaymentCommand, ReceiptCommand, StatusCommand
from workflows.order import OrderWorkflow
from workflows.rules import OrderStatus


async def test_credit_order_ships_automatically_and_completes_on_receipt(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions, credit_limit="1000")
    sku = add_product(sqlite_sessions, price="12.50", on_hand=10)
    handle = await start_order(customer, {sku: 4})

    shipped = await wait_for_status(handle, OrderStatus.SHIPPED)
    assert shipped.total == Decimal("50.00")
    assert shipped.shipment is not None and shipped.shipment.tracking_number.startswith("LC")
    assert stock(sqlite_sessions, sku) == (6, 0)
    assert credit_used(sqlite_sessions, customer) == Decimal("50.00")

    await handle.execute_update(OrderWorkflow.confirm_receipt, ReceiptCommand(actor=SYSTEM))
    final = await handle.result()

    assert final.status == OrderStatus.COMPLETED
    assert final.invoice is not None and final.invoice.amount == Decimal("50.00")
    assert payments(sqlite_sessions, final.order_id) == [("capture", Decimal("50.00"))]
    assert credit_used(sqlite_sessions, customer) == Decimal("0.00")
    assert credit_holds(sqlite_sessions, final.order_id) == 0
    assert open_reservations(sqlite_sessions, final.order_id) == 0
    invoice = invoice_of(sqlite_sessions, final.order_id)
    assert invoice is not None and invoice.number == final.invoice.number


async def test_prepaid_order_cancels_itself_when_the_payment_window_passes(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions)
    sku = add_product(sqlite_sessions, on_hand=5)
    handle = await start_order(customer, {sku: 2}, terms="prepaid",
                               payment_window=timedelta(seconds=2))

    waiting = await wait_for_status(handle, OrderStatus.AWAITING_PAYMENT)
    assert stock(sqlite_sessions, sku) == (5, 2)
    assert waiting.waiting_for is not None and "payment" in waiting.waiting_for

    final = await handle.result()
    assert final.status == OrderStatus.CANCELLED
    assert final.cancel_reason == "payment_timeout"
    assert stock(sqlite_sessions, sku) == (5, 0)
    assert open_reservations(sqlite_sessions, final.order_id) == 0
    assert payments(sqlite_sessions, final.order_id) == []


async def test_prepaid_order_proceeds_once_paid_and_is_captured_once(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions)
    sku = add_product(sqlite_sessions, price="19.99", on_hand=5)
    handle = await start_order(customer, {sku: 3}, terms="prepaid")
    await wait_for_status(handle, OrderStatus.AWAITING_PAYMENT)

    view = await handle.execute_update(
        OrderWorkflow.pay, PaymentCommand(actor=FINANCE, amount=Decimal("59.97"), reference="PAY-1"))
    assert [p.kind for p in view.payments] == ["capture"]
    await wait_for_status(handle, OrderStatus.SHIPPED)
    await handle.execute_update(OrderWorkflow.confirm_receipt, ReceiptCommand(actor=SALES))
    final = await handle.result()

    assert final.status == OrderStatus.COMPLETED
    assert payments(sqlite_sessions, final.order_id) == [("capture", Decimal("59.97"))]


async def test_manual_order_waits_in_processing_until_the_warehouse_ships_it(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions)
    sku = add_product(sqlite_sessions, on_hand=5)
    handle = await start_order(customer, {sku: 1}, fulfillment="manual")

    waiting = await wait_for_status(handle, OrderStatus.PROCESSING)
    assert waiting.shipment is None
    assert stock(sqlite_sessions, sku) == (5, 1)

    tracking = uid("SF")  # tracking numbers are unique across orders
    shipped = await handle.execute_update(OrderWorkflow.change_status, StatusCommand(
        actor=WAREHOUSE, status=OrderStatus.SHIPPED, carrier="SF", tracking_number=tracking))
    assert shipped.status == OrderStatus.SHIPPED
    assert shipped.shipment is not None and shipped.shipment.tracking_number == tracking
    assert stock(sqlite_sessions, sku) == (4, 0)


async def test_receipt_is_confirmed_automatically_after_the_configured_period(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions)
    sku = add_product(sqlite_sessions, on_hand=5)
    handle = await start_order(customer, {sku: 1}, receipt_auto_confirm=timedelta(seconds=1))

    final = await handle.result()
    assert final.status == OrderStatus.COMPLETED
    history = [event async for event in handle.fetch_history_events()]
    assert any(event.HasField("timer_fired_event_attributes") for event in history)


async def test_order_status_search_attribute_follows_the_order(
    client: Client, start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions)
    sku = add_product(sqlite_sessions, on_hand=5)
    handle = await start_order(customer, {sku: 1}, fulfillment="manual")
    await wait_for_status(handle, OrderStatus.PROCESSING)

    description = await handle.describe()
    attributes = description.typed_search_attributes
    from workflows import search_attributes as sa
    assert attributes.get(sa.ORDER_STATUS) == "PROCESSING"
    assert attributes.get(sa.CUSTOMER_ID) == customer
    assert attributes.get(sa.ORDER_OWNER) == SALES.id


async def test_a_tracking_number_of_another_order_is_refused_and_the_order_stays_processing(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions)
    sku = add_product(sqlite_sessions, on_hand=5)
    first = await start_order(customer, {sku: 1}, fulfillment="manual")
    second = await start_order(customer, {sku: 1}, fulfillment="manual")
    await wait_for_status(first, OrderStatus.PROCESSING)
    await wait_for_status(second, OrderStatus.PROCESSING)
    tracking = f"SF-{second.id}"
    await first.execute_update(OrderWorkflow.change_status, StatusCommand(
        actor=WAREHOUSE, status=OrderStatus.SHIPPED, tracking_number=tracking))

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await second.execute_update(OrderWorkflow.change_status, StatusCommand(
            actor=WAREHOUSE, status=OrderStatus.SHIPPED, tracking_number=tracking))
    assert isinstance(refused.value.cause, ApplicationError)
    assert refused.value.cause.type == errors.INVALID_INPUT
    assert (await second.query(OrderWorkflow.view)).status == OrderStatus.PROCESSING
    assert stock(sqlite_sessions, sku) == (4, 1)
