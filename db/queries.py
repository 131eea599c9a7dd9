"""Queries shared by activities and the HTTP API, so a rule that needs the database lives once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from activities.models import ValidatedOrder
from db.models import Customer, Product, SubStatus
from workflows import errors, rules
from workflows.models import NewOrder, PricedLine


def price_order(session: Session, order: NewOrder) -> ValidatedOrder:
    """Check the customer and the SKUs against master data and price the lines from the catalog.

    Raises `errors.invalid` with one entry per bad field, so a client can fix everything at once.
    """
    problems: list[dict[str, Any]] = []
    customer = session.get(Customer, order.customer_id)
    if customer is None:
        problems.append(_problem("customer_id", f"unknown customer {order.customer_id}"))
    elif customer.blocked:
        problems.append(_problem("customer_id", f"customer {order.customer_id} is blocked"))

    skus = [line.sku for line in order.lines]
    catalog = {p.sku: p for p in session.scalars(select(Product).where(Product.sku.in_(skus)))}
    priced: list[PricedLine] = []
    for index, line in enumerate(order.lines):
        product = catalog.get(line.sku)
        if product is None:
            problems.append(_problem(f"lines[{index}].sku", f"unknown sku {line.sku}"))
        elif not product.active:
            problems.append(_problem(f"lines[{index}].sku", f"sku {line.sku} is not active"))
        else:
            amount = rules.line_amount(product.unit_price, line.quantity, line.discount_pct)
            priced.append(
                PricedLine(
                    sku=line.sku,
                    quantity=line.quantity,
                    unit_price=product.unit_price,
                    discount_pct=line.discount_pct,
                    amount=amount,
                )
            )
    total = rules.order_total(line.amount for line in priced)
    too_large = rules.total_refusal(total)
    if too_large:
        problems.append({"field": "lines", "message": too_large, "type": "total_too_large"})
    if problems:
        raise errors.invalid(problems)
    return ValidatedOrder(lines=priced, total=total)


def _problem(field: str, message: str) -> dict[str, Any]:
    return {"field": field, "message": message}


def sub_status_labels(session: Session, status: str) -> list[str]:
    """The labels the catalog allows for `status` (admins manage the catalog)."""
    return sorted(session.scalars(select(SubStatus.label).where(SubStatus.status == status)))
