"""The permission table (`rules.PERMISSIONS`, the one source of truth) holds for every endpoint and role,
and sales see and change only the orders they own — in lists and reports too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from starter.api import create_app
from starter.webhooks import ADMIN_ONLY as MANAGE_WEBHOOKS
from tests.api.conftest import Person, add_person, running_services, serve
from tests.api.support import make_catalog, order_body, wait_for
from workflows.rules import PERMISSIONS, Command, Role

# Every authenticated endpoint → the command it needs. Path ids name nothing that exists: an allowed role
# gets 404/422/200, a refused one 403 before anything is looked up.
ENDPOINTS: dict[tuple[str, str], Command] = {
    ("POST", "/users"): Command.MANAGE_USERS,
    ("POST", "/customers"): Command.MANAGE_CUSTOMERS,
    ("GET", "/customers/{customer_id}"): Command.VIEW_MASTER_DATA,
    ("POST", "/products"): Command.MANAGE_PRODUCTS,
    ("GET", "/products/{sku}"): Command.VIEW_MASTER_DATA,
    ("POST", "/products/{sku}/stock"): Command.ADJUST_STOCK,
    ("GET", "/sub-statuses"): Command.VIEW_MASTER_DATA,
    ("POST", "/sub-statuses"): Command.MANAGE_CATALOG,
    ("DELETE", "/sub-statuses/{status}/{label}"): Command.MANAGE_CATALOG,
    ("POST", "/orders"): Command.CREATE_ORDER,
    ("GET", "/orders"): Command.VIEW_ORDER,
    ("GET", "/orders/{order_id}"): Command.VIEW_ORDER,
    ("GET", "/orders/{order_id}/history"): Command.VIEW_ORDER,
    ("PATCH", "/orders/{order_id}"): Command.EDIT_ORDER,
    ("POST", "/orders/{order_id}/status"): Command.CHANGE_STATUS,
    ("POST", "/orders/{order_id}/cancel"): Command.CANCEL_ORDER,
    ("POST", "/orders/{order_id}/approve"): Command.APPROVE_ORDER,
    ("POST", "/orders/{order_id}/reject"): Command.APPROVE_ORDER,
    ("POST", "/orders/{order_id}/payment"): Command.RECORD_PAYMENT,
    ("POST", "/orders/{order_id}/receipt"): Command.CONFIRM_RECEIPT,
    ("GET", "/reports/sales"): Command.VIEW_REPORTS,
    ("GET", "/reports/cancellations"): Command.VIEW_REPORTS,
    ("GET", "/reports/corrections"): Command.VIEW_REPORTS,
    ("GET", "/reports/stuck"): Command.VIEW_REPORTS,
    ("POST", "/webhooks"): MANAGE_WEBHOOKS,
    ("GET", "/webhooks"): MANAGE_WEBHOOKS,
    ("GET", "/webhooks/{webhook_id}"): MANAGE_WEBHOOKS,
    ("DELETE", "/webhooks/{webhook_id}"): MANAGE_WEBHOOKS,
    ("GET", "/webhooks/{webhook_id}/deliveries"): MANAGE_WEBHOOKS,
    ("POST", "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry"): MANAGE_WEBHOOKS,
}
PUBLIC = {("GET", "/healthz")}
IDS = {"customer_id": "NO-SUCH-CUSTOMER", "sku": "NO-SUCH-SKU", "order_id": "no-such-order",
       "webhook_id": "no-such-webhook", "delivery_id": "1", "status": "PROCESSING", "label": "NO_SUCH"}


def routes() -> set[tuple[str, str]]:
    """Every operation the app documents (included routers too)."""
    paths: dict[str, dict[str, Any]] = create_app().openapi()["paths"]
    return {(method.upper(), path) for path, operations in paths.items() for method in operations}


def test_every_endpoint_is_in_the_matrix() -> None:
    missing = routes() - set(ENDPOINTS) - PUBLIC
    assert not missing, f"add these endpoints and their Command to ENDPOINTS: {sorted(missing)}"
    assert set(ENDPOINTS) <= routes(), "ENDPOINTS names a route the app does not have"


@pytest.fixture(scope="module")
async def matrix_api(
    client: Client, sqlite_sessions: sessionmaker[Session], sqlite_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[Role, Person]]]:
    """One app, worker and user per role for the whole matrix."""
    async with running_services(client, sqlite_sessions, sqlite_url) as services:
        async for http in serve(services):
            yield http, {role: await add_person(http, role) for role in Role}


@pytest.mark.parametrize("role", list(Role), ids=str)
@pytest.mark.parametrize(("method", "path"), sorted(ENDPOINTS), ids=lambda v: str(v))
async def test_the_permission_table_decides_403_for_every_endpoint_and_role(
    matrix_api: tuple[httpx.AsyncClient, dict[Role, Person]], method: str, path: str, role: Role
) -> None:
    http, people = matrix_api
    body: dict[str, Any] | None = {} if method in ("POST", "PATCH") else None
    answer = await http.request(method, path.format(**IDS), json=body, headers=people[role].headers)
    if role in PERMISSIONS[ENDPOINTS[(method, path)]]:
        assert answer.status_code not in (401, 403), answer.text
        assert answer.status_code < 500, answer.text
    else:
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["code"] == "forbidden"


async def test_sales_see_and_change_only_their_own_orders_everywhere(
    orders_api: httpx.AsyncClient, api: httpx.AsyncClient, admin: dict[str, str], people: dict[Role, Person]
) -> None:
    catalog = await make_catalog(orders_api, admin)
    owner, colleague = people[Role.SALES], await add_person(api, Role.SALES, "colleague")
    created = await orders_api.post("/orders", json=order_body(catalog), headers=owner.headers)
    order_id = created.json()["order_id"]
    path = f"/orders/{order_id}"
    # The order is shipped at once (auto fulfilment): receipt is allowed for sales, on their own orders.
    await wait_for(orders_api, path, owner.headers, lambda view: view["status"] == "SHIPPED")
    for method, url, body in (
        ("GET", path, None),
        ("GET", f"{path}/history", None),
        ("PATCH", path, {"notes": "mine now", "reason": "grab"}),
        ("POST", f"{path}/cancel", {"reason": "not mine"}),
        ("POST", f"{path}/status", {"status": "SHIPPED", "sub_status": "AWAITING_ACCEPTANCE"}),
        ("POST", f"{path}/receipt", {"signed_by": "someone"}),
    ):
        answer = await orders_api.request(method, url, json=body, headers=colleague.headers)
        assert answer.status_code == 403, (method, url, answer.text)
        assert answer.json()["error"]["code"] == "forbidden"
    listed = await orders_api.get(f"/orders?customer_id={catalog['customer']}", headers=colleague.headers)
    assert listed.json() == {"items": [], "next_cursor": None}
    mine = await wait_for(orders_api, f"/orders?customer_id={catalog['customer']}", owner.headers,
                          lambda page: len(page["items"]) == 1)
    assert mine["items"][0]["order_id"] == order_id
    stuck = (await orders_api.get("/reports/stuck?older_than=0", headers=colleague.headers)).json()
    assert order_id not in {item["order_id"] for item in stuck["items"]}
    own = (await orders_api.get("/reports/stuck?older_than=0", headers=owner.headers)).json()
    assert order_id in {item["order_id"] for item in own["items"]}
    cancellations = (await orders_api.get("/reports/cancellations", headers=colleague.headers)).json()
    assert cancellations["orders"] == 0
    assert (await orders_api.get("/reports/cancellations", headers=owner.headers)).json()["orders"] == 1
    refused = await orders_api.get(f"/orders?owner_id={owner.id}", headers=colleague.headers)
    assert refused.json()["items"] == []
