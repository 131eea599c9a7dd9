"""The orders database for the run: migrated SQLite file, customers and products, order inputs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from itertools import count

from db.migrate import upgrade
from db.models import Customer, Product, StockMovement
from db.session import make_engine, make_sessionmaker
from workflows.models import Actor, Address, LineIn, NewOrder, OrderInput, OrderPolicy
from workflows.rules import Role

SHOP = Actor(id="bench-shop", role=Role.SYSTEM)
WAREHOUSE = Actor(id="bench-warehouse", role=Role.WAREHOUSE)
MANAGER = Actor(id="bench-manager", role=Role.MANAGER)
ADDRESS = Address(name="Bench Customer", phone="+86 138 0000 0000", line1="1 Nanjing Rd",
                  city="Shanghai", postal_code="200001", country="CN")
# Receipt is confirmed by the driver; the auto-confirm timer is long so it never fires in a run.
POLICY = OrderPolicy(payment_window=timedelta(hours=1), receipt_auto_confirm=timedelta(days=7),
                     hold_timeout=timedelta(hours=1), approval_threshold=Decimal("10000"))


@dataclass
class Catalog:
    customers: list[str]
    skus: list[str]

    def __post_init__(self) -> None:
        self._next = count()

    def order(self, fulfillment: str = "auto", customer_id: str | None = None) -> OrderInput:
        """A credit order of one line, spread round-robin over the customers and products."""
        i = next(self._next)
        order = NewOrder(customer_id=customer_id or self.customers[i % len(self.customers)],
                         lines=[LineIn(sku=self.skus[i % len(self.skus)], quantity=1)],
                         shipping_address=ADDRESS, payment_terms="credit")
        return OrderInput(order_id=uuid.uuid4().hex, order=order, fulfillment=fulfillment,  # type: ignore[arg-type]
                          owner_id=SHOP.id, created_by=SHOP, policy=POLICY)


def create_database(url: str, customers: int = 20, products: int = 20) -> Catalog:
    """Migrate the database and add master data: unlimited credit in practice, plenty of stock."""
    upgrade(url)
    engine = make_engine(url)
    catalog = Catalog([f"C-bench-{i:02d}" for i in range(customers)],
                      [f"SKU-bench-{i:02d}" for i in range(products)])
    with make_sessionmaker(engine).begin() as s:
        s.add_all(Customer(id=c, name=f"Bench {c}", credit_limit=Decimal("1000000000"),
                           credit_used=Decimal(0), blocked=False) for c in catalog.customers)
        s.add_all(Product(sku=sku, name=f"Bench {sku}", unit_price=Decimal("10.00"), active=True,
                          on_hand=10_000_000, reserved=0) for sku in catalog.skus)
        s.flush()
        s.add_all(StockMovement(sku=sku, delta=10_000_000, kind="adjust", reason="bench stock")
                  for sku in catalog.skus)
    engine.dispose()
    return catalog

