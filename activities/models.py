"""Inputs and results of the activities (one input model per call; fields are added compatibly)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field

from workflows.models import (
    Address,
    AuditEntry,
    InvoiceView,
    NewOrder,
    OrderView,
    PaymentView,
    PricedLine,
    ReturnView,
    ShipmentView,
)


class ValidateInput(BaseModel):
    order_id: str
    order: NewOrder


class ValidatedOrder(BaseModel):
    lines: list[PricedLine]
    total: Decimal


class CreditInput(BaseModel):
    order_id: str
    customer_id: str
    amount: Decimal
    # A manager approved the order over the limit: hold the exposure anyway.
    force: bool = False


class CreditResult(BaseModel):
    held: bool
    credit_limit: Decimal
    credit_used: Decimal


class StockLine(BaseModel):
    sku: str
    quantity: int


class ReserveInput(BaseModel):
    order_id: str
    # The order's reservation becomes exactly these lines (all or nothing); an edit passes the new
    # lines and only the difference moves.
    lines: list[StockLine]


class ReserveResult(BaseModel):
    reserved: bool
    # sku -> units available now, for each line that did not fit
    short: dict[str, int] = Field(default_factory=dict)


class OrderRef(BaseModel):
    order_id: str


class CaptureInput(BaseModel):
    order_id: str
    amount: Decimal
    reference: str


class ShipInput(BaseModel):
    order_id: str
    lines: list[StockLine]
    shipping_address: Address
    # Given for a manual shipment; the carrier adapter books one when absent.
    carrier: str | None = None
    tracking_number: str | None = None


class SettleInput(BaseModel):
    order_id: str
    amount: Decimal


class SettleResult(BaseModel):
    invoice: InvoiceView
    payments: list[PaymentView]


class RestockInput(BaseModel):
    order_id: str
    lines: list[PricedLine]


class ProjectInput(BaseModel):
    """The read model of one order at a revision, plus audit entries not yet stored."""

    view: OrderView
    revision: int
    audit: list[AuditEntry] = Field(default_factory=list)
    idempotency_key: str | None = None


__all__ = [
    "AuditEntry",
    "CaptureInput",
    "CreditInput",
    "CreditResult",
    "InvoiceView",
    "OrderRef",
    "PaymentView",
    "ProjectInput",
    "ReserveInput",
    "ReserveResult",
    "RestockInput",
    "ReturnView",
    "SettleInput",
    "SettleResult",
    "ShipInput",
    "ShipmentView",
    "StockLine",
    "ValidateInput",
    "ValidatedOrder",
]
