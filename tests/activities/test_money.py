from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities.models import CaptureInput, CreditInput, OrderRef, SettleInput, SettleResult
from db.models import Counter, Invoice, Payment
from tests.activities import all_at_once, credit_used, order_activities
from tests.factories import add_customer, uid


def payments(sessions: sessionmaker[Session], order_id: str) -> list[tuple[str, Decimal, str]]:
    with sessions() as s:
        rows = s.execute(select(Payment.kind, Payment.amount, Payment.reference)
                         .where(Payment.order_id == order_id).order_by(Payment.id)).all()
        return [(kind, amount, reference) for kind, amount, reference in rows]


def capture(order_id: str, amount: str, reference: str = "bank-1") -> CaptureInput:
    return CaptureInput(order_id=order_id, amount=Decimal(amount), reference=reference)


def test_capturing_twice_captures_once(sessions: sessionmaker[Session]) -> None:
    order_id = uid("O")
    acts = order_activities(sessions)

    racing = all_at_once([lambda: acts.capture_payment(capture(order_id, "99.90"))] * 3)
    later = acts.capture_payment(capture(order_id, "99.90"))

    assert all(view == later for view in racing)
    assert payments(sessions, order_id) == [("capture", Decimal("99.90"), "bank-1")]


def test_settling_issues_an_invoice_captures_and_releases_credit(
    sessions: sessionmaker[Session],
) -> None:
    customer, order_id = add_customer(sessions, credit_limit="1000"), uid("O")
    acts = order_activities(sessions)
    acts.check_credit(CreditInput(order_id=order_id, customer_id=customer, amount=Decimal("120.50")))

    result = acts.settle_order(SettleInput(order_id=order_id, amount=Decimal("120.50")))

    assert result.invoice.amount == Decimal("120.50")
    assert [(p.kind, p.amount, p.reference) for p in result.payments] == [
        ("capture", Decimal("120.50"), f"INV-{result.invoice.number}")
    ]
    assert credit_used(sessions, customer) == Decimal("0.00")


def test_settling_a_prepaid_order_keeps_its_recorded_payment(
    sessions: sessionmaker[Session],
) -> None:
    order_id = uid("O")
    acts = order_activities(sessions)
    acts.capture_payment(capture(order_id, "50.00", "wire-7"))

    result = acts.settle_order(SettleInput(order_id=order_id, amount=Decimal("50.00")))

    assert [(p.kind, p.reference) for p in result.payments] == [("capture", "wire-7")]


def test_settling_concurrently_gives_unique_gap_free_invoice_numbers(
    sessions: sessionmaker[Session],
) -> None:
    orders = [uid("O") for _ in range(6)]
    acts = order_activities(sessions)

    def settle(order_id: str) -> Callable[[], SettleResult]:
        return lambda: acts.settle_order(SettleInput(order_id=order_id, amount=Decimal("10.00")))

    # every order settled twice at the same time, as a retried activity might be
    results = all_at_once([settle(order_id) for order_id in orders * 2])

    by_order = {order_id: {r.invoice.number for r, o in zip(results, orders * 2, strict=True)
                           if o == order_id} for order_id in orders}
    assert all(len(numbers) == 1 for numbers in by_order.values())
    assert len({n for numbers in by_order.values() for n in numbers}) == len(orders)
    assert all(len(payments(sessions, o)) == 1 for o in orders)
    with sessions() as s:
        numbers = sorted(s.scalars(select(Invoice.number)))
        last = s.scalar(select(Counter.value).where(Counter.name == "invoice"))
    assert numbers == list(range(1, (last or 0) + 1))


def test_settling_twice_returns_the_same_invoice(sessions: sessionmaker[Session]) -> None:
    order_id = uid("O")
    acts = order_activities(sessions)

    first = acts.settle_order(SettleInput(order_id=order_id, amount=Decimal("10.00")))
    second = acts.settle_order(SettleInput(order_id=order_id, amount=Decimal("10.00")))

    assert first == second
    assert len(payments(sessions, order_id)) == 1


def test_refunding_twice_refunds_once(sessions: sessionmaker[Session]) -> None:
    order_id = uid("O")
    acts = order_activities(sessions)
    acts.capture_payment(capture(order_id, "80.00"))

    racing = all_at_once([lambda: acts.refund_payment(OrderRef(order_id=order_id))] * 2)
    later = acts.refund_payment(OrderRef(order_id=order_id))

    assert all(views == later for views in racing)
    assert payments(sessions, order_id) == [
        ("capture", Decimal("80.00"), "bank-1"),
        ("refund", Decimal("80.00"), f"REFUND-{order_id}"),
    ]


def test_refunding_an_order_without_a_capture_records_nothing(
    sessions: sessionmaker[Session],
) -> None:
    order_id = uid("O")

    assert order_activities(sessions).refund_payment(OrderRef(order_id=order_id)) == []
    assert payments(sessions, order_id) == []
