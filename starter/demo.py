"""Demo data for `orders dev`: users, customers, products and orders in several states.

Everything goes through the service layer, exactly as an API client would: the orders are real
workflows, so a new user finds them in the Temporal UI (filter `OrderStatus="ON_HOLD"`) and the API.
Seeding runs once: the marker customer is created last, so a database that holds it is complete and
is left as it is; a seeding interrupted earlier simply runs again (existing master data is kept).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from starter.service import NewCustomer, NewProduct, NewUser, ServiceError, Services
from workflows.models import Actor, NewOrder, OrderView
from workflows.rules import OrderStatus, Role

MARKER_CUSTOMER = "demo-acme"
STATE_TIMEOUT = 30.0  # seconds for one demo order to reach its state (the worker runs alongside)

CUSTOMERS = (
    NewCustomer(id="demo-globex", name="Globex Retail", credit_limit=Decimal("20000")),
    # A small limit, so a credit order goes ON_HOLD for a manager (over_credit_limit).
    NewCustomer(id="demo-corner", name="Corner Shop", credit_limit=Decimal("200")),
    # No orders yet: the one for your first order (the banner's curl example). Created last.
    NewCustomer(id=MARKER_CUSTOMER, name="Acme Trading Co.", credit_limit=Decimal("50000")),
)

PRODUCTS = (
    NewProduct(sku="DEMO-CHAIR", name="Office chair", unit_price=Decimal("899.00"), on_hand=100),
    NewProduct(sku="DEMO-DESK", name="Standing desk", unit_price=Decimal("2499.00"), on_hand=50),
    NewProduct(sku="DEMO-LAMP", name="Desk lamp", unit_price=Decimal("129.90"), on_hand=200),
)

ADDRESS = {"name": "Li Wei", "phone": "+86 21 5555 0100", "line1": "88 Century Avenue",
           "city": "Shanghai", "postal_code": "200120", "country": "CN"}


class DemoUser(BaseModel):
    id: str
    name: str
    role: Role
    token: str


class DemoInfo(BaseModel):
    """What was seeded; `created` is False when the demo data was already there."""

    created: bool
    users: list[DemoUser] = []
    customers: list[str] = [c.id for c in CUSTOMERS]
    products: list[str] = [p.sku for p in PRODUCTS]
    orders: dict[str, str] = {}  # the state it was left in → order id


def _order(customer_id: str, terms: str, lines: dict[str, int], *, fulfillment: str = "auto",
           notes: str, owner_id: str) -> NewOrder:
    return NewOrder.model_validate({
        "customer_id": customer_id,
        "lines": [{"sku": sku, "quantity": qty} for sku, qty in lines.items()],
        "shipping_address": ADDRESS,
        "payment_terms": terms,
        "fulfillment": fulfillment,
        "notes": notes,
        "owner_id": owner_id,
    })


async def wait_for_status(services: Services, actor: Actor, order_id: str, status: OrderStatus,
                          timeout: float = STATE_TIMEOUT) -> OrderView:
    """Poll the live view until the order is in `status` (the worker moves it along)."""
    deadline = time.monotonic() + timeout
    while True:
        view = await services.get_order(actor, order_id)
        if view.status == status:
            return view
        if time.monotonic() > deadline:
            raise TimeoutError(f"demo order {order_id} stayed {view.status.value}, expected {status.value}")
        await asyncio.sleep(0.2)


async def _ignore_existing(create: Awaitable[Any]) -> None:
    """Create, or keep what a previous, interrupted seeding already created."""
    try:
        await create
    except ServiceError as exc:
        if exc.code != "already_exists":
            raise


async def is_seeded(services: Services, admin: Actor) -> bool:
    try:
        await services.get_customer(admin, MARKER_CUSTOMER)
    except ServiceError as exc:
        if exc.status == 404:
            return False
        raise
    return True


async def seed_demo(services: Services, admin_actor: Actor) -> DemoInfo:
    """Seed the demo data once; later calls find the marker customer and return created=False."""
    if await is_seeded(services, admin_actor):
        return DemoInfo(created=False)
    users = []
    for role in (Role.MANAGER, Role.SALES, Role.FINANCE, Role.WAREHOUSE, Role.SYSTEM):
        made = await services.create_user(admin_actor, NewUser(name=f"Demo {role.value}", role=role))
        users.append(DemoUser(id=made.id, name=made.name, role=made.role, token=made.token))
    for product in PRODUCTS:
        await _ignore_existing(services.create_product(admin_actor, product))
    *customers, marker = CUSTOMERS
    for customer in customers:
        await _ignore_existing(services.create_customer(admin_actor, customer))

    sales = next(u for u in users if u.role == Role.SALES)
    seller = Actor(id=sales.id, role=Role.SALES)
    orders: dict[str, str] = {}

    async def place(state: OrderStatus, order: NewOrder) -> str:
        view = await services.create_order(seller, order, idempotency_key=f"demo-{state.value.lower()}")
        await wait_for_status(services, seller, view.order_id, _first_stop(state, order))
        orders[state.value] = view.order_id
        return view.order_id

    done = await place(OrderStatus.COMPLETED, _order(
        "demo-globex", "credit", {"DEMO-CHAIR": 2}, owner_id=sales.id,
        notes="Demo: shipped, receipt confirmed, invoiced and settled."))
    await services.command(seller, done, "confirm_receipt", {"signed_by": "Li Wei"})
    await wait_for_status(services, seller, done, OrderStatus.COMPLETED)

    await place(OrderStatus.SHIPPED, _order(
        "demo-globex", "credit", {"DEMO-LAMP": 5}, owner_id=sales.id,
        notes="Demo: booked with the local carrier, waiting for the customer to confirm receipt."))
    await place(OrderStatus.AWAITING_PAYMENT, _order(
        "demo-globex", "prepaid", {"DEMO-DESK": 1}, owner_id=sales.id,
        notes="Demo: prepaid; record a payment (finance) or it cancels when the window passes."))
    await place(OrderStatus.ON_HOLD, _order(
        "demo-corner", "credit", {"DEMO-DESK": 1}, owner_id=sales.id,
        notes="Demo: over the customer's credit limit; a manager approves or rejects."))
    await place(OrderStatus.PROCESSING, _order(
        "demo-globex", "credit", {"DEMO-DESK": 2, "DEMO-CHAIR": 2}, fulfillment="manual",
        owner_id=sales.id,
        notes="Demo: manual fulfilment; the warehouse sets SHIPPED with a tracking number."))

    cancelled = await place(OrderStatus.CANCELLED, _order(
        "demo-globex", "prepaid", {"DEMO-LAMP": 3}, owner_id=sales.id,
        notes="Demo: cancelled before payment; the stock reservation was released."))
    await services.command(seller, cancelled, "cancel", {"reason": "customer changed their mind"})
    await wait_for_status(services, seller, cancelled, OrderStatus.CANCELLED)

    await _ignore_existing(services.create_customer(admin_actor, marker))  # seeding is complete
    return DemoInfo(created=True, users=users, orders=orders)


def _first_stop(state: OrderStatus, order: NewOrder) -> OrderStatus:
    """Where the worker leaves a new order on its own, before the demo acts on it."""
    if state == OrderStatus.COMPLETED:
        return OrderStatus.SHIPPED
    if state == OrderStatus.CANCELLED:
        return OrderStatus.AWAITING_PAYMENT if order.payment_terms == "prepaid" else OrderStatus.PROCESSING
    return state
