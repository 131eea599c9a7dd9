from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker
from temporalio.exceptions import ApplicationError

from activities.models import ValidateInput
from db.models import Product
from tests.activities import order_activities
from tests.factories import ADDRESS, add_customer, add_product, uid
from workflows.models import LineIn, NewOrder


def new_order(customer_id: str, *lines: LineIn) -> ValidateInput:
    order = NewOrder(customer_id=customer_id, lines=list(lines), shipping_address=ADDRESS,
                     payment_terms="credit")
    return ValidateInput(order_id=uid("O"), order=order)


def problems(failure: pytest.ExceptionInfo[ApplicationError]) -> list[dict[str, str]]:
    assert failure.value.type == "invalid_input"
    assert failure.value.non_retryable
    details = failure.value.details[0]
    assert isinstance(details, dict)
    errors: list[dict[str, str]] = details["errors"]
    return errors


def test_prices_come_from_the_catalog_with_exact_decimal_discounts(
    sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sessions)
    pen, ink = add_product(sessions, price="19.99"), add_product(sessions, price="0.10")

    result = order_activities(sessions).validate_order(new_order(
        customer,
        LineIn(sku=pen, quantity=3, discount_pct=Decimal("12.50")),
        LineIn(sku=ink, quantity=3),
    ))

    # 19.99 × 3 × 0.875 = 52.47375 → 52.47; 0.10 × 3 = 0.30 exactly (a float would give 0.3000…04)
    assert [(line.unit_price, line.amount) for line in result.lines] == [
        (Decimal("19.99"), Decimal("52.47")),
        (Decimal("0.10"), Decimal("0.30")),
    ]
    assert result.total == Decimal("52.77")


def test_unknown_customer_is_named_in_the_error(sessions: sessionmaker[Session]) -> None:
    sku = add_product(sessions)
    with pytest.raises(ApplicationError) as failure:
        order_activities(sessions).validate_order(new_order("C-nobody", LineIn(sku=sku, quantity=1)))
    assert problems(failure) == [{"field": "customer_id", "message": "unknown customer C-nobody"}]


def test_blocked_customer_is_refused(sessions: sessionmaker[Session]) -> None:
    customer, sku = add_customer(sessions, blocked=True), add_product(sessions)
    with pytest.raises(ApplicationError) as failure:
        order_activities(sessions).validate_order(new_order(customer, LineIn(sku=sku, quantity=1)))
    assert problems(failure) == [{"field": "customer_id", "message": f"customer {customer} is blocked"}]


def test_every_bad_line_is_named_by_its_index(sessions: sessionmaker[Session]) -> None:
    good, retired = add_product(sessions), add_product(sessions)
    with sessions.begin() as s:
        s.execute(update(Product).where(Product.sku == retired).values(active=False))

    with pytest.raises(ApplicationError) as failure:
        order_activities(sessions).validate_order(new_order(
            "C-nobody",
            LineIn(sku=good, quantity=1),
            LineIn(sku="NO-SUCH-SKU", quantity=1),
            LineIn(sku=retired, quantity=2),
        ))

    assert problems(failure) == [
        {"field": "customer_id", "message": "unknown customer C-nobody"},
        {"field": "lines[1].sku", "message": "unknown sku NO-SUCH-SKU"},
        {"field": "lines[2].sku", "message": f"sku {retired} is not active"},
    ]
