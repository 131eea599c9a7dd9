"""Messages of the order workflow: its input, the commands it accepts and the view it returns.

All are pydantic models carried by the pydantic data converter. The `*Body` models are what an HTTP or
Python client sends; the matching `*Command` adds the actor the service layer authenticated. Fields may
be added compatibly (with defaults); never renamed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from workflows.rules import CURRENCY, OrderStatus, Role


def _printable(value: str) -> str:
    """Control characters (NUL above all) break databases and logs; line breaks and tabs are text."""
    bad = sorted({f"U+{ord(c):04X}" for c in value if (ord(c) < 32 and c not in "\n\r\t") or ord(c) == 127})
    if bad:
        raise ValueError(f"control characters are not allowed ({', '.join(bad)})")
    return value


Printable = AfterValidator(_printable)
NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Printable]
Sku = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), Printable]
Notes = Annotated[str, StringConstraints(max_length=2000), Printable]
OptionalText = Annotated[str, StringConstraints(max_length=500), Printable]
PaymentTerms = Literal["prepaid", "credit"]
Fulfillment = Literal["auto", "manual"]

MAX_QUANTITY = 100_000
MAX_LINES = 100


class Strict(BaseModel):
    """Unknown fields are refused: a typo in a field name must not be silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Actor(BaseModel):
    id: str
    role: Role
    request_id: str | None = None


class Address(Strict):
    name: NonEmpty
    phone: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 ()-]{5,19}$")]
    line1: NonEmpty
    city: NonEmpty
    postal_code: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9 -]{3,10}$")]
    country: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Z]{2}$")] = Field(
        description="ISO 3166-1 alpha-2 code, e.g. CN"
    )


class LineIn(Strict):
    sku: Sku
    quantity: int = Field(gt=0, le=MAX_QUANTITY, strict=True)  # strict: `true` is not 1
    discount_pct: Decimal = Field(default=Decimal(0), ge=0, le=100, decimal_places=2)


class NewOrder(Strict):
    customer_id: NonEmpty
    lines: list[LineIn] = Field(min_length=1, max_length=MAX_LINES)
    shipping_address: Address
    payment_terms: PaymentTerms
    fulfillment: Fulfillment | None = None
    notes: Notes | None = None
    owner_id: str | None = None

    @field_validator("lines")
    @classmethod
    def _one_line_per_sku(cls, lines: list[LineIn]) -> list[LineIn]:
        seen: set[str] = set()
        for line in lines:
            if line.sku in seen:
                raise ValueError(f"sku {line.sku} appears twice; give one line per sku")
            seen.add(line.sku)
        return lines


class OrderPolicy(BaseModel):
    """Timers and thresholds fixed when the order starts, so a config change never rewrites history."""

    payment_window: timedelta
    receipt_auto_confirm: timedelta
    hold_timeout: timedelta
    approval_threshold: Decimal


class OrderInput(BaseModel):
    order_id: str
    order: NewOrder
    fulfillment: Fulfillment
    owner_id: str
    created_by: Actor
    policy: OrderPolicy
    idempotency_key: str | None = None
    request_hash: str | None = None


class PricedLine(BaseModel):
    sku: str
    quantity: int
    unit_price: Decimal
    discount_pct: Decimal
    amount: Decimal


class ShipmentView(BaseModel):
    carrier: str
    tracking_number: str
    shipped_at: datetime


class InvoiceView(BaseModel):
    number: int
    amount: Decimal
    issued_at: datetime


class PaymentView(BaseModel):
    kind: Literal["capture", "refund"]
    amount: Decimal
    reference: str
    at: datetime


class ReturnView(BaseModel):
    id: str
    lines: list[PricedLine]
    created_at: datetime


class OrderView(BaseModel):
    order_id: str
    status: OrderStatus
    sub_status: str | None = None
    version: int = 1
    customer_id: str
    owner_id: str
    lines: list[PricedLine]
    total: Decimal
    currency: str = CURRENCY
    shipping_address: Address
    payment_terms: PaymentTerms
    fulfillment: Fulfillment
    notes: str | None = None
    needs_attention: bool = False
    attention_reason: str | None = None
    hold_reason: str | None = None
    waiting_for: str | None = None
    shipment: ShipmentView | None = None
    invoice: InvoiceView | None = None
    payments: list[PaymentView] = Field(default_factory=list)
    return_: ReturnView | None = Field(default=None, alias="return", serialization_alias="return")
    cancel_reason: str | None = None
    compensation_pending: list[str] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime

    model_config = ConfigDict(populate_by_name=True)


class AuditEntry(BaseModel):
    id: str
    order_id: str
    at: datetime
    actor: str
    role: str
    action: str
    accepted: bool = True
    from_status: str | None = None
    to_status: str | None = None
    changes: dict[str, list[object]] = Field(default_factory=dict)
    reason: str | None = None
    request_id: str | None = None


# --- commands --------------------------------------------------------------------------------


class PaymentBody(Strict):
    amount: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    reference: NonEmpty


class ReceiptBody(Strict):
    signed_by: Annotated[str, StringConstraints(max_length=200), Printable] | None = None


class ApproveBody(Strict):
    reason: OptionalText | None = None


class RejectBody(Strict):
    reason: Reason


class CancelBody(Strict):
    reason: Reason


class StatusBody(Strict):
    status: OrderStatus
    sub_status: str | None = None
    reason: OptionalText | None = None
    carrier: Annotated[str, StringConstraints(max_length=64), Printable] | None = None
    tracking_number: Annotated[str, StringConstraints(max_length=64), Printable] | None = None


class EditBody(Strict):
    expected_version: int | None = Field(default=None, ge=1)
    lines: list[LineIn] | None = Field(default=None, min_length=1, max_length=MAX_LINES)
    shipping_address: Address | None = None
    notes: Notes | None = None
    reason: Reason


class PaymentCommand(PaymentBody):
    actor: Actor


class ReceiptCommand(ReceiptBody):
    actor: Actor


class ApproveCommand(ApproveBody):
    actor: Actor


class RejectCommand(RejectBody):
    actor: Actor


class CancelCommand(CancelBody):
    actor: Actor


class StatusCommand(StatusBody):
    actor: Actor
    # The admin-managed sub-status labels of the target status, looked up by the service layer
    # (the workflow cannot read the database in a validator). None: the built-in catalog.
    sub_status_catalog: list[str] | None = None


class EditCommand(EditBody):
    actor: Actor
