from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from activities.models import OrderRef, ReserveInput, StockLine
from db.models import Product
from tests.activities import all_at_once, order_activities, stock
from tests.factories import add_product, uid


def reserve(order_id: str, **lines: int) -> ReserveInput:
    return ReserveInput(order_id=order_id,
                        lines=[StockLine(sku=sku, quantity=q) for sku, q in lines.items()])


def test_reserving_holds_the_units_of_every_line(sessions: sessionmaker[Session]) -> None:
    a, b = add_product(sessions, on_hand=10), add_product(sessions, on_hand=10)

    result = order_activities(sessions).reserve_stock(reserve(uid("O"), **{a: 3, b: 10}))

    assert result.reserved
    assert (stock(sessions, a), stock(sessions, b)) == ((10, 3), (10, 10))


def test_reservation_is_all_or_nothing(sessions: sessionmaker[Session]) -> None:
    plenty, scarce = add_product(sessions, on_hand=10), add_product(sessions, on_hand=2)

    result = order_activities(sessions).reserve_stock(reserve(uid("O"), **{plenty: 5, scarce: 3}))

    assert not result.reserved
    assert result.short == {scarce: 2}
    assert (stock(sessions, plenty), stock(sessions, scarce)) == ((10, 0), (2, 0))


def test_an_inactive_sku_cannot_be_reserved(sessions: sessionmaker[Session]) -> None:
    sku = add_product(sessions, on_hand=10)
    with sessions.begin() as s:
        s.execute(update(Product).where(Product.sku == sku).values(active=False))

    result = order_activities(sessions).reserve_stock(reserve(uid("O"), **{sku: 1}))

    assert (result.reserved, result.short) == (False, {sku: 0})


def test_reserving_twice_reserves_once(sessions: sessionmaker[Session]) -> None:
    sku, order_id = add_product(sessions, on_hand=10), uid("O")
    acts = order_activities(sessions)

    acts.reserve_stock(reserve(order_id, **{sku: 4}))
    assert acts.reserve_stock(reserve(order_id, **{sku: 4})).reserved

    assert stock(sessions, sku) == (10, 4)


def test_an_edit_moves_only_the_difference(sessions: sessionmaker[Session]) -> None:
    kept, dropped, added = (add_product(sessions, on_hand=10) for _ in range(3))
    order_id = uid("O")
    acts = order_activities(sessions)
    acts.reserve_stock(reserve(order_id, **{kept: 4, dropped: 2}))

    assert acts.reserve_stock(reserve(order_id, **{kept: 9, added: 1})).reserved

    assert [stock(sessions, sku) for sku in (kept, dropped, added)] == [(10, 9), (10, 0), (10, 1)]


def test_a_growing_edit_may_use_what_the_order_already_holds(
    sessions: sessionmaker[Session],
) -> None:
    sku, order_id = add_product(sessions, on_hand=5), uid("O")
    acts = order_activities(sessions)
    acts.reserve_stock(reserve(order_id, **{sku: 3}))
    acts.reserve_stock(reserve(uid("O"), **{sku: 1}))

    failed = acts.reserve_stock(reserve(order_id, **{sku: 5}))

    # 1 unit is free, plus the 3 this order holds: it could have had 4, and keeps its 3.
    assert (failed.reserved, failed.short) == (False, {sku: 4})
    assert stock(sessions, sku) == (5, 4)


def test_stock_is_never_oversold_under_concurrency(sessions: sessionmaker[Session]) -> None:
    sku = add_product(sessions, on_hand=5)
    acts = order_activities(sessions)

    results = all_at_once(
        [lambda: acts.reserve_stock(reserve(uid("O"), **{sku: 1})) for _ in range(8)]
    )

    assert sum(r.reserved for r in results) == 5
    assert stock(sessions, sku) == (5, 5)


def test_releasing_twice_releases_once(sessions: sessionmaker[Session]) -> None:
    sku, order_id = add_product(sessions, on_hand=10), uid("O")
    acts = order_activities(sessions)
    acts.reserve_stock(reserve(order_id, **{sku: 4}))
    acts.reserve_stock(reserve(uid("O"), **{sku: 1}))

    all_at_once([lambda: acts.release_reservation(OrderRef(order_id=order_id))] * 2)
    acts.release_reservation(OrderRef(order_id=order_id))

    assert stock(sessions, sku) == (10, 1)


def test_releasing_an_order_without_a_reservation_does_nothing(
    sessions: sessionmaker[Session],
) -> None:
    order_activities(sessions).release_reservation(OrderRef(order_id=uid("O")))
