"""Refused commands are recorded too (mission): who, role, action, reason and request id, accepted=false."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import Person, add_person
from tests.api.support import order_body, wait_for
from workflows.rules import Role


async def refusals(api: httpx.AsyncClient, order_id: str, headers: dict[str, str],
                   count: int = 1) -> list[dict[str, Any]]:
    history = await wait_for(api, f"/orders/{order_id}/history", headers,
                             lambda entries: len([e for e in entries if not e["accepted"]]) >= count)
    return [e for e in history if not e["accepted"]]


async def create(api: httpx.AsyncClient, catalog: dict[str, str], headers: dict[str, str],
                 **overrides: Any) -> dict[str, Any]:
    created = await api.post("/orders", json=order_body(catalog, **overrides), headers=headers)
    assert created.status_code == 201, created.text
    view: dict[str, Any] = created.json()
    return view


async def test_an_edit_refused_by_the_workflow_validator_is_in_the_history(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], people: dict[Role, Person]
) -> None:
    sales = people[Role.SALES]
    order = await create(orders_api, catalog, sales.headers)
    edit = {"expected_version": order["version"] + 7, "notes": "ring twice", "reason": "customer call"}
    refused = await orders_api.patch(f"/orders/{order['order_id']}", json=edit,
                                     headers={**sales.headers, "X-Request-ID": "req-stale-1"})
    assert refused.status_code == 409
    [entry] = await refusals(orders_api, order["order_id"], sales.headers)
    assert (entry["actor"], entry["role"], entry["action"]) == (sales.id, "sales", "edit")
    assert entry["reason"].startswith("stale_version: ")
    assert entry["request_id"] == "req-stale-1"
    assert entry["from_status"] == entry["to_status"] is not None
    assert entry["changes"] == {}


async def test_a_role_that_may_not_send_the_command_is_recorded_against_the_order(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], people: dict[Role, Person], admin: dict[str, str]
) -> None:
    order = await create(orders_api, catalog, admin)
    finance = people[Role.FINANCE]
    refused = await orders_api.post(f"/orders/{order['order_id']}/cancel", json={"reason": "not mine"},
                                    headers=finance.headers)
    assert refused.status_code == 403
    [entry] = await refusals(orders_api, order["order_id"], admin)
    assert (entry["actor"], entry["role"], entry["action"]) == (finance.id, "finance", "cancel")
    assert entry["reason"].startswith("forbidden: ")
    assert entry["request_id"] == refused.headers["x-request-id"]


async def test_sales_acting_on_a_colleagues_order_is_recorded(
    orders_api: httpx.AsyncClient, api: httpx.AsyncClient, catalog: dict[str, str],
    people: dict[Role, Person],
) -> None:
    owner, colleague = people[Role.SALES], await add_person(api, Role.SALES, "colleague")
    order = await create(orders_api, catalog, owner.headers)
    refused = await orders_api.patch(f"/orders/{order['order_id']}",
                                     json={"notes": "mine now", "reason": "grab"}, headers=colleague.headers)
    assert refused.status_code == 403
    [entry] = await refusals(orders_api, order["order_id"], owner.headers)
    assert (entry["actor"], entry["action"]) == (colleague.id, "edit")


async def test_invalid_input_on_an_existing_order_is_recorded(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], people: dict[Role, Person], admin: dict[str, str]
) -> None:
    order = await create(orders_api, catalog, admin, payment_terms="prepaid")
    path = f"/orders/{order['order_id']}"
    await wait_for(orders_api, path, admin, lambda view: view["status"] == "AWAITING_PAYMENT")
    refused = await orders_api.post(f"{path}/payment", json={"amount": "1.00", "reference": "PAY-1"},
                                    headers=people[Role.FINANCE].headers)
    assert refused.status_code == 422
    [entry] = await refusals(orders_api, order["order_id"], admin)
    assert (entry["action"], entry["role"]) == ("record_payment", "finance")
    assert "amount" in entry["reason"]


async def test_a_refused_signal_is_recorded_once(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], people: dict[Role, Person], admin: dict[str, str]
) -> None:
    order = await create(orders_api, catalog, admin)  # credit terms: a payment is refused
    answer = await orders_api.post(f"/orders/{order['order_id']}/payment?wait=false",
                                   json={"amount": order["total"], "reference": "PAY-2"},
                                   headers=people[Role.FINANCE].headers)
    assert answer.status_code == 202
    [entry] = await refusals(orders_api, order["order_id"], admin)
    assert entry["action"] == "record_payment"
    history = (await orders_api.get(f"/orders/{order['order_id']}/history", headers=admin)).json()
    assert len([e for e in history if not e["accepted"]]) == 1


async def test_a_reused_idempotency_key_is_recorded_against_the_order_it_made(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], admin: dict[str, str]
) -> None:
    headers = {**admin, "Idempotency-Key": "refusal-key-" + catalog["customer"]}
    order = await create(orders_api, catalog, headers)
    other = await orders_api.post("/orders", json=order_body(catalog, notes="other"), headers=headers)
    assert other.status_code == 409
    [entry] = await refusals(orders_api, order["order_id"], admin)
    assert (entry["action"], entry["reason"].split(":")[0]) == ("create", "idempotency_key_reused")


async def test_a_command_on_an_unknown_order_records_nothing_and_is_404(
    orders_api: httpx.AsyncClient, people: dict[Role, Person]
) -> None:
    answer = await orders_api.post("/orders/no-such-order/cancel", json={"reason": "x"},
                                   headers=people[Role.FINANCE].headers)
    assert answer.status_code == 403  # the role is refused before the order is looked up
    missing = await orders_api.get("/orders/no-such-order/history", headers=people[Role.MANAGER].headers)
    assert missing.status_code == 404
