"""Reports over the read model (`orders`, `order_lines`) and the audit trail (api.md "Reports").

Each report is a function of a Session and already-checked parameters; `Services` authorizes the caller,
applies the sales visibility rule (`owner`) and parses the period (`period()`), so the HTTP API, the CLI
and the Python client share every line of it. Sums are taken in Python with `Decimal` and rounded to
the cent: SQLite hands NUMERIC back through a float.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import models as db
from workflows import rules
from workflows.rules import CURRENCY, OrderStatus

GroupBy = Literal["day", "customer", "sku"]
GROUPS: tuple[str, ...] = get_args(GroupBy)
DEFAULT_STUCK_AGE = "1h"
MAX_STUCK_ITEMS = 500
# Fields the audit trail records for an edit that follow from another one (total follows from lines).
DERIVED_FIELDS = frozenset({"total"})


# --- the period ----------------------------------------------------------------------------------


class BadParameter(ValueError):
    """A report parameter that cannot be used; `field` names it (the service answers 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Period:
    """[start, end): `from` inclusive, `to` exclusive; a bare date covers that whole day (UTC)."""

    start: datetime | None
    end: datetime | None


def parse_instant(field: str, value: str | date | datetime | None, *, end: bool) -> datetime | None:
    """ISO date (`2025-03-10`) or datetime (`2025-03-10T08:00:00Z`); naive means UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError as exc:
            raise BadParameter(field, f"{value!r} is not an ISO 8601 date or datetime "
                                      "(2025-03-10 or 2025-03-10T08:00:00Z)") from exc
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    day = value + timedelta(days=1) if end else value  # `to=2025-03-10` includes that day
    return datetime.combine(day, time(), tzinfo=UTC)


def period(from_: str | date | datetime | None, to: str | date | datetime | None) -> Period:
    start, end = parse_instant("from", from_, end=False), parse_instant("to", to, end=True)
    if start is not None and end is not None and start >= end:
        raise BadParameter("to", "must be after from")
    return Period(start, end)


def _within(query: Any, column: Any, when: Period) -> Any:
    if when.start is not None:
        query = query.where(column >= when.start)
    if when.end is not None:
        query = query.where(column < when.end)
    return query


def _owned(query: Any, owner: str | None) -> Any:
    return query if owner is None else query.where(db.Order.owner_id == owner)


def _cents(value: Decimal | float | int | None) -> Decimal:
    return rules.money(Decimal(str(value if value is not None else 0)))


# --- sales ------------------------------------------------------------------------------------------


class SalesRow(BaseModel):
    key: str = Field(description="the day (YYYY-MM-DD), customer id or SKU")
    orders: int = Field(description="completed orders in the group")
    quantity: int = Field(description="units sold")
    total: Decimal = Field(description="revenue after discounts")


class SalesReport(BaseModel):
    from_: datetime | None = Field(serialization_alias="from", alias="from")
    to: datetime | None
    group_by: GroupBy
    currency: str = CURRENCY
    rows: list[SalesRow]
    orders: int
    quantity: int
    total: Decimal

    model_config = {"populate_by_name": True}


def sales(session: Session, when: Period, group_by: GroupBy, owner: str | None) -> SalesReport:
    """Completed orders by the time they completed (the COMPLETED order's `updated_at`)."""
    query = _owned(select(db.Order).where(db.Order.status == OrderStatus.COMPLETED.value), owner)
    orders = {o.order_id: o for o in session.scalars(_within(query, db.Order.updated_at, when))}
    lines: list[db.OrderLine] = list(session.scalars(
        select(db.OrderLine).where(db.OrderLine.order_id.in_(orders)))) if orders else []
    groups: dict[str, tuple[set[str], int, Decimal]] = defaultdict(lambda: (set(), 0, Decimal(0)))
    for line in lines:
        order = orders[line.order_id]
        key = {"day": order.updated_at.astimezone(UTC).date().isoformat(),
               "customer": order.customer_id, "sku": line.sku}[group_by]
        ids, quantity, total = groups[key]
        ids.add(order.order_id)
        groups[key] = (ids, quantity + line.quantity, total + _cents(line.amount))
    rows = [SalesRow(key=key, orders=len(ids), quantity=quantity, total=rules.money(total))
            for key, (ids, quantity, total) in sorted(groups.items())]
    return SalesReport(
        from_=when.start, to=when.end, group_by=group_by, rows=rows, orders=len(orders),
        quantity=sum(line.quantity for line in lines),
        total=rules.money(sum((_cents(o.total) for o in orders.values()), Decimal(0))),
    )


# --- cancellations -----------------------------------------------------------------------------------

_CODE = re.compile(r"^([a-z][a-z0-9_]*)(:|$)")
# Orders refused at validation were never accepted: neither orders nor cancellations.
NOT_ACCEPTED = "invalid_order"


def reason_code(reason: str | None) -> str:
    """`rejected: too expensive` → `rejected`; `payment_timeout` stays; free text is trimmed, lowercased."""
    text = (reason or "").strip()
    if not text:
        return "unspecified"
    match = _CODE.match(text)
    if match:
        return match.group(1)
    return " ".join(text.lower().split())[:100]


class CancellationReport(BaseModel):
    from_: datetime | None = Field(serialization_alias="from", alias="from")
    to: datetime | None
    orders: int = Field(description="orders created in the period")
    cancelled: int = Field(description="of those, how many are cancelled")
    rate: float = Field(description="cancelled / orders (0 when there are no orders), 4 decimals")
    by_reason: dict[str, int] = Field(description="reason code (or normalised free text) → count")

    model_config = {"populate_by_name": True}


def cancellations(session: Session, when: Period, owner: str | None) -> CancellationReport:
    query = _owned(select(db.Order.status, db.Order.cancel_reason), owner)
    rows = [(status, reason) for status, reason in session.execute(_within(query, db.Order.created_at, when))
            if reason_code(reason) != NOT_ACCEPTED or status != OrderStatus.CANCELLED.value]
    cancelled = Counter(reason_code(reason) for status, reason in rows
                        if status == OrderStatus.CANCELLED.value)
    total = sum(cancelled.values())
    return CancellationReport(
        from_=when.start, to=when.end, orders=len(rows), cancelled=total,
        rate=round(total / len(rows), 4) if rows else 0.0,
        by_reason=dict(cancelled.most_common()),
    )


# --- corrections --------------------------------------------------------------------------------------


class UserCorrections(BaseModel):
    edits: int
    by_field: dict[str, int]


class CorrectionsReport(BaseModel):
    from_: datetime | None = Field(serialization_alias="from", alias="from")
    to: datetime | None
    edits: int = Field(description="accepted edits that changed something")
    orders: int = Field(description="orders corrected at least once")
    by_field: dict[str, int] = Field(description="field → how many edits changed it")
    by_user: dict[str, UserCorrections] = Field(description="who corrected what")
    refused: int = Field(description="edits refused (stale version, not editable now, bad input…)")
    refused_by_reason: dict[str, int]

    model_config = {"populate_by_name": True}


def corrections(session: Session, when: Period, owner: str | None) -> CorrectionsReport:
    """Edits after acceptance, from the audit trail: by field, by user, and the refused ones."""
    query = select(db.AuditEvent).where(db.AuditEvent.action == "edit")
    if owner is not None:
        query = query.join(db.Order, db.Order.order_id == db.AuditEvent.order_id)
    events: Iterable[db.AuditEvent] = session.scalars(_owned(_within(query, db.AuditEvent.at, when), owner))
    by_field: Counter[str] = Counter()
    by_user: dict[str, tuple[int, Counter[str]]] = {}
    refused: Counter[str] = Counter()
    orders: set[str] = set()
    edits = 0
    for event in events:
        if not event.accepted:
            refused[_refusal_kind(event.reason)] += 1
            continue
        fields = [name for name in (event.changes or {}) if name not in DERIVED_FIELDS]
        if not fields:
            continue  # an edit that changed nothing corrected nothing
        edits += 1
        orders.add(event.order_id)
        by_field.update(fields)
        count, user_fields = by_user.get(event.actor, (0, Counter()))
        user_fields.update(fields)
        by_user[event.actor] = (count + 1, user_fields)
    return CorrectionsReport(
        from_=when.start, to=when.end, edits=edits, orders=len(orders),
        by_field=dict(by_field.most_common()),
        by_user={user: UserCorrections(edits=count, by_field=dict(fields.most_common()))
                 for user, (count, fields) in sorted(by_user.items())},
        refused=sum(refused.values()), refused_by_reason=dict(refused.most_common()),
    )


def _refusal_kind(reason: str | None) -> str:
    """A refused edit's reason, shortened to its first clause so alike refusals count together."""
    text = (reason or "unspecified").strip()
    return re.split(r"[:;(]", text, maxsplit=1)[0].strip()[:80] or "unspecified"


# --- stuck orders ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NextStep:
    who: str
    does: str


# Who must act on an order that is not moving, by status (data, not an `if` chain). `needs_attention`
# always means an operator; an ON_HOLD for stock means the warehouse first.
NEXT_STEPS: dict[OrderStatus, NextStep] = {
    OrderStatus.PENDING: NextStep("operator",
                                  "check the workers: validation or reservation has not finished"),
    OrderStatus.ON_HOLD: NextStep("manager", "approve or reject (POST /orders/{id}/approve | /reject)"),
    OrderStatus.AWAITING_PAYMENT: NextStep("finance/customer", "record the payment or cancel"),
    OrderStatus.PROCESSING: NextStep("operator", "check the workers: the carrier booking has not finished"),
    OrderStatus.SHIPPED: NextStep("customer/carrier", "confirm receipt (POST /orders/{id}/receipt)"),
    OrderStatus.DELIVERED: NextStep("operator", "check the workers: settlement has not finished"),
    OrderStatus.CANCELLED: NextStep("operator", "check the workers: compensation has not finished"),
}
MANUAL_SHIPMENT = NextStep("warehouse", "ship: set status SHIPPED with a tracking number")
SHORT_STOCK = NextStep("warehouse", "restock (POST /products/{sku}/stock), or a manager cancels")
ATTENTION = NextStep("operator", "read attention_reason and fix the cause")


def next_step(status: OrderStatus, *, fulfillment: str, needs_attention: bool,
              hold_reason: str | None) -> NextStep:
    if needs_attention:
        return ATTENTION
    if status == OrderStatus.PROCESSING and fulfillment == "manual":
        return MANUAL_SHIPMENT
    if status == OrderStatus.ON_HOLD and (hold_reason or "").startswith(rules.HoldReason.INSUFFICIENT_STOCK):
        return SHORT_STOCK
    return NEXT_STEPS.get(status, ATTENTION)


class StuckOrder(BaseModel):
    order_id: str
    status: OrderStatus
    sub_status: str | None
    customer_id: str
    owner_id: str
    total: Decimal
    updated_at: datetime
    age_seconds: int
    age: str = Field(description="the same, for people: 2d 3h, 45m")
    waiting_for: str | None
    hold_reason: str | None
    needs_attention: bool
    attention_reason: str | None
    must_act: str = Field(description="who must act: manager, finance/customer, warehouse, "
                                      "customer/carrier or operator")
    next_step: str


class StuckReport(BaseModel):
    older_than_seconds: int
    as_of: datetime
    items: list[StuckOrder] = Field(description="oldest first")


def stuck(session: Session, older_than: timedelta, now: datetime, owner: str | None,
          limit: int = MAX_STUCK_ITEMS) -> StuckReport:
    """Non-terminal orders unchanged for longer than `older_than`, and cancelled ones whose
    compensation needs a person (`needs_attention`)."""
    open_ = db.Order.status.notin_([s.value for s in rules.TERMINAL_STATUSES])
    query = _owned(select(db.Order).where(open_ | db.Order.needs_attention.is_(True)), owner)
    query = (query.where(db.Order.updated_at < now - older_than)
             .order_by(db.Order.updated_at, db.Order.order_id))
    items = []
    for row in session.scalars(query.limit(limit)):
        view: dict[str, Any] = row.view or {}
        status = OrderStatus(row.status)
        step = next_step(status, fulfillment=row.fulfillment, needs_attention=row.needs_attention,
                         hold_reason=view.get("hold_reason"))
        age = int((now - row.updated_at).total_seconds())
        items.append(StuckOrder(
            order_id=row.order_id, status=status, sub_status=row.sub_status, customer_id=row.customer_id,
            owner_id=row.owner_id, total=_cents(row.total), updated_at=row.updated_at, age_seconds=age,
            age=human_age(age), waiting_for=view.get("waiting_for"), hold_reason=view.get("hold_reason"),
            needs_attention=row.needs_attention, attention_reason=row.attention_reason,
            must_act=step.who, next_step=step.does.replace("{id}", row.order_id),
        ))
    return StuckReport(older_than_seconds=int(older_than.total_seconds()), as_of=now, items=items)


def human_age(seconds: int) -> str:
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
        if len(parts) == 2:
            break
    return " ".join(parts) or f"{seconds}s"
