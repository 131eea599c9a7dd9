"""The typed Python client: for backend services that prefer Python to HTTP.

It calls the same service layer as the HTTP API and the CLI (`starter.service.Services`), in process,
so it answers exactly what the API answers, with pydantic models instead of JSON::

    from starter.client import OrdersClient, OrdersError
    from workflows.models import Address, LineIn, NewOrder

    async with OrdersClient.connect(token="…") as orders:
        view = await orders.create_order(NewOrder(...), idempotency_key="shop-4711")
        try:
            view = await orders.cancel(view.order_id, reason="customer changed mind")
        except OrdersError as refused:  # refused.status, .code, .message, .details as over HTTP
            ...

Every call carries a request id (a fresh uuid4 unless `request_id=` is given) that lands in the
order's audit trail, like the HTTP API's `X-Request-ID`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from starter.reports import CancellationReport, CorrectionsReport, GroupBy, SalesReport, StuckReport
from starter.service import (
    MAX_PAGE,
    Accepted,
    CommandName,
    CreatedUser,
    CustomerView,
    NewCustomer,
    NewProduct,
    NewUser,
    OrderPage,
    ProductView,
    ServiceError,
    Services,
    invalid_input,
)
from starter.settings import Settings
from workflows.models import Actor, Address, AuditEntry, LineIn, NewOrder, OrderView
from workflows.rules import OrderStatus, Role

# A refusal: `status` (the HTTP status it would have), `code`, `message`, `details`.
OrdersError = ServiceError

When = str | date | datetime | None


class OrderViewPage(BaseModel):
    """One page of `list_orders`, typed."""

    items: list[OrderView]
    next_cursor: str | None = None


__all__ = ["Accepted", "OrderViewPage", "OrdersClient", "OrdersError"]


class OrdersClient:
    """One authenticated caller of the order service. Build with `connect()` (own connections) or
    `for_services()` (share a running `Services`, e.g. inside the API process or a test)."""

    def __init__(self, services: Services, actor: Actor) -> None:
        self.services = services
        self.actor = actor

    @classmethod
    @asynccontextmanager
    async def connect(cls, settings: Settings | None = None, *, token: str) -> AsyncIterator[OrdersClient]:
        """Connect to the database and Temporal from `settings` (the environment by default) and
        authenticate `token`; closes the connections on exit."""
        services = await Services.open(settings)
        try:
            yield await cls.for_services(services, token=token)
        finally:
            await services.close()

    @classmethod
    async def for_services(cls, services: Services, *, token: str) -> OrdersClient:
        return cls(services, await services.authenticate(token))

    @property
    def user_id(self) -> str:
        return self.actor.id

    @property
    def role(self) -> Role:
        return self.actor.role

    def _as(self, request_id: str | None) -> Actor:
        return self.actor.model_copy(update={"request_id": (request_id or uuid.uuid4().hex)[:64]})

    # --- orders ------------------------------------------------------------------------------------

    async def create_order(self, order: NewOrder, *, idempotency_key: str | None = None,
                           request_id: str | None = None) -> OrderView:
        """Start an order; the same `idempotency_key` and body give back the same order."""
        return await self.services.create_order(self._as(request_id), order, idempotency_key)

    async def get_order(self, order_id: str, *, request_id: str | None = None) -> OrderView:
        return await self.services.get_order(self._as(request_id), order_id)

    async def list_orders(self, *, status: OrderStatus | str | None = None, customer_id: str | None = None,
                          owner_id: str | None = None, limit: int = 50, cursor: str | None = None,
                          request_id: str | None = None) -> OrderViewPage:
        """One page, newest first; pass `next_cursor` back as `cursor` for the next one."""
        if status is not None and status not in set(OrderStatus):
            raise invalid_input([{"field": "status", "type": "enum",
                                  "message": f"one of {', '.join(OrderStatus)}"}])
        page: OrderPage = await self.services.list_orders(
            self._as(request_id), status=OrderStatus(status) if status else None, customer_id=customer_id,
            owner_id=owner_id, limit=limit, cursor=cursor)
        return OrderViewPage(items=[OrderView.model_validate(item) for item in page.items],
                             next_cursor=page.next_cursor)

    async def iter_orders(self, *, status: OrderStatus | str | None = None, customer_id: str | None = None,
                          owner_id: str | None = None, page_size: int = MAX_PAGE) -> AsyncIterator[OrderView]:
        """Every matching order, page after page."""
        cursor: str | None = None
        while True:
            page = await self.list_orders(status=status, customer_id=customer_id, owner_id=owner_id,
                                          limit=page_size, cursor=cursor)
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def history(self, order_id: str, *, request_id: str | None = None) -> list[AuditEntry]:
        return await self.services.history(self._as(request_id), order_id)

    # --- commands (each answers with the new view; refusals raise OrdersError) ------------------------

    async def _command(self, order_id: str, name: CommandName, body: dict[str, Any],
                       request_id: str | None) -> OrderView:
        result = await self.services.command(self._as(request_id), order_id, name, body, wait=True)
        assert isinstance(result, OrderView)
        return result

    async def send(self, order_id: str, name: CommandName, body: dict[str, Any] | None = None, *,
                   request_id: str | None = None) -> Accepted:
        """Fire and forget (the HTTP API's `?wait=false`): delivered as a signal; a refusal by the
        order is recorded in its history."""
        result = await self.services.command(self._as(request_id), order_id, name, body, wait=False)
        assert isinstance(result, Accepted)
        return result

    async def pay(self, order_id: str, *, amount: Decimal | str, reference: str,
                  request_id: str | None = None) -> OrderView:
        return await self._command(order_id, "pay", {"amount": amount, "reference": reference}, request_id)

    async def confirm_receipt(self, order_id: str, *, signed_by: str | None = None,
                              request_id: str | None = None) -> OrderView:
        return await self._command(order_id, "confirm_receipt", {"signed_by": signed_by}, request_id)

    async def approve(self, order_id: str, *, reason: str | None = None,
                      request_id: str | None = None) -> OrderView:
        return await self._command(order_id, "approve", {"reason": reason}, request_id)

    async def reject(self, order_id: str, *, reason: str, request_id: str | None = None) -> OrderView:
        return await self._command(order_id, "reject", {"reason": reason}, request_id)

    async def change_status(self, order_id: str, status: OrderStatus | str, *, sub_status: str | None = None,
                            reason: str | None = None, carrier: str | None = None,
                            tracking_number: str | None = None, request_id: str | None = None) -> OrderView:
        body = {"status": status, "sub_status": sub_status, "reason": reason, "carrier": carrier,
                "tracking_number": tracking_number}
        return await self._command(order_id, "change_status", body, request_id)

    async def cancel(self, order_id: str, *, reason: str, request_id: str | None = None) -> OrderView:
        return await self._command(order_id, "cancel", {"reason": reason}, request_id)

    async def edit(self, order_id: str, *, reason: str, lines: list[LineIn] | None = None,
                   shipping_address: Address | None = None, notes: str | None = None,
                   expected_version: int | None = None, request_id: str | None = None) -> OrderView:
        body = {"reason": reason, "lines": lines, "shipping_address": shipping_address, "notes": notes,
                "expected_version": expected_version}
        return await self._command(order_id, "edit", body, request_id)

    # --- reports ---------------------------------------------------------------------------------------

    async def sales_report(self, *, from_: When = None, to: When = None, group_by: GroupBy = "day",
                           request_id: str | None = None) -> SalesReport:
        return await self.services.sales_report(self._as(request_id), from_=from_, to=to, group_by=group_by)

    async def cancellations_report(self, *, from_: When = None, to: When = None,
                                   request_id: str | None = None) -> CancellationReport:
        return await self.services.cancellations_report(self._as(request_id), from_=from_, to=to)

    async def corrections_report(self, *, from_: When = None, to: When = None,
                                 request_id: str | None = None) -> CorrectionsReport:
        return await self.services.corrections_report(self._as(request_id), from_=from_, to=to)

    async def stuck_orders(self, *, older_than: str | timedelta = "1h", limit: int = 100,
                           request_id: str | None = None) -> StuckReport:
        return await self.services.stuck_orders(self._as(request_id), older_than=older_than, limit=limit)

    # --- master data -----------------------------------------------------------------------------------

    async def create_user(self, user: NewUser) -> CreatedUser:
        return await self.services.create_user(self._as(None), user)

    async def create_customer(self, customer: NewCustomer) -> CustomerView:
        return await self.services.create_customer(self._as(None), customer)

    async def get_customer(self, customer_id: str) -> CustomerView:
        return await self.services.get_customer(self._as(None), customer_id)

    async def create_product(self, product: NewProduct) -> ProductView:
        return await self.services.create_product(self._as(None), product)

    async def get_product(self, sku: str) -> ProductView:
        return await self.services.get_product(self._as(None), sku)

    async def adjust_stock(self, sku: str, *, delta: int, reason: str) -> ProductView:
        return await self.services.adjust_stock(self._as(None), sku, delta, reason)
