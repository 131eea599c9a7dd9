"""Waiting for an order to reach a state, and reading the ledgers it touched."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowHandle

from db.models import CreditHold, Customer, Invoice, Payment, Product, StockReservation
from workflows.models import OrderView
from workflows.order import OrderWorkflow
from workflows.rules import OrderStatus


async def wait_for_status(handle: WorkflowHandle[OrderWorkflow, OrderView], status: OrderStatus,
                          timeout: float = 20.0) -> OrderView:
    """Poll the live view until the order is in `status` (bounded; fails with the last view)."""
    deadline = asyncio.get_running_loop().time() + timeout
    view = await handle.query(OrderWorkflow.view)
    while view.status != status:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"order stayed {view.status} (waiting for {status}): {view}")
        await asyncio.sleep(0.1)
        view = await handle.query(OrderWorkflow.view)
    return view


def stock(sessions: sessionmaker[Session], sku: str) -> tuple[int, int]:
    with sessions() as s:
        product = s.get_one(Product, sku)
        return product.on_hand, product.reserved


def credit_used(sessions: sessionmaker[Session], customer_id: str) -> Decimal:
    with sessions() as s:
        return s.get_one(Customer, customer_id).credit_used


def payments(sessions: sessionmaker[Session], order_id: str) -> list[tuple[str, Decimal]]:
    with sessions() as s:
        rows = s.scalars(select(Payment).where(Payment.order_id == order_id).order_by(Payment.id))
        return [(p.kind, p.amount) for p in rows]


def open_reservations(sessions: sessionmaker[Session], order_id: str) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(StockReservation)
                        .where(StockReservation.order_id == order_id)) or 0


def credit_holds(sessions: sessionmaker[Session], order_id: str) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(CreditHold)
                        .where(CreditHold.order_id == order_id)) or 0


def invoice_of(sessions: sessionmaker[Session], order_id: str) -> Invoice | None:
    with sessions() as s:
        return s.scalar(select(Invoice).where(Invoice.order_id == order_id))
