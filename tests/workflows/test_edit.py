"""Editing an accepted order: re-priced, reservation moved by the difference, stale edits refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from db.models import AuditEvent
from tests.factories import ADDRESS, MANAGER, SALES, WAREHOUSE, add_customer, add_product, uid
from tests.workflows.conftest import StartOrder
from tests.workflows.helpers import credit_used, stock, wait_for_status
from workflows import errors
from workflows.models import ApproveCommand, CancelCommand, EditCommand, LineIn, StatusCommand
from workflows.order import OrderWorkflow
from workflows.rules import OrderStatus


async def test_editing_lines_reprices_and_moves_the_reservation_and_credit_by_the_difference(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions)
    keep = add_product(sqlite_sessions, price="10.00", on_hand=10)
    drop = add_product(sqlite_sessions, price="5.00", on_hand=10)
    handle = await start_order(customer, {keep: 2, drop: 1}, fulfillment="manual")
    before = await wait_for_status(handle, OrderStatus.PROCESSING)
    assert before.total == Decimal("25.00")

    view = await handle.execute_update(OrderWorkflow.edit, EditCommand(
        actor=SALES, expected_version=before.version, reason="customer called",
        lines=[LineIn(sku=keep, quantity=5, discount_pct=Decimal("10"))]))

    assert view.total == Decimal("45.00")
    assert view.version == before.version + 1
    assert stock(sqlite_sessions, keep) == (10, 5)
    assert stock(sqlite_sessions, drop) == (10, 0)
    assert credit_used(sqlite_sessions, customer) == Decimal("45.00")

    await handle.execute_update(OrderWorkflow.cancel, CancelCommand(actor=SALES, reason="test over"))
    final = await handle.result()
    with sqlite_sessions() as s:
        edit = s.scalars(select(AuditEvent).where(AuditEvent.order_id == final.order_id,
                                                  AuditEvent.action == "edit")).one()
    assert edit.changes["total"] == ["25.00", "45.00"]
    assert edit.reason == "customer called"


async def test_stale_expected_version_is_refused_and_changes_nothing(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions)
    sku = add_product(sqlite_sessions, on_hand=10)
    handle = await start_order(customer, {sku: 1}, fulfillment="manual")
    view = await wait_for_status(handle, OrderStatus.PROCESSING)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(OrderWorkflow.edit, EditCommand(
            actor=SALES, expected_version=view.version - 1, reason="x", notes="late"))
    assert isinstance(refused.value.cause, ApplicationError)
    assert refused.value.cause.type == errors.STALE_VERSION
    assert (await handle.query(OrderWorkflow.view)).notes is None


async def test_edit_that_does_not_fit_the_stock_changes_nothing(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions)
    sku = add_product(sqlite_sessions, price="10.00", on_hand=3)
    handle = await start_order(customer, {sku: 2}, fulfillment="manual")
    before = await wait_for_status(handle, OrderStatus.PROCESSING)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(OrderWorkflow.edit, EditCommand(
            actor=SALES, reason="more", lines=[LineIn(sku=sku, quantity=4)]))
    assert isinstance(refused.value.cause, ApplicationError)
    assert "not enough stock" in refused.value.cause.message
    after = await handle.query(OrderWorkflow.view)
    assert (after.total, after.version) == (before.total, before.version)
    assert stock(sqlite_sessions, sku) == (3, 2)
    assert credit_used(sqlite_sessions, customer) == Decimal("20.00")


async def test_after_shipping_only_notes_change(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions)
    sku = add_product(sqlite_sessions, on_hand=3)
    handle = await start_order(customer, {sku: 1}, fulfillment="manual")
    await wait_for_status(handle, OrderStatus.PROCESSING)
    await handle.execute_update(OrderWorkflow.change_status, StatusCommand(
        actor=WAREHOUSE, status=OrderStatus.SHIPPED, tracking_number=uid("T")))

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(OrderWorkflow.edit, EditCommand(
            actor=SALES, reason="move", shipping_address=ADDRESS.model_copy(update={"city": "Beijing"})))
    assert isinstance(refused.value.cause, ApplicationError)
    assert refused.value.cause.type == errors.NOT_ALLOWED

    view = await handle.execute_update(OrderWorkflow.edit, EditCommand(
        actor=SALES, reason="note", notes="leave at the door"))
    assert view.notes == "leave at the door"


async def test_edit_beyond_the_credit_limit_puts_the_order_on_hold_until_a_manager_approves(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions, credit_limit="100")
    sku = add_product(sqlite_sessions, price="10.00", on_hand=50)
    handle = await start_order(customer, {sku: 5}, fulfillment="manual")
    await wait_for_status(handle, OrderStatus.PROCESSING)

    view = await handle.execute_update(OrderWorkflow.edit, EditCommand(
        actor=SALES, reason="bigger order", lines=[LineIn(sku=sku, quantity=20)]))
    assert view.status == OrderStatus.ON_HOLD
    assert view.hold_reason == "over_credit_limit"
    assert view.total == Decimal("200.00")
    assert credit_used(sqlite_sessions, customer) == Decimal("50.00")  # old exposure kept
    assert stock(sqlite_sessions, sku) == (50, 20)

    tracking = uid("T")
    with pytest.raises(WorkflowUpdateFailedError):  # no shipping while on hold
        await handle.execute_update(OrderWorkflow.change_status, StatusCommand(
            actor=WAREHOUSE, status=OrderStatus.SHIPPED, tracking_number=tracking))

    approved = await handle.execute_update(OrderWorkflow.approve, ApproveCommand(actor=MANAGER))
    assert approved.status == OrderStatus.PROCESSING
    assert credit_used(sqlite_sessions, customer) == Decimal("200.00")
    shipped = await handle.execute_update(OrderWorkflow.change_status, StatusCommand(
        actor=WAREHOUSE, status=OrderStatus.SHIPPED, tracking_number=tracking))
    assert shipped.status == OrderStatus.SHIPPED


async def test_an_edit_while_awaiting_payment_asks_for_the_new_total(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions)
    sku = add_product(sqlite_sessions, price="10.00", on_hand=10)
    handle = await start_order(customer, {sku: 3}, terms="prepaid")
    waiting = await wait_for_status(handle, OrderStatus.AWAITING_PAYMENT)
    assert waiting.waiting_for == "payment of 30.00 CNY"

    view = await handle.execute_update(OrderWorkflow.edit, EditCommand(
        actor=SALES, reason="fewer", lines=[LineIn(sku=sku, quantity=1)]))
    assert view.waiting_for == "payment of 10.00 CNY"
    await handle.execute_update(OrderWorkflow.cancel, CancelCommand(actor=SALES, reason="test over"))


async def test_the_history_lists_entries_in_the_order_they_happened(
    start_order: StartOrder, sqlite_sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sqlite_sessions, credit_limit="100")
    sku = add_product(sqlite_sessions, price="10.00", on_hand=50)
    handle = await start_order(customer, {sku: 5}, fulfillment="manual")
    await wait_for_status(handle, OrderStatus.PROCESSING)
    await handle.execute_update(OrderWorkflow.edit, EditCommand(
        actor=SALES, reason="bigger", lines=[LineIn(sku=sku, quantity=20)]))  # edit, then hold
    await handle.execute_update(OrderWorkflow.cancel, CancelCommand(actor=SALES, reason="test over"))
    final = await handle.result()

    with sqlite_sessions() as s:
        entries = s.scalars(select(AuditEvent).where(AuditEvent.order_id == final.order_id)
                            .order_by(AuditEvent.at, AuditEvent.id)).all()
    actions = [entry.action for entry in entries]
    assert actions.index("edit") < actions.index("hold") < actions.index("cancel")
    assert len({entry.at for entry in entries}) == len(entries)
