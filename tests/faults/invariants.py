"""Invariants that must hold after any fault: ledgers balance and every order is somewhere sensible.

Each `*_problems` function returns a list of readable violations (empty when all is well), so a test
can report everything that is wrong at once; `assert_ledgers_balance` and `assert_orders_settled`
fail with that list. They take a sessionmaker, so they work on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from db.models import (
    Counter,
    CreditHold,
    Customer,
    Invoice,
    Order,
    Payment,
    Product,
    StockMovement,
    StockReservation,
)
from workflows.models import OrderView
from workflows.order import OrderWorkflow
from workflows.rules import TERMINAL_STATUSES, OrderStatus

# Statuses in which a running order may sit with nothing to do: it waits for a person or a timer.
WAITING_STATUSES = frozenset({OrderStatus.ON_HOLD, OrderStatus.AWAITING_PAYMENT, OrderStatus.PROCESSING,
                              OrderStatus.SHIPPED, OrderStatus.DELIVERED})


def stock_problems(sessions: sessionmaker[Session], skus: Iterable[str] | None = None) -> list[str]:
    """Per SKU: on_hand == Σ stock movements, reserved == Σ open reservations, 0 ≤ reserved ≤ on_hand."""
    with sessions() as s:
        query = select(Product.sku, Product.on_hand, Product.reserved)
        if skus is not None:
            query = query.where(Product.sku.in_(list(skus)))
        products = s.execute(query).all()
        moved = dict(s.execute(select(StockMovement.sku, func.sum(StockMovement.delta))
                               .group_by(StockMovement.sku)).all())
        held = dict(s.execute(select(StockReservation.sku, func.sum(StockReservation.quantity))
                              .group_by(StockReservation.sku)).all())
        negative = s.execute(select(StockReservation.order_id, StockReservation.sku)
                             .where(StockReservation.quantity <= 0)).all()
    problems = [f"reservation of {order_id} on {sku} is not positive" for order_id, sku in negative]
    for sku, on_hand, reserved in products:
        if on_hand != (moved.get(sku) or 0):
            problems.append(f"{sku}: on_hand {on_hand} != sum of stock movements {moved.get(sku) or 0}")
        if reserved != (held.get(sku) or 0):
            problems.append(f"{sku}: reserved {reserved} != sum of open reservations {held.get(sku) or 0}")
        if not 0 <= reserved <= on_hand:
            problems.append(f"{sku}: reserved {reserved} outside 0..on_hand {on_hand}")
    return problems


def money_problems(sessions: sessionmaker[Session], order_ids: Iterable[str] | None = None) -> list[str]:
    """Per order: at most one capture, at most one refund, refunds never exceed captures."""
    with sessions() as s:
        query = select(Payment.order_id, Payment.kind, Payment.amount)
        if order_ids is not None:
            query = query.where(Payment.order_id.in_(list(order_ids)))
        rows = s.execute(query).all()
    ledger: dict[str, dict[str, list[Decimal]]] = defaultdict(lambda: defaultdict(list))
    for order_id, kind, amount in rows:
        ledger[order_id][kind].append(amount)
    problems = []
    for order_id, kinds in sorted(ledger.items()):
        captured, refunded = kinds.get("capture", []), kinds.get("refund", [])
        if len(captured) > 1:
            problems.append(f"{order_id}: {len(captured)} captures {captured}")
        if len(refunded) > 1:
            problems.append(f"{order_id}: {len(refunded)} refunds {refunded}")
        if sum(refunded, Decimal(0)) > sum(captured, Decimal(0)):
            problems.append(f"{order_id}: refunded {sum(refunded)} > captured {sum(captured)}")
        if set(kinds) - {"capture", "refund"}:
            problems.append(f"{order_id}: unknown payment kinds {sorted(kinds)}")
    return problems


def invoice_problems(sessions: sessionmaker[Session]) -> list[str]:
    """Invoice numbers are unique and gap-free: exactly 1..counter, one invoice per order."""
    with sessions() as s:
        numbers = sorted(s.scalars(select(Invoice.number)))
        orders = list(s.scalars(select(Invoice.order_id)))
        counter = s.scalar(select(Counter.value).where(Counter.name == "invoice")) or 0
    problems = []
    if numbers != list(range(1, counter + 1)):
        missing = sorted(set(range(1, counter + 1)) - set(numbers))
        problems.append(f"invoice numbers are not 1..{counter}: missing {missing[:10]}, "
                        f"{len(numbers)} invoices")
    if len(orders) != len(set(orders)):
        problems.append("an order has more than one invoice")
    return problems


def credit_problems(sessions: sessionmaker[Session], customer_ids: Iterable[str] | None = None) -> list[str]:
    """Per customer: credit_used == Σ the credit holds of its orders."""
    with sessions() as s:
        query = select(Customer.id, Customer.credit_used)
        if customer_ids is not None:
            query = query.where(Customer.id.in_(list(customer_ids)))
        customers = s.execute(query).all()
        held = dict(s.execute(select(CreditHold.customer_id, func.sum(CreditHold.amount))
                              .group_by(CreditHold.customer_id)).all())
    return [f"{customer}: credit_used {used} != sum of holds {held.get(customer) or 0}"
            for customer, used in customers if used != (held.get(customer) or Decimal(0))]


def assert_ledgers_balance(sessions: sessionmaker[Session], *, skus: Iterable[str] | None = None,
                           order_ids: Iterable[str] | None = None,
                           customer_ids: Iterable[str] | None = None) -> None:
    problems = [*stock_problems(sessions, skus), *money_problems(sessions, order_ids),
                *invoice_problems(sessions), *credit_problems(sessions, customer_ids)]
    assert not problems, "ledgers do not balance:\n  " + "\n  ".join(problems)


# --- workflows -----------------------------------------------------------------------------------

OrderHandle = WorkflowHandle[OrderWorkflow, OrderView]


async def order_problems(handle: OrderHandle, sessions: sessionmaker[Session]) -> list[str]:
    """The order is closed in a terminal status, or running and legitimately waiting: in a waiting
    status, told what for, no activity running or retrying, no compensation left, nobody paged.
    Either way the read model shows the live status."""
    description = await handle.describe()
    name = handle.id
    if description.status == WorkflowExecutionStatus.COMPLETED:
        view = await handle.result()
        problems = [] if view.status in TERMINAL_STATUSES else [f"{name}: closed while {view.status}"]
        if view.compensation_pending:
            problems.append(f"{name}: closed with compensation pending {view.compensation_pending}")
    elif description.status == WorkflowExecutionStatus.RUNNING:
        view = await handle.query(OrderWorkflow.view)
        pending = [(p.activity_type.name, p.attempt)
                   for p in description.raw_description.pending_activities]
        problems = []
        if view.status not in WAITING_STATUSES:
            problems.append(f"{name}: running in {view.status} (not a waiting status)")
        if pending:
            problems.append(f"{name}: activities still pending {pending}")
        if not view.waiting_for:
            problems.append(f"{name}: running in {view.status} but waiting for nothing")
        if view.compensation_pending:
            problems.append(f"{name}: compensation pending {view.compensation_pending}")
    else:
        return [f"{name}: workflow {description.status.name if description.status else '?'}"]
    if view.needs_attention:
        problems.append(f"{name}: needs attention: {view.attention_reason}")
    with sessions() as s:
        projected = s.scalar(select(Order.status).where(Order.order_id == view.order_id))
    if projected != view.status.value:
        problems.append(f"{name}: read model says {projected}, the workflow {view.status.value}")
    return problems


async def assert_orders_settled(handles: Sequence[OrderHandle], sessions: sessionmaker[Session],
                                timeout: float = 30.0) -> None:
    """Wait (bounded) until every order passes `order_problems`; fail listing what is still wrong."""
    deadline = time.monotonic() + timeout
    while True:
        found = await asyncio.gather(*(order_problems(handle, sessions) for handle in handles))
        problems = [problem for listed in found for problem in listed]
        if not problems:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"orders not settled after {timeout:.0f}s:\n  " + "\n  ".join(problems))
        await asyncio.sleep(0.2)
