"""Cancelling (voiding) an order: reason required, irreversible, compensations run exactly once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from db.models import AuditEvent, Return
from tests.factories import FINANCE, MANAGER, SALES, SYSTEM, Actor, add_customer, add_product
from tests.workflows.conftest import StartOrder
from tests.workflows.helpers import credit_used, open_reservations, payments, stock, wait_for_status
from workflows import errors
from workflows.models import CancelCommand, PaymentCommand, ReceiptCommand
from workflows.order import OrderWorkflow
from workflows.rules import OrderStatus, Role


async def test_cancel_before_shipping_releases_the_reservation_and_the_credit(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions)
    sku = add_product(sqlite_sessions, on_hand=5)
    handle = await start_order(customer, {sku: 2}, fulfillment="manual")
    await wait_for_status(handle, OrderStatus.PROCESSING)
    assert stock(sqlite_sessions, sku) == (5, 2)

    view = await handle.execute_update(OrderWorkflow.cancel, CancelCommand(actor=SALES, reason="duplicate"))
    assert view.status == OrderStatus.CANCELLED
    assert view.compensation_pending == ["release_reservation", "release_credit"]

    final = await handle.result()
    assert final.compensation_pending == []
    assert stock(sqlite_sessions, sku) == (5, 0)
    assert open_reservations(sqlite_sessions, final.order_id) == 0
    assert credit_used(sqlite_sessions, customer) == Decimal("0.00")


async def test_cancel_after_payment_and_shipment_refunds_once_and_restocks_with_a_return(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions)
    sku = add_product(sqlite_sessions, price="25.00", on_hand=5)
    handle = await start_order(customer, {sku: 2}, terms="prepaid")
    await wait_for_status(handle, OrderStatus.AWAITING_PAYMENT)
    await handle.execute_update(
        OrderWorkflow.pay, PaymentCommand(actor=FINANCE, amount=Decimal("50.00"), reference="P1"))
    await wait_for_status(handle, OrderStatus.SHIPPED)
    assert stock(sqlite_sessions, sku) == (3, 0)

    await handle.execute_update(OrderWorkflow.cancel, CancelCommand(actor=MANAGER, reason="refused at door"))
    final = await handle.result()

    assert final.status == OrderStatus.CANCELLED
    assert payments(sqlite_sessions, final.order_id) == [
        ("capture", Decimal("50.00")), ("refund", Decimal("50.00"))]
    assert stock(sqlite_sessions, sku) == (5, 0)
    assert final.return_ is not None and final.return_.lines[0].quantity == 2
    with sqlite_sessions() as s:
        assert s.scalar(select(Return).where(Return.order_id == final.order_id)) is not None


async def test_cancel_is_irreversible(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions)
    sku = add_product(sqlite_sessions)
    handle = await start_order(customer, {sku: 1}, fulfillment="manual")
    await wait_for_status(handle, OrderStatus.PROCESSING)
    await handle.execute_update(OrderWorkflow.cancel, CancelCommand(actor=SALES, reason="mistake"))

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(OrderWorkflow.cancel, CancelCommand(actor=SALES, reason="again"))
    assert isinstance(refused.value.cause, ApplicationError)
    assert refused.value.cause.type == errors.NOT_ALLOWED
    assert "irreversible" in refused.value.cause.message


async def test_completed_order_cannot_be_cancelled(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions)
    sku = add_product(sqlite_sessions)
    handle = await start_order(customer, {sku: 1})
    await wait_for_status(handle, OrderStatus.SHIPPED)
    await handle.execute_update(OrderWorkflow.confirm_receipt, ReceiptCommand(actor=SYSTEM))
    await handle.result()
    # The workflow has closed: the server refuses the update outright.
    with pytest.raises(Exception):  # noqa: B017 - RPCError (workflow closed) is what a caller sees
        await handle.execute_update(OrderWorkflow.cancel, CancelCommand(actor=SALES, reason="late"))


async def test_sales_cannot_cancel_someone_elses_order(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions)
    sku = add_product(sqlite_sessions)
    handle = await start_order(customer, {sku: 1}, fulfillment="manual")
    await wait_for_status(handle, OrderStatus.PROCESSING)

    other_sales = Actor(id="sue", role=Role.SALES)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(OrderWorkflow.cancel, CancelCommand(actor=other_sales, reason="x"))
    assert isinstance(refused.value.cause, ApplicationError)
    assert refused.value.cause.type == errors.FORBIDDEN


async def test_refused_signal_is_recorded_in_the_audit_trail(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions)
    sku = add_product(sqlite_sessions)
    handle = await start_order(customer, {sku: 1}, fulfillment="manual")
    await wait_for_status(handle, OrderStatus.PROCESSING)

    await handle.signal(OrderWorkflow.confirm_receipt_async, ReceiptCommand(actor=SYSTEM))
    await handle.execute_update(OrderWorkflow.cancel, CancelCommand(actor=SALES, reason="done"))
    final = await handle.result()

    with sqlite_sessions() as s:
        refused = s.scalars(select(AuditEvent).where(
            AuditEvent.order_id == final.order_id, AuditEvent.accepted.is_(False))).all()
    assert [(e.action, e.actor) for e in refused] == [("confirm_receipt", SYSTEM.id)]
    assert refused[0].reason is not None and "SHIPPED" in refused[0].reason
