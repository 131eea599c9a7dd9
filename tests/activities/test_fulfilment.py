from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.exceptions import ApplicationError

from activities.models import ReserveInput, RestockInput, ShipInput, StockLine
from db.models import Return, StockMovement, StockReservation
from tests.activities import all_at_once, order_activities, stock
from tests.factories import ADDRESS, add_product, uid
from workflows.models import PricedLine


def lines(**quantities: int) -> list[StockLine]:
    return [StockLine(sku=sku, quantity=q) for sku, q in quantities.items()]


def ship(order_id: str, **quantities: int) -> ShipInput:
    return ShipInput(order_id=order_id, lines=lines(**quantities), shipping_address=ADDRESS)


def movements(sessions: sessionmaker[Session], order_id: str) -> list[tuple[str, str, int]]:
    with sessions() as s:
        rows = s.execute(select(StockMovement.kind, StockMovement.sku, StockMovement.delta)
                         .where(StockMovement.order_id == order_id)
                         .order_by(StockMovement.kind, StockMovement.sku)).all()
        return [(kind, sku, delta) for kind, sku, delta in rows]


def test_shipping_consumes_the_reservation_once_when_run_twice(
    sessions: sessionmaker[Session],
) -> None:
    sku, order_id = add_product(sessions, on_hand=10), uid("O")
    acts = order_activities(sessions)
    acts.reserve_stock(ReserveInput(order_id=order_id, lines=lines(**{sku: 4})))

    first, second = all_at_once([lambda: acts.ship_order(ship(order_id, **{sku: 4}))] * 2)
    third = acts.ship_order(ship(order_id, **{sku: 4}))

    assert first == second == third
    assert (first.carrier, first.tracking_number.startswith("LC")) == ("local", True)
    assert stock(sessions, sku) == (6, 0)
    assert movements(sessions, order_id) == [("ship", sku, -4)]
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(StockReservation)
                        .where(StockReservation.order_id == order_id)) == 0


def test_a_manual_shipment_keeps_the_given_carrier_and_tracking_number(
    sessions: sessionmaker[Session],
) -> None:
    sku, order_id = add_product(sessions, on_hand=10), uid("O")
    acts = order_activities(sessions)
    acts.reserve_stock(ReserveInput(order_id=order_id, lines=lines(**{sku: 2})))
    tracking = uid("SF")

    shipment = acts.ship_order(ShipInput(order_id=order_id, lines=lines(**{sku: 2}),
                                         shipping_address=ADDRESS, carrier="sf-express",
                                         tracking_number=tracking))

    assert (shipment.carrier, shipment.tracking_number) == ("sf-express", tracking)


def test_shipping_releases_reserved_skus_that_do_not_ship(sessions: sessionmaker[Session]) -> None:
    shipped, left = add_product(sessions, on_hand=10), add_product(sessions, on_hand=10)
    order_id = uid("O")
    acts = order_activities(sessions)
    acts.reserve_stock(ReserveInput(order_id=order_id, lines=lines(**{shipped: 3, left: 2})))

    acts.ship_order(ship(order_id, **{shipped: 3}))

    assert (stock(sessions, shipped), stock(sessions, left)) == ((7, 0), (10, 0))


def test_shipping_more_than_is_in_stock_is_refused_and_changes_nothing(
    sessions: sessionmaker[Session],
) -> None:
    sku, order_id = add_product(sessions, on_hand=3), uid("O")
    acts = order_activities(sessions)
    acts.reserve_stock(ReserveInput(order_id=order_id, lines=lines(**{sku: 2})))
    acts.reserve_stock(ReserveInput(order_id=uid("O"), lines=lines(**{sku: 1})))

    with pytest.raises(ApplicationError) as failure:
        acts.ship_order(ship(order_id, **{sku: 3}))

    assert (failure.value.type, failure.value.non_retryable) == ("not_allowed", True)
    assert failure.value.details[0] == {"short": {sku: 2}}
    assert stock(sessions, sku) == (3, 3)
    assert movements(sessions, order_id) == []


def test_restocking_twice_puts_the_goods_back_once(sessions: sessionmaker[Session]) -> None:
    sku, order_id = add_product(sessions, on_hand=10), uid("O")
    acts = order_activities(sessions)
    acts.reserve_stock(ReserveInput(order_id=order_id, lines=lines(**{sku: 4})))
    acts.ship_order(ship(order_id, **{sku: 4}))
    priced = [PricedLine(sku=sku, quantity=4, unit_price=Decimal("10.00"),
                         discount_pct=Decimal("5.00"), amount=Decimal("38.00"))]

    first, second = all_at_once(
        [lambda: acts.restock_order(RestockInput(order_id=order_id, lines=priced))] * 2
    )
    third = acts.restock_order(RestockInput(order_id=order_id, lines=priced))

    assert first == second == third
    assert (first.id, first.lines) == (f"RET-{order_id}", priced)
    assert stock(sessions, sku) == (10, 0)
    assert movements(sessions, order_id) == [("restock", sku, 4), ("ship", sku, -4)]
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Return)
                        .where(Return.order_id == order_id)) == 1
