from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from activities.models import CreditInput, OrderRef
from tests.activities import credit_used, order_activities
from tests.factories import add_customer, uid


def hold(customer_id: str, amount: str, order_id: str | None = None,
         force: bool = False) -> CreditInput:
    return CreditInput(order_id=order_id or uid("O"), customer_id=customer_id,
                       amount=Decimal(amount), force=force)


def test_an_order_that_fits_holds_its_exposure(sessions: sessionmaker[Session]) -> None:
    customer = add_customer(sessions, credit_limit="1000")

    result = order_activities(sessions).check_credit(hold(customer, "600.50"))

    assert result.held
    assert (result.credit_limit, result.credit_used) == (Decimal("1000.00"), Decimal("600.50"))
    assert credit_used(sessions, customer) == Decimal("600.50")


def test_an_order_over_the_limit_holds_nothing(sessions: sessionmaker[Session]) -> None:
    customer = add_customer(sessions, credit_limit="1000")
    acts = order_activities(sessions)
    acts.check_credit(hold(customer, "600"))

    result = acts.check_credit(hold(customer, "400.01"))

    assert not result.held
    assert result.credit_used == Decimal("600.00")
    assert credit_used(sessions, customer) == Decimal("600.00")


def test_an_exact_fit_in_cents_is_not_lost_to_float_rounding(sessions: sessionmaker[Session]) -> None:
    customer = add_customer(sessions, credit_limit="0.30")
    acts = order_activities(sessions)
    first, second = uid("O"), uid("O")

    assert acts.check_credit(hold(customer, "0.10", first)).held
    assert acts.check_credit(hold(customer, "0.20", second)).held  # 0.1 + 0.2 <= 0.3
    acts.release_credit(OrderRef(order_id=second))
    acts.release_credit(OrderRef(order_id=first))  # would go below zero if sums drifted

    assert credit_used(sessions, customer) == Decimal("0.00")


def test_an_approved_order_is_held_over_the_limit_when_forced(
    sessions: sessionmaker[Session],
) -> None:
    customer = add_customer(sessions, credit_limit="100")

    result = order_activities(sessions).check_credit(hold(customer, "250", force=True))

    assert result.held
    assert result.credit_used == Decimal("250.00")


def test_checking_credit_twice_holds_once(sessions: sessionmaker[Session]) -> None:
    customer, order_id = add_customer(sessions, credit_limit="1000"), uid("O")
    acts = order_activities(sessions)

    acts.check_credit(hold(customer, "300", order_id))
    again = acts.check_credit(hold(customer, "300", order_id))

    assert again.held
    assert credit_used(sessions, customer) == Decimal("300.00")


def test_an_edit_moves_the_exposure_by_the_difference(sessions: sessionmaker[Session]) -> None:
    customer, order_id = add_customer(sessions, credit_limit="1000"), uid("O")
    acts = order_activities(sessions)
    acts.check_credit(hold(customer, "300", order_id))

    assert acts.check_credit(hold(customer, "900", order_id)).held
    assert credit_used(sessions, customer) == Decimal("900.00")
    assert acts.check_credit(hold(customer, "200", order_id)).held
    assert credit_used(sessions, customer) == Decimal("200.00")


def test_a_growth_that_does_not_fit_keeps_the_old_hold(sessions: sessionmaker[Session]) -> None:
    customer, order_id = add_customer(sessions, credit_limit="1000"), uid("O")
    acts = order_activities(sessions)
    acts.check_credit(hold(customer, "300", order_id))

    assert not acts.check_credit(hold(customer, "1000.01", order_id)).held

    assert credit_used(sessions, customer) == Decimal("300.00")
    acts.release_credit(OrderRef(order_id=order_id))
    assert credit_used(sessions, customer) == Decimal("0.00")


def test_releasing_credit_twice_releases_once(sessions: sessionmaker[Session]) -> None:
    customer, order_id = add_customer(sessions, credit_limit="1000"), uid("O")
    acts = order_activities(sessions)
    acts.check_credit(hold(customer, "300", order_id))
    acts.check_credit(hold(customer, "200"))

    acts.release_credit(OrderRef(order_id=order_id))
    acts.release_credit(OrderRef(order_id=order_id))

    assert credit_used(sessions, customer) == Decimal("200.00")


def test_releasing_credit_of_an_order_without_a_hold_does_nothing(
    sessions: sessionmaker[Session],
) -> None:
    order_activities(sessions).release_credit(OrderRef(order_id=uid("O")))
