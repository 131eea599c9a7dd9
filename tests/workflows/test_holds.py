"""Credit holds, the approval threshold and stock shortages put an order ON_HOLD for a manager."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from db.models import Product
from tests.factories import MANAGER, OTHER_MANAGER, SALES, WAREHOUSE, add_customer, add_product
from tests.workflows.conftest import StartOrder
from tests.workflows.helpers import credit_used, stock, wait_for_status
from workflows import errors
from workflows.models import ApproveCommand, RejectCommand, StatusCommand
from workflows.order import OrderWorkflow
from workflows.rules import OrderStatus


async def test_order_over_the_credit_limit_waits_for_a_manager_and_proceeds_when_approved(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions, credit_limit="100")
    sku = add_product(sqlite_sessions, price="60.00", on_hand=5)
    handle = await start_order(customer, {sku: 2}, fulfillment="manual")

    held = await wait_for_status(handle, OrderStatus.ON_HOLD)
    assert held.hold_reason == "over_credit_limit"
    assert credit_used(sqlite_sessions, customer) == Decimal("0.00")
    assert stock(sqlite_sessions, sku) == (5, 0)

    await handle.execute_update(OrderWorkflow.approve, ApproveCommand(actor=MANAGER, reason="good payer"))
    await wait_for_status(handle, OrderStatus.PROCESSING)
    assert credit_used(sqlite_sessions, customer) == Decimal("120.00")
    assert stock(sqlite_sessions, sku) == (5, 2)


async def test_nobody_approves_their_own_order(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions, credit_limit="10")
    sku = add_product(sqlite_sessions, price="60.00")
    handle = await start_order(customer, {sku: 1}, created_by=MANAGER)
    await wait_for_status(handle, OrderStatus.ON_HOLD)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(OrderWorkflow.approve, ApproveCommand(actor=MANAGER))
    assert isinstance(refused.value.cause, ApplicationError)
    assert refused.value.cause.type == errors.FORBIDDEN
    assert (await handle.query(OrderWorkflow.view)).status == OrderStatus.ON_HOLD


async def test_sales_cannot_approve(start_order: StartOrder, sqlite_sessions: sessionmaker[Session]) -> None:
    customer = add_customer(sqlite_sessions, credit_limit="10")
    sku = add_product(sqlite_sessions, price="60.00")
    handle = await start_order(customer, {sku: 1}, created_by=MANAGER)
    await wait_for_status(handle, OrderStatus.ON_HOLD)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(OrderWorkflow.approve, ApproveCommand(actor=SALES))
    assert isinstance(refused.value.cause, ApplicationError)
    assert refused.value.cause.type == errors.FORBIDDEN


async def test_order_above_the_approval_threshold_is_held_even_within_credit(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions, credit_limit="1000000")
    sku = add_product(sqlite_sessions, price="600.00")
    handle = await start_order(customer, {sku: 2}, approval_threshold=Decimal("1000"))

    held = await wait_for_status(handle, OrderStatus.ON_HOLD)
    assert held.hold_reason == "above_approval_threshold"


async def test_rejected_order_is_cancelled_and_releases_nothing_it_did_not_hold(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions, credit_limit="1000000")
    sku = add_product(sqlite_sessions, price="600.00", on_hand=5)
    handle = await start_order(customer, {sku: 2}, approval_threshold=Decimal("1000"))
    await wait_for_status(handle, OrderStatus.ON_HOLD)
    assert credit_used(sqlite_sessions, customer) == Decimal("1200.00")

    view = await handle.execute_update(
        OrderWorkflow.reject, RejectCommand(actor=OTHER_MANAGER, reason="customer unknown"))
    assert view.status == OrderStatus.CANCELLED
    final = await handle.result()
    assert final.cancel_reason == "rejected: customer unknown"
    assert final.compensation_pending == []
    assert credit_used(sqlite_sessions, customer) == Decimal("0.00")
    assert stock(sqlite_sessions, sku) == (5, 0)


async def test_undecided_hold_is_cancelled_after_the_hold_timeout(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions, credit_limit="10")
    sku = add_product(sqlite_sessions, price="60.00")
    handle = await start_order(customer, {sku: 1}, hold_timeout=timedelta(seconds=1))

    final = await handle.result()
    assert final.status == OrderStatus.CANCELLED
    assert final.cancel_reason == "hold_timeout"


async def test_short_stock_holds_the_order_until_stock_arrives_and_a_manager_releases_it(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions)
    plenty = add_product(sqlite_sessions, on_hand=10)
    scarce = add_product(sqlite_sessions, on_hand=1)
    handle = await start_order(customer, {plenty: 2, scarce: 3}, fulfillment="manual")

    held = await wait_for_status(handle, OrderStatus.ON_HOLD)
    assert held.hold_reason is not None and held.hold_reason.startswith("insufficient_stock")
    assert scarce in held.hold_reason
    assert stock(sqlite_sessions, plenty) == (10, 0)  # all lines or none

    with sqlite_sessions.begin() as s:
        s.get_one(Product, scarce).on_hand = 5
    await handle.execute_update(OrderWorkflow.approve, ApproveCommand(actor=MANAGER))
    await wait_for_status(handle, OrderStatus.PROCESSING)
    assert stock(sqlite_sessions, plenty) == (10, 2)
    assert stock(sqlite_sessions, scarce) == (5, 3)


async def test_manual_hold_pauses_a_processing_order_until_a_manager_releases_it(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions)
    sku = add_product(sqlite_sessions)
    handle = await start_order(customer, {sku: 1}, fulfillment="manual")
    await wait_for_status(handle, OrderStatus.PROCESSING)

    with pytest.raises(WorkflowUpdateFailedError) as refused:  # a reason is required
        await handle.execute_update(OrderWorkflow.change_status, StatusCommand(
            actor=WAREHOUSE, status=OrderStatus.ON_HOLD))
    assert isinstance(refused.value.cause, ApplicationError)
    assert "requires a reason" in refused.value.cause.message

    held = await handle.execute_update(OrderWorkflow.change_status, StatusCommand(
        actor=WAREHOUSE, status=OrderStatus.ON_HOLD, reason="damaged packaging"))
    assert held.hold_reason == "manual_hold: damaged packaging"

    released = await handle.execute_update(OrderWorkflow.change_status, StatusCommand(
        actor=MANAGER, status=OrderStatus.PROCESSING, reason="repacked"))
    assert released.status == OrderStatus.PROCESSING
    assert released.hold_reason is None
