"""Typed SQLAlchemy 2 models: master data, ledgers, the order read model and the audit trail.

Money is `Numeric(14, 2)` (exact on both SQLite and PostgreSQL); times are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UtcDateTime(TypeDecorator[datetime]):
    """Stores UTC and always hands back an aware datetime (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


Money = Numeric(14, 2, asdecimal=True)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime, Decimal: Money, dict[str, Any]: JSON,
    }


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (CheckConstraint("credit_used >= 0", name="ck_customers_credit_used"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    credit_limit: Mapped[Decimal]
    credit_used: Mapped[Decimal] = mapped_column(default=Decimal(0))
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="ck_products_on_hand"),
        CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="ck_products_reserved"),
    )
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    unit_price: Mapped[Decimal]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)


class StockMovement(Base):
    """Every change of `on_hand`, so stock can be balanced: initial − shipped + restocked = on hand."""

    __tablename__ = "stock_movements"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"), index=True)
    delta: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))  # adjust | ship | restock
    reason: Mapped[str | None] = mapped_column(String(500))
    order_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # Idempotency: one movement per (order, kind, sku) for movements an order causes.
    key: Mapped[str | None] = mapped_column(String(200), unique=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class StockReservation(Base):
    """Open reservations; `products.reserved` is always their sum per SKU."""

    __tablename__ = "stock_reservations"
    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"), primary_key=True)
    quantity: Mapped[int]


class CreditHold(Base):
    """The credit exposure one order holds; `customers.credit_used` is their sum per customer."""

    __tablename__ = "credit_holds"
    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    amount: Mapped[Decimal]


class Order(Base):
    """Read model of an order for lists and reports; the live state is the workflow's query."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_status_updated", "status", "updated_at"),
        Index("ix_orders_created", "created_at", "order_id"),
    )
    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    sub_status: Mapped[str | None] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer, default=1)
    revision: Mapped[int] = mapped_column(Integer, default=0)  # guards against stale projections
    customer_id: Mapped[str] = mapped_column(String(64), index=True)
    owner_id: Mapped[str] = mapped_column(String(64), index=True)
    total: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    payment_terms: Mapped[str] = mapped_column(String(10))
    fulfillment: Mapped[str] = mapped_column(String(10))
    needs_attention: Mapped[bool] = mapped_column(Boolean, default=False)
    attention_reason: Mapped[str | None] = mapped_column(String(500))
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    view: Mapped[dict[str, Any]] = mapped_column(JSON)  # the last projected order view
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class OrderLine(Base):
    __tablename__ = "order_lines"
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    quantity: Mapped[int]
    unit_price: Mapped[Decimal]
    discount_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    amount: Mapped[Decimal]


class Shipment(Base):
    __tablename__ = "shipments"
    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    carrier: Mapped[str] = mapped_column(String(64))
    tracking_number: Mapped[str] = mapped_column(String(64), unique=True)
    shipped_at: Mapped[datetime]


class Counter(Base):
    """Named counters; the invoice number is taken from one in the invoice's own transaction."""

    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class Invoice(Base):
    __tablename__ = "invoices"
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    order_id: Mapped[str] = mapped_column(String(64), unique=True)
    amount: Mapped[Decimal]
    issued_at: Mapped[datetime]


class Payment(Base):
    """Money ledger: captures and refunds; the idempotency key makes a retried step count once."""

    __tablename__ = "payments"
    __table_args__ = (CheckConstraint("amount > 0", name="ck_payments_amount"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # capture | refund
    amount: Mapped[Decimal]
    reference: Mapped[str] = mapped_column(String(200))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Return(Base):
    __tablename__ = "returns"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), unique=True)
    lines: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_order_at", "order_id", "at"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    accepted: Mapped[bool] = mapped_column(Boolean, default=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64))


# --- notifications: the outbox and webhooks ---------------------------------------------------


class OutboxEvent(Base):
    """One event per status change of an order, written in the transaction that saves the change.

    `audit_id` (the audit entry the change came from) makes a retried projection write it once;
    `sequence` numbers an order's events 1, 2, 3… without gaps, so a receiver can order them and
    notice one it missed. `fanned_out_at` stays NULL until delivery rows exist for every webhook.
    """

    __tablename__ = "outbox_events"
    __table_args__ = (
        UniqueConstraint("order_id", "sequence", name="uq_outbox_events_order_sequence"),
        Index("ix_outbox_events_pending", "fanned_out_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    audit_id: Mapped[str] = mapped_column(String(64), unique=True)
    order_id: Mapped[str] = mapped_column(String(64))
    sequence: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    fanned_out_at: Mapped[datetime | None]


class Webhook(Base):
    """An endpoint that receives events, signed with its secret; removing one keeps its log."""

    __tablename__ = "webhooks"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    # Kept in clear: the HMAC needs it. Shown to the admin once, when the webhook is added.
    secret: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    events: Mapped[list[str] | None] = mapped_column(JSON)  # event types wanted; NULL: all
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[datetime | None]


class WebhookDelivery(Base):
    """One event for one webhook: its state, attempts and the log of each attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id", name="uq_webhook_deliveries_webhook_event"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_event", "event_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id"))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|delivered|failed|cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # [{at, status_code, error, ms}] of the latest attempts, oldest first
    log: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)



class SubStatus(Base):
    """The admin-managed catalog of sub-status labels per status (seeded from rules.SUB_STATUSES)."""

    __tablename__ = "sub_statuses"
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    label: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

__all__ = [
    "AuditEvent",
    "Base",
    "Counter",
    "CreditHold",
    "Customer",
    "Invoice",
    "Order",
    "OrderLine",
    "OutboxEvent",
    "Payment",
    "Product",
    "Return",
    "Shipment",
    "StockMovement",
    "StockReservation",
    "SubStatus",
    "User",
    "Webhook",
    "WebhookDelivery",
]
