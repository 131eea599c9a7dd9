from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities.models import AuditEntry, ProjectInput
from db.models import AuditEvent, Order, OrderLine
from tests.activities import order_activities
from tests.factories import ADDRESS, uid
from workflows.models import OrderView, PricedLine
from workflows.rules import OrderStatus

CREATED = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def view(order_id: str, status: OrderStatus, *lines: tuple[str, int], version: int = 1,
         minutes: int = 0) -> OrderView:
    priced = [PricedLine(sku=sku, quantity=q, unit_price=Decimal("2.50"), discount_pct=Decimal(0),
                         amount=Decimal("2.50") * q) for sku, q in lines]
    return OrderView(order_id=order_id, status=status, version=version, customer_id="C-1",
                     owner_id="sam", lines=priced, total=sum((p.amount for p in priced), Decimal(0)),
                     shipping_address=ADDRESS, payment_terms="credit", fulfillment="auto",
                     created_at=CREATED, updated_at=CREATED + timedelta(minutes=minutes))


def audit(order_id: str, action: str, entry_id: str | None = None) -> AuditEntry:
    return AuditEntry(id=entry_id or uid("A"), order_id=order_id, at=CREATED, actor="sam",
                      role="sales", action=action, changes={"total": [Decimal("1.00"), None]})


def stored(sessions: sessionmaker[Session], order_id: str) -> tuple[Order, list[tuple[str, int]]]:
    with sessions() as s:
        order = s.get(Order, order_id)
        assert order is not None
        rows = s.execute(select(OrderLine.sku, OrderLine.quantity)
                         .where(OrderLine.order_id == order_id).order_by(OrderLine.sku)).all()
        return order, [(sku, q) for sku, q in rows]


def test_projecting_writes_the_read_model_with_its_lines(sessions: sessionmaker[Session]) -> None:
    order_id = uid("O")

    order_activities(sessions).project_order(ProjectInput(
        view=view(order_id, OrderStatus.PENDING, ("A", 2), ("B", 1)), revision=1,
        idempotency_key=uid("K"),
    ))

    order, lines = stored(sessions, order_id)
    assert (order.status, order.revision, order.total) == ("PENDING", 1, Decimal("7.50"))
    assert order.created_at == CREATED
    assert order.view["shipping_address"]["city"] == "Shanghai"
    assert "return" in order.view  # the alias, as clients see it
    assert lines == [("A", 2), ("B", 1)]


def test_a_newer_revision_replaces_the_read_model_and_its_lines(
    sessions: sessionmaker[Session],
) -> None:
    order_id = uid("O")
    acts = order_activities(sessions)
    acts.project_order(ProjectInput(view=view(order_id, OrderStatus.PENDING, ("A", 2), ("B", 1)),
                                    revision=1))

    acts.project_order(ProjectInput(
        view=view(order_id, OrderStatus.PROCESSING, ("B", 5), version=2, minutes=5), revision=2,
    ))

    order, lines = stored(sessions, order_id)
    assert (order.status, order.version, order.updated_at) == (
        "PROCESSING", 2, CREATED + timedelta(minutes=5))
    assert lines == [("B", 5)]


def test_a_stale_projection_does_not_overwrite_a_newer_one(sessions: sessionmaker[Session]) -> None:
    order_id = uid("O")
    acts = order_activities(sessions)
    acts.project_order(ProjectInput(view=view(order_id, OrderStatus.SHIPPED, ("A", 1)), revision=5))

    acts.project_order(ProjectInput(view=view(order_id, OrderStatus.PENDING, ("B", 9)), revision=4))
    acts.project_order(ProjectInput(view=view(order_id, OrderStatus.PENDING, ("B", 9)), revision=5))

    order, lines = stored(sessions, order_id)
    assert (order.status, order.revision) == ("SHIPPED", 5)
    assert lines == [("A", 1)]


def test_audit_entries_are_stored_once_by_id(sessions: sessionmaker[Session]) -> None:
    order_id = uid("O")
    created, edited = audit(order_id, "create"), audit(order_id, "edit")
    acts = order_activities(sessions)
    acts.project_order(ProjectInput(view=view(order_id, OrderStatus.PENDING, ("A", 1)), revision=1,
                                    audit=[created]))

    # a retried projection repeats the entry; a stale one still brings its new entry
    acts.project_order(ProjectInput(view=view(order_id, OrderStatus.PENDING, ("A", 1)), revision=1,
                                    audit=[created, edited, edited]))

    with sessions() as s:
        rows = s.execute(select(AuditEvent.action, AuditEvent.changes, AuditEvent.at)
                         .where(AuditEvent.order_id == order_id).order_by(AuditEvent.action)).all()
    assert [tuple(r) for r in rows] == [
        ("create", {"total": ["1.00", None]}, CREATED),
        ("edit", {"total": ["1.00", None]}, CREATED),
    ]
