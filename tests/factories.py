"""Test data: master data rows and order inputs with unique ids (databases are shared per session)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from db.models import Customer, Product, StockMovement
from workflows.models import Actor, Address, LineIn, NewOrder, OrderInput, OrderPolicy
from workflows.rules import Role

SALES = Actor(id="sam", role=Role.SALES)
MANAGER = Actor(id="maggie", role=Role.MANAGER)
OTHER_MANAGER = Actor(id="max", role=Role.MANAGER)
FINANCE = Actor(id="fiona", role=Role.FINANCE)
WAREHOUSE = Actor(id="walt", role=Role.WAREHOUSE)
SYSTEM = Actor(id="shop", role=Role.SYSTEM)

ADDRESS = Address(name="李雷", phone="+86 138 0000 0000", line1="1 Nanjing Rd", city="Shanghai",
                  postal_code="200001", country="CN")


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def add_customer(sessions: sessionmaker[Session], credit_limit: str = "100000",
                 blocked: bool = False) -> str:
    customer_id = uid("C")
    with sessions.begin() as s:
        s.add(Customer(id=customer_id, name=f"Customer {customer_id}",
                       credit_limit=Decimal(credit_limit), credit_used=Decimal(0), blocked=blocked))
    return customer_id


def add_product(sessions: sessionmaker[Session], price: str = "10.00", on_hand: int = 100) -> str:
    sku = uid("SKU")
    with sessions.begin() as s:
        s.add(Product(sku=sku, name=f"Product {sku}", unit_price=Decimal(price), active=True,
                      on_hand=on_hand, reserved=0))
        s.flush()
        s.add(StockMovement(sku=sku, delta=on_hand, kind="adjust", reason="initial stock"))
    return sku


def policy(**overrides: object) -> OrderPolicy:
    values: dict[str, object] = {
        "payment_window": timedelta(hours=1),
        "receipt_auto_confirm": timedelta(hours=1),
        "hold_timeout": timedelta(hours=1),
        "approval_threshold": Decimal("10000"),
    }
    values.update(overrides)
    return OrderPolicy.model_validate(values)


def order_input(customer_id: str, lines: dict[str, int], *, terms: str = "credit",
                fulfillment: str = "auto", created_by: Actor = SALES, **policy_overrides: object,
                ) -> OrderInput:
    order = NewOrder(
        customer_id=customer_id,
        lines=[LineIn(sku=sku, quantity=quantity) for sku, quantity in lines.items()],
        shipping_address=ADDRESS,
        payment_terms=terms,  # type: ignore[arg-type]
    )
    return OrderInput(order_id=uid("O"), order=order, fulfillment=fulfillment,  # type: ignore[arg-type]
                      owner_id=created_by.id, created_by=created_by, policy=policy(**policy_overrides))
