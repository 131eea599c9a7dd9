"""The Python client and the HTTP API reach the same results on the same orders (one service layer)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from starter.client import OrdersClient, OrdersError
from starter.service import Services
from tests.api.conftest import ADMIN_TOKEN, Person
from tests.api.support import ADDRESS, make_catalog, new_id, order_body, wait_for
from workflows.models import Address, LineIn, NewOrder
from workflows.rules import OrderStatus, Role


def as_json(model: BaseModel | list[Any]) -> Any:
    if isinstance(model, list):
        return [as_json(item) for item in model]
    return model.model_dump(mode="json", by_alias=True)


def new_order(catalog: dict[str, str], **overrides: Any) -> NewOrder:
    return NewOrder.model_validate(order_body(catalog, **overrides))


@pytest.fixture
async def shop(order_services: Services, people: dict[Role, Person]) -> OrdersClient:
    """The client of a backend service (role system), sharing the API's service layer."""
    token = people[Role.SYSTEM].headers["Authorization"].removeprefix("Bearer ")
    return await OrdersClient.for_services(order_services, token=token)


async def test_an_order_made_with_the_client_reads_the_same_over_http(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], shop: OrdersClient, people: dict[Role, Person]
) -> None:
    headers = people[Role.SYSTEM].headers
    view = await shop.create_order(new_order(catalog))
    assert view.total == Decimal("286.80") and view.owner_id == shop.user_id
    path = f"/orders/{view.order_id}"
    settled = await wait_for(orders_api, path, headers, lambda v: v["status"] == "SHIPPED")
    assert as_json(await shop.get_order(view.order_id)) == settled
    assert as_json(await shop.history(view.order_id)) == (await orders_api.get(f"{path}/history",
                                                                               headers=headers)).json()


async def test_one_idempotency_key_is_one_order_through_both(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], shop: OrdersClient, people: dict[Role, Person]
) -> None:
    key = new_id("key")
    over_http = await orders_api.post("/orders", json=order_body(catalog),
                                      headers={**people[Role.SYSTEM].headers, "Idempotency-Key": key})
    assert over_http.status_code == 201
    again = await shop.create_order(new_order(catalog), idempotency_key=key)
    assert again.order_id == over_http.json()["order_id"]
    with pytest.raises(OrdersError) as refused:
        await shop.create_order(new_order(catalog, notes="another body"), idempotency_key=key)
    assert (refused.value.status, refused.value.code) == (409, "idempotency_key_reused")


async def test_commands_through_the_client_carry_their_request_id_into_the_history(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], shop: OrdersClient, people: dict[Role, Person]
) -> None:
    order = await shop.create_order(new_order(catalog, fulfillment="manual"))
    await wait_for(orders_api, f"/orders/{order.order_id}", people[Role.SYSTEM].headers,
                   lambda v: v["status"] == "PROCESSING")
    shipped = await shop.change_status(order.order_id, OrderStatus.SHIPPED, carrier="SF Express",
                                       tracking_number=new_id("SF"), request_id="shop-req-1")
    assert shipped.status == OrderStatus.SHIPPED
    cancelled = await shop.cancel(order.order_id, reason="customer changed mind", request_id="shop-req-2")
    assert cancelled.status == OrderStatus.CANCELLED
    history = await wait_for(orders_api, f"/orders/{order.order_id}/history", people[Role.SYSTEM].headers,
                             lambda entries: any(e["action"] == "cancel" for e in entries))
    by_action = {e["action"]: e for e in history}
    assert by_action["ship"]["request_id"] == "shop-req-1"
    assert by_action["cancel"]["request_id"] == "shop-req-2"
    assert by_action["create"]["request_id"]  # a fresh uuid when none is given


async def test_refusals_are_the_same_errors_as_over_http(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], order_services: Services, admin: dict[str, str]
) -> None:
    client = await OrdersClient.for_services(order_services, token=ADMIN_TOKEN)
    order = (await orders_api.post("/orders", json=order_body(catalog), headers=admin)).json()
    cases = [
        (client.get_order("no-such-order"), ("GET", "/orders/no-such-order", None)),
        (client.edit(order["order_id"], reason="r", notes="n", expected_version=99),
         ("PATCH", f"/orders/{order['order_id']}", {"reason": "r", "notes": "n", "expected_version": 99})),
        (client.pay(order["order_id"], amount="286.80", reference="P-1"),
         ("POST", f"/orders/{order['order_id']}/payment", {"amount": "286.80", "reference": "P-1"})),
        (client.list_orders(cursor="garbage!"), ("GET", "/orders?cursor=garbage!", None)),
        (client.stuck_orders(older_than="soon"), ("GET", "/reports/stuck?older_than=soon", None)),
        (client.cancel(order["order_id"], reason=" "),
         ("POST", f"/orders/{order['order_id']}/cancel", {"reason": " "})),
    ]
    for call, (method, path, body) in cases:
        with pytest.raises(OrdersError) as refused:
            await call
        answer = await orders_api.request(method, path, json=body, headers=admin)
        error = answer.json()["error"]
        assert (refused.value.status, refused.value.code) == (answer.status_code, error["code"]), path
        if answer.status_code == 404:
            assert refused.value.message == error["message"]
        if answer.status_code == 422:
            assert [d["field"] for d in refused.value.details] == [d["field"] for d in error["details"]]


async def test_lists_and_reports_are_the_same_through_both(
    orders_api: httpx.AsyncClient, shop: OrdersClient, people: dict[Role, Person], admin: dict[str, str]
) -> None:
    catalog = await make_catalog(orders_api, admin)
    headers = people[Role.SYSTEM].headers
    for _ in range(3):
        await shop.create_order(new_order(catalog))
    query = f"/orders?customer_id={catalog['customer']}&limit=2"
    first = await wait_for(orders_api, query, headers, lambda page: page["next_cursor"] is not None)
    page = await shop.list_orders(customer_id=catalog["customer"], limit=2)
    assert as_json(page)["next_cursor"] == first["next_cursor"]
    assert [o.order_id for o in page.items] == [o["order_id"] for o in first["items"]]
    everything = [o.order_id async for o in shop.iter_orders(customer_id=catalog["customer"], page_size=2)]
    assert len(everything) == 3 and everything[:2] == [o["order_id"] for o in first["items"]]
    manager = await OrdersClient.for_services(shop.services, token=ADMIN_TOKEN)
    for call, path in (
        (manager.sales_report(from_="2001-01-01", group_by="customer"), "/reports/sales?from=2001-01-01"
                                                                         "&group_by=customer"),
        (manager.cancellations_report(to="2100-01-01"), "/reports/cancellations?to=2100-01-01"),
        (manager.corrections_report(), "/reports/corrections"),
    ):
        assert as_json(await call) == (await orders_api.get(path, headers=admin)).json(), path
    stuck_client = as_json(await manager.stuck_orders(older_than="0"))
    stuck_http = (await orders_api.get("/reports/stuck?older_than=0", headers=admin)).json()
    assert {i["order_id"] for i in stuck_client["items"]} >= {i["order_id"] for i in stuck_http["items"]} - {
        o.order_id for o in page.items}  # the orders keep moving between the two reads


async def test_edit_with_typed_lines_and_address(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], order_services: Services
) -> None:
    client = await OrdersClient.for_services(order_services, token=ADMIN_TOKEN)
    order = await client.create_order(new_order(catalog, fulfillment="manual"))
    await wait_for(orders_api, f"/orders/{order.order_id}", {"Authorization": f"Bearer {ADMIN_TOKEN}"},
                   lambda v: v["status"] == "PROCESSING")
    edited = await client.edit(order.order_id, reason="customer call",
                               lines=[LineIn(sku=catalog["widget"], quantity=1)],
                               shipping_address=Address.model_validate({**ADDRESS, "city": "北京"}))
    assert (edited.total, edited.shipping_address.city) == (Decimal("129.90"), "北京")


async def test_connect_opens_its_own_connections_from_settings(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], order_services: Services
) -> None:
    async with OrdersClient.connect(order_services.settings, token=ADMIN_TOKEN) as orders:
        assert orders.role == Role.ADMIN
        view = await orders.create_order(new_order(catalog))
        assert (await orders.get_order(view.order_id)).order_id == view.order_id
    with pytest.raises(OrdersError) as refused:
        async with OrdersClient.connect(order_services.settings, token="not-a-token"):
            pass
    assert (refused.value.status, refused.value.code) == (401, "unauthorized")
