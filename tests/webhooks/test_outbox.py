"""The outbox: `project_order` writes one event per status change, in the same transaction, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities import outbox
from activities.models import AuditEntry, ProjectInput
from activities.orders import OrderActivities
from db.models import AuditEvent, OutboxEvent
from tests.activities import all_at_once, order_activities
from tests.factories import ADDRESS, uid
from workflows.models import OrderView, PricedLine
from workflows.rules import OrderStatus

AT = datetime(2026, 2, 3, 10, 0, tzinfo=UTC)


def view(order_id: str, status: OrderStatus, version: int) -> OrderView:
    line = PricedLine(sku="A", quantity=2, unit_price=Decimal("5.00"), discount_pct=Decimal(0),
                      amount=Decimal("10.00"))
    return OrderView(order_id=order_id, status=status, version=version, customer_id="C-1",
                     owner_id="sam", lines=[line], total=Decimal("10.00"), shipping_address=ADDRESS,
                     payment_terms="credit", fulfillment="auto", created_at=AT,
                     updated_at=AT + timedelta(minutes=version))


def entry(order_id: str, action: str, source: str | None, target: str | None, *,
          accepted: bool = True, minute: int = 0) -> AuditEntry:
    return AuditEntry(id=uid("A"), order_id=order_id, at=AT + timedelta(minutes=minute), actor="sam",
                      role="sales", action=action, accepted=accepted, from_status=source,
                      to_status=target, reason="because" if not accepted else None)


def events(sessions: sessionmaker[Session], order_id: str) -> list[OutboxEvent]:
    with sessions() as s:
        return list(s.scalars(select(OutboxEvent).where(OutboxEvent.order_id == order_id)
                              .order_by(OutboxEvent.sequence)))


def moves(found: list[OutboxEvent]) -> list[tuple[int, Any, Any]]:
    return [(e.sequence, e.payload["from"], e.payload["to"]) for e in found]


def test_each_status_change_writes_one_event_with_the_order_summary(
    sessions: sessionmaker[Session],
) -> None:
    order_id = uid("O")
    created = entry(order_id, "create", None, "PENDING")
    edited = entry(order_id, "edit", "PENDING", "PENDING", minute=1)
    accepted = entry(order_id, "reserve", "PENDING", "PROCESSING", minute=2)

    order_activities(sessions).project_order(ProjectInput(
        view=view(order_id, OrderStatus.PROCESSING, version=3), revision=1,
        audit=[created, edited, accepted]))

    found = events(sessions, order_id)
    assert moves(found) == [(1, None, "PENDING"), (2, "PENDING", "PROCESSING")]
    first = found[0]
    assert (first.type, first.audit_id) == ("order.status_changed", created.id)
    assert first.payload["at"] == AT.isoformat()
    assert first.payload["action"] == "create"
    assert first.payload["version"] == 3
    assert first.payload["order"]["status"] == "PROCESSING"
    assert first.payload["order"]["total"] == "10.00"
    assert first.fanned_out_at is None


def test_projecting_the_same_changes_twice_writes_each_event_once(
    sessions: sessionmaker[Session],
) -> None:
    order_id = uid("O")
    created = entry(order_id, "create", None, "PENDING")
    moved = entry(order_id, "reserve", "PENDING", "PROCESSING", minute=1)
    data = ProjectInput(view=view(order_id, OrderStatus.PROCESSING, 2), revision=1,
                        audit=[created, moved, moved])
    acts = order_activities(sessions)

    acts.project_order(data)
    acts.project_order(data)  # a retried activity
    # a stale projection that repeats an old entry and brings a new one
    shipped = entry(order_id, "ship", "PROCESSING", "SHIPPED", minute=2)
    acts.project_order(ProjectInput(view=view(order_id, OrderStatus.SHIPPED, 3), revision=1,
                                    audit=[moved, shipped]))

    assert moves(events(sessions, order_id)) == [
        (1, None, "PENDING"), (2, "PENDING", "PROCESSING"), (3, "PROCESSING", "SHIPPED")]


def test_concurrent_attempts_of_one_projection_write_each_event_once(
    sessions: sessionmaker[Session],
) -> None:
    order_id = uid("O")
    acts = order_activities(sessions)
    acts.project_order(ProjectInput(view=view(order_id, OrderStatus.PENDING, 1), revision=1,
                                    audit=[entry(order_id, "create", None, "PENDING")]))
    moved = entry(order_id, "reserve", "PENDING", "PROCESSING", minute=1)
    data = ProjectInput(view=view(order_id, OrderStatus.PROCESSING, 2), revision=2, audit=[moved])

    all_at_once([lambda: acts.project_order(data) for _ in range(4)])

    assert moves(events(sessions, order_id)) == [(1, None, "PENDING"), (2, "PENDING", "PROCESSING")]


def test_refused_commands_are_not_events_but_an_invalid_order_cancelled_is(
    sessions: sessionmaker[Session],
) -> None:
    order_id = uid("O")
    refused = entry(order_id, "cancel", "PENDING", "PENDING", accepted=False)
    invalid = entry(order_id, "validate", "PENDING", "CANCELLED", accepted=False, minute=1)

    order_activities(sessions).project_order(ProjectInput(
        view=view(order_id, OrderStatus.CANCELLED, 2), revision=1,
        audit=[entry(order_id, "create", None, "PENDING"), refused, invalid]))

    found = events(sessions, order_id)
    assert moves(found) == [(1, None, "PENDING"), (2, "PENDING", "CANCELLED")]
    assert found[1].payload["reason"] == "because"


class _Broken(Exception):
    pass


def test_the_event_rolls_back_with_the_status_change(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch,
) -> None:
    order_id = uid("O")
    created = entry(order_id, "create", None, "PENDING")

    def write_then_fail(s: Session, *args: Any) -> int:
        assert outbox.record_status_changes(s, *args) == 1
        raise _Broken  # as if the database failed right after the event was written

    monkeypatch.setattr("activities.orders.record_status_changes", write_then_fail)
    with pytest.raises(_Broken):
        OrderActivities.project_order(order_activities(sessions), ProjectInput(
            view=view(order_id, OrderStatus.PENDING, 1), revision=1, audit=[created]))

    with sessions() as s:
        assert s.get(AuditEvent, created.id) is None
    assert events(sessions, order_id) == []
