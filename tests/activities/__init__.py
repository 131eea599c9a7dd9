"""Activity tests: each activity runs against real SQLite and PostgreSQL databases (the `sessions`
fixture is parametrized over both); master data comes from `tests.factories`."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from threading import Barrier
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities.carrier import LocalCarrier
from activities.orders import OrderActivities
from db.models import Customer, Product

T = TypeVar("T")


def order_activities(sessions: sessionmaker[Session]) -> OrderActivities:
    return OrderActivities(sessions, LocalCarrier())


def stock(sessions: sessionmaker[Session], sku: str) -> tuple[int, int]:
    """(on_hand, reserved) of a product."""
    with sessions() as s:
        on_hand, reserved = s.execute(
            select(Product.on_hand, Product.reserved).where(Product.sku == sku)
        ).one()
        return on_hand, reserved


def credit_used(sessions: sessionmaker[Session], customer_id: str) -> Decimal:
    with sessions() as s:
        used = s.scalar(select(Customer.credit_used).where(Customer.id == customer_id))
        assert used is not None
        return used


def all_at_once(calls: list[Callable[[], T]]) -> list[T]:
    """Run the calls in parallel threads released together, to make them race for real."""
    start = Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        start.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))
