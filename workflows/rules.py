"""The business rules of an order, pure: no I/O, no clock, no Temporal.

The workflow, the update validators, the activities and the HTTP API all call these functions, so each
rule lives here once. Everything is deterministic and safe inside the workflow sandbox.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    ON_HOLD = "ON_HOLD"
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    PROCESSING = "PROCESSING"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


TERMINAL_STATUSES = frozenset({OrderStatus.COMPLETED, OrderStatus.CANCELLED})


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    SALES = "sales"
    FINANCE = "finance"
    WAREHOUSE = "warehouse"
    SYSTEM = "system"


class Command(StrEnum):
    """Everything a person or service can ask of the system; the permission table is keyed on it."""

    CREATE_ORDER = "create_order"
    VIEW_ORDER = "view_order"
    EDIT_ORDER = "edit_order"
    CHANGE_STATUS = "change_status"
    CANCEL_ORDER = "cancel_order"
    APPROVE_ORDER = "approve_order"
    RECORD_PAYMENT = "record_payment"
    CONFIRM_RECEIPT = "confirm_receipt"
    MANAGE_USERS = "manage_users"
    MANAGE_CUSTOMERS = "manage_customers"
    MANAGE_PRODUCTS = "manage_products"
    MANAGE_CATALOG = "manage_catalog"
    MANAGE_WEBHOOKS = "manage_webhooks"
    ADJUST_STOCK = "adjust_stock"
    VIEW_MASTER_DATA = "view_master_data"
    VIEW_REPORTS = "view_reports"


_ALL_ROLES = frozenset(Role)

# Who may do what. Data, documented in the README; `admin` may do everything.
PERMISSIONS: Mapping[Command, frozenset[Role]] = {
    Command.CREATE_ORDER: frozenset({Role.SALES, Role.MANAGER, Role.ADMIN, Role.SYSTEM}),
    Command.VIEW_ORDER: _ALL_ROLES,
    Command.EDIT_ORDER: frozenset({Role.SALES, Role.MANAGER, Role.ADMIN}),
    Command.CHANGE_STATUS: frozenset({Role.MANAGER, Role.WAREHOUSE, Role.SALES, Role.ADMIN, Role.SYSTEM}),
    Command.CANCEL_ORDER: frozenset({Role.SALES, Role.MANAGER, Role.ADMIN, Role.SYSTEM}),
    Command.APPROVE_ORDER: frozenset({Role.MANAGER, Role.ADMIN}),
    Command.RECORD_PAYMENT: frozenset({Role.FINANCE, Role.SYSTEM, Role.ADMIN}),
    Command.CONFIRM_RECEIPT: frozenset({Role.SYSTEM, Role.SALES, Role.ADMIN, Role.WAREHOUSE}),
    Command.MANAGE_USERS: frozenset({Role.ADMIN}),
    Command.MANAGE_CUSTOMERS: frozenset({Role.ADMIN, Role.MANAGER}),
    Command.MANAGE_PRODUCTS: frozenset({Role.ADMIN}),
    Command.MANAGE_CATALOG: frozenset({Role.ADMIN}),
    Command.MANAGE_WEBHOOKS: frozenset({Role.ADMIN}),
    Command.ADJUST_STOCK: frozenset({Role.ADMIN, Role.WAREHOUSE}),
    Command.VIEW_MASTER_DATA: _ALL_ROLES,
    Command.VIEW_REPORTS: frozenset({Role.ADMIN, Role.MANAGER, Role.FINANCE, Role.SALES}),
}

# Sales people only see and change the orders they own.
OWN_ORDERS_ONLY = frozenset({Role.SALES})


def is_permitted(role: Role | str, command: Command) -> bool:
    return Role(role) in PERMISSIONS[command]


def may_touch_order(role: Role | str, actor_id: str, owner_id: str | None) -> bool:
    """Ownership rule: sales act only on their own orders; every other role on any order."""
    return Role(role) not in OWN_ORDERS_ONLY or actor_id == owner_id


# --- durations -------------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> timedelta:
    """`45`, `45s`, `10m`, `24h`, `7d` (api.md) → timedelta; a timedelta passes through."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"invalid duration {value!r}: use seconds (45) or 45s, 10m, 24h, 7d")
    amount, unit = match.groups()
    return timedelta(seconds=int(amount) * _UNIT_SECONDS[unit])


# --- pricing ---------------------------------------------------------------------------------

CURRENCY = "CNY"
CENT = Decimal("0.01")


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def line_amount(unit_price: Decimal, quantity: int, discount_pct: Decimal) -> Decimal:
    """Amount of one line: price × quantity less the discount, rounded to the cent once."""
    return money(unit_price * quantity * (Decimal(100) - discount_pct) / Decimal(100))


def order_total(amounts: Iterable[Decimal]) -> Decimal:
    return money(sum(amounts, Decimal(0)))


# The largest amount the ledgers store (Numeric(14, 2)).
MAX_ORDER_TOTAL = Decimal("999999999999.99")


def total_refusal(total: Decimal) -> str | None:
    if total > MAX_ORDER_TOTAL:
        return f"the order total {total} is over the maximum {MAX_ORDER_TOTAL}; split the order"
    return None


# --- credit and approval ---------------------------------------------------------------------


def credit_fits(credit_limit: Decimal, credit_used: Decimal, amount: Decimal) -> bool:
    return credit_used + amount <= credit_limit


def needs_approval(total: Decimal, threshold: Decimal) -> bool:
    return total > threshold


class HoldReason(StrEnum):
    OVER_CREDIT_LIMIT = "over_credit_limit"
    ABOVE_APPROVAL_THRESHOLD = "above_approval_threshold"
    INSUFFICIENT_STOCK = "insufficient_stock"
    MANUAL = "manual_hold"


# --- status transitions ----------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    """One allowed manual status change (`POST /orders/{id}/status`)."""

    source: OrderStatus
    target: OrderStatus
    roles: frozenset[Role]
    reason_required: bool = False
    required_fields: tuple[str, ...] = ()


_WAREHOUSE = frozenset({Role.WAREHOUSE, Role.ADMIN, Role.SYSTEM})
_DECIDERS = frozenset({Role.MANAGER, Role.ADMIN})

# The table of status changes a person or service may ask for. The lifecycle's own moves (validate,
# reserve, ship in `auto`, settle) are made by the workflow and are not listed here; cancellation is
# the cancel command, never a status change.
TRANSITIONS: tuple[Transition, ...] = (
    Transition(OrderStatus.PROCESSING, OrderStatus.SHIPPED, _WAREHOUSE,
               required_fields=("tracking_number",)),
    Transition(OrderStatus.SHIPPED, OrderStatus.DELIVERED,
               frozenset({Role.WAREHOUSE, Role.SYSTEM, Role.SALES, Role.ADMIN})),
    Transition(OrderStatus.PROCESSING, OrderStatus.ON_HOLD,
               frozenset({Role.MANAGER, Role.WAREHOUSE, Role.ADMIN}), reason_required=True),
    Transition(OrderStatus.ON_HOLD, OrderStatus.PROCESSING, _DECIDERS),
)

# Sub-status labels per status the product starts with (a same-status change only sets the label).
# Admins manage the live catalog in the database (`sub_statuses`, seeded from this by migration 0003).
SUB_STATUSES: Mapping[OrderStatus, frozenset[str]] = {
    OrderStatus.PROCESSING: frozenset({"IN_PRODUCTION", "PACKED"}),
    OrderStatus.SHIPPED: frozenset({"AWAITING_ACCEPTANCE"}),
}
SUB_STATUS_ROLES = frozenset({Role.MANAGER, Role.WAREHOUSE, Role.SALES, Role.ADMIN, Role.SYSTEM})


def find_transition(source: OrderStatus, target: OrderStatus) -> Transition | None:
    return next((t for t in TRANSITIONS if t.source == source and t.target == target), None)


def allowed_targets(source: OrderStatus, role: Role | str) -> list[str]:
    return [t.target.value for t in TRANSITIONS if t.source == source and Role(role) in t.roles]


def check_status_change(
    source: OrderStatus,
    target: OrderStatus,
    role: Role | str,
    *,
    sub_status: str | None,
    reason: str | None,
    fields: Mapping[str, str | None],
    labels: Collection[str] | None = None,
) -> str | None:
    """Why a status change is refused, or None when the table allows it.

    `labels` is the admin-managed sub-status catalog of the target status; without it the
    catalog the product ships with (`SUB_STATUSES`) applies.
    """
    allowed_labels = frozenset(labels) if labels is not None else SUB_STATUSES.get(target, frozenset())
    if source in TERMINAL_STATUSES:
        return f"the order is {source.value}; no status change is possible"
    if target == OrderStatus.CANCELLED:
        return "cancelling is not a status change: use the cancel command (POST /orders/{id}/cancel)"
    if target == source:
        if sub_status is None:
            return f"the order is already {source.value}; give a sub_status to set a label"
        if Role(role) not in SUB_STATUS_ROLES:
            return f"role {role} may not set sub-statuses"
        if sub_status not in allowed_labels:
            allowed = ", ".join(sorted(allowed_labels)) or "none"
            return f"sub_status {sub_status!r} is not in the catalog for {source.value} (allowed: {allowed})"
        return None
    transition = find_transition(source, target)
    if transition is None or Role(role) not in transition.roles:
        allowed = ", ".join(allowed_targets(source, role)) or "none"
        return f"{source.value} → {target.value} is not allowed for role {role} (allowed: {allowed})"
    if transition.reason_required and not (reason and reason.strip()):
        return f"{source.value} → {target.value} requires a reason"
    missing = [name for name in transition.required_fields if not fields.get(name)]
    if missing:
        return f"{source.value} → {target.value} requires {', '.join(missing)}"
    if sub_status is not None and sub_status not in allowed_labels:
        return f"sub_status {sub_status!r} is not in the catalog for {target.value}"
    return None


# --- cancellation ----------------------------------------------------------------------------


class Compensation(StrEnum):
    REFUND = "refund"
    RESTOCK = "restock"
    RELEASE_RESERVATION = "release_reservation"
    RELEASE_CREDIT = "release_credit"


def cancel_refusal(status: OrderStatus, settling: bool) -> str | None:
    """Why a cancel is refused, or None. Allowed until COMPLETED, and once."""
    if status == OrderStatus.CANCELLED:
        return "the order is already cancelled; cancellation is irreversible"
    if status == OrderStatus.COMPLETED:
        return "the order is COMPLETED; a completed order cannot be cancelled (open a return instead)"
    if settling:
        # Settlement (invoice + capture) is one short step; it wins a race with cancel so that an
        # invoice is never issued for a voided order.
        return "the order is being settled; it cannot be cancelled any more"
    return None


def compensation_plan(
    *, captured: bool, shipped: bool, reserved: bool, credit_held: bool
) -> list[Compensation]:
    """The undo steps for what was done, in reverse order of the lifecycle."""
    plan: list[Compensation] = []
    if captured:
        plan.append(Compensation.REFUND)
    if shipped:
        plan.append(Compensation.RESTOCK)
    elif reserved:
        plan.append(Compensation.RELEASE_RESERVATION)
    if credit_held:
        plan.append(Compensation.RELEASE_CREDIT)
    return plan


# --- edits -----------------------------------------------------------------------------------

EDITABLE_FIELDS: Mapping[OrderStatus, frozenset[str]] = {
    OrderStatus.PENDING: frozenset({"lines", "shipping_address", "notes"}),
    OrderStatus.ON_HOLD: frozenset({"lines", "shipping_address", "notes"}),
    OrderStatus.AWAITING_PAYMENT: frozenset({"lines", "shipping_address", "notes"}),
    OrderStatus.PROCESSING: frozenset({"lines", "shipping_address", "notes"}),
    # The goods have left: only notes can change.
    OrderStatus.SHIPPED: frozenset({"notes"}),
    OrderStatus.DELIVERED: frozenset({"notes"}),
}


def edit_refusal(status: OrderStatus, *, settling: bool, paid: bool, fields: set[str]) -> str | None:
    """Why an edit of `fields` is refused in this state, or None."""
    if not fields:
        return "nothing to change: give lines, shipping_address or notes"
    if settling:
        return "the order is being settled; it cannot be edited any more"
    editable = EDITABLE_FIELDS.get(status, frozenset())
    refused = sorted(fields - editable)
    if refused:
        allowed = ", ".join(sorted(editable)) or "nothing"
        return f"{', '.join(refused)} cannot be edited when the order is {status.value} (editable: {allowed})"
    if paid and "lines" in fields:
        return "the order is paid; cancel it (the payment is refunded) and place a new order to change lines"
    return None
