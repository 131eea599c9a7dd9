"""Orders over HTTP against a real Temporal dev server, worker and database."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.models import Order, SubStatus
from tests.api.conftest import Person, add_person
from tests.api.support import new_id, order_body, wait_for
from workflows.rules import Role


async def test_create_order_prices_server_side_and_answers_201_with_the_view(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], people: dict[Role, Person]
) -> None:
    sales = people[Role.SALES]
    created = await orders_api.post("/orders", json=order_body(catalog), headers=sales.headers)
    assert created.status_code == 201, created.text
    view = created.json()
    assert view["total"] == "286.80"  # 2 × 129.90 + 3 × 10.00 less 10 %
    assert [(line["sku"], line["unit_price"], line["amount"]) for line in view["lines"]] == [
        (catalog["widget"], "129.90", "259.80"), (catalog["gadget"], "10.00", "27.00")]
    assert view["owner_id"] == sales.id
    assert view["fulfillment"] == "auto"
    assert view["created_at"].endswith("Z")
    fetched = await orders_api.get(f"/orders/{view['order_id']}", headers=sales.headers)
    assert fetched.status_code == 200
    assert fetched.json()["order_id"] == view["order_id"]
    assert "return" in fetched.json()


async def test_order_with_unknown_customer_and_sku_is_422_and_nothing_is_written(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], admin: dict[str, str],
    sqlite_sessions: sessionmaker[Session],
) -> None:
    with sqlite_sessions() as session:
        before = session.scalar(select(func.count()).select_from(Order))
    body = order_body(catalog, customer_id="NO-SUCH-CUSTOMER")
    body["lines"][1]["sku"] = "NO-SUCH-SKU"
    answer = await orders_api.post("/orders", json=body, headers=admin)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_input"
    assert {d["field"] for d in error["details"]} == {"customer_id", "lines[1].sku"}
    await asyncio.sleep(0.3)
    with sqlite_sessions() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == before


async def test_same_idempotency_key_and_body_returns_the_same_order(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], admin: dict[str, str]
) -> None:
    headers = {**admin, "Idempotency-Key": new_id("key")}
    first = await orders_api.post("/orders", json=order_body(catalog), headers=headers)
    second = await orders_api.post("/orders", json=order_body(catalog), headers=headers)
    assert first.status_code == second.status_code == 201, second.text
    assert first.json()["order_id"] == second.json()["order_id"]


async def test_reusing_an_idempotency_key_with_another_body_is_409(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], admin: dict[str, str]
) -> None:
    headers = {**admin, "Idempotency-Key": new_id("key")}
    first = await orders_api.post("/orders", json=order_body(catalog), headers=headers)
    assert first.status_code == 201
    other = await orders_api.post("/orders", json=order_body(catalog, notes="changed"), headers=headers)
    assert other.status_code == 409, other.text
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert other.json()["error"]["details"]["order_id"] == first.json()["order_id"]


async def test_one_idempotency_key_of_two_callers_makes_two_orders(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], people: dict[Role, Person]
) -> None:
    key = new_id("key")
    mine = await orders_api.post("/orders", json=order_body(catalog),
                                 headers={**people[Role.SALES].headers, "Idempotency-Key": key})
    theirs = await orders_api.post("/orders", json=order_body(catalog),
                                   headers={**people[Role.SYSTEM].headers, "Idempotency-Key": key})
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["order_id"] != theirs.json()["order_id"]


async def test_unknown_order_is_404(orders_api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    for path in ("/orders/does-not-exist", "/orders/does-not-exist/history"):
        answer = await orders_api.get(path, headers=admin)
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"]["code"] == "not_found"
    answer = await orders_api.post("/orders/does-not-exist/cancel", json={"reason": "x"}, headers=admin)
    assert answer.status_code == 404


async def test_sales_see_and_change_only_their_own_orders(
    orders_api: httpx.AsyncClient, api: httpx.AsyncClient, catalog: dict[str, str],
    people: dict[Role, Person],
) -> None:
    mine, colleague = people[Role.SALES], await add_person(api, Role.SALES, "colleague")
    order = (await orders_api.post("/orders", json=order_body(catalog), headers=mine.headers)).json()
    path = f"/orders/{order['order_id']}"
    assert (await orders_api.get(path, headers=colleague.headers)).status_code == 403
    assert (await orders_api.get(f"{path}/history", headers=colleague.headers)).status_code == 403
    refused = await orders_api.post(f"{path}/cancel", json={"reason": "not mine"}, headers=colleague.headers)
    assert refused.status_code == 403
    await wait_for(orders_api, f"/orders?customer_id={catalog['customer']}", mine.headers,
                   lambda page: len(page["items"]) == 1)
    theirs = await orders_api.get(f"/orders?customer_id={catalog['customer']}", headers=colleague.headers)
    assert theirs.json() == {"items": [], "next_cursor": None}
    assert (await orders_api.get(path, headers=mine.headers)).json()["status"] != "CANCELLED"


async def test_sales_cannot_create_an_order_owned_by_someone_else(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], people: dict[Role, Person]
) -> None:
    body = order_body(catalog, owner_id=people[Role.MANAGER].id)
    answer = await orders_api.post("/orders", json=body, headers=people[Role.SALES].headers)
    assert answer.status_code == 403


async def test_manager_creates_an_order_on_behalf_of_a_sales_person(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], people: dict[Role, Person]
) -> None:
    body = order_body(catalog, owner_id=people[Role.SALES].id)
    answer = await orders_api.post("/orders", json=body, headers=people[Role.MANAGER].headers)
    assert answer.status_code == 201, answer.text
    assert answer.json()["owner_id"] == people[Role.SALES].id
    unknown = await orders_api.post("/orders", json=order_body(catalog, owner_id="ghost"),
                                    headers=people[Role.MANAGER].headers)
    assert unknown.status_code == 422
    assert [d["field"] for d in unknown.json()["error"]["details"]] == ["owner_id"]


async def test_list_orders_pages_newest_first_with_an_opaque_cursor(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], admin: dict[str, str]
) -> None:
    created = [(await orders_api.post("/orders", json=order_body(catalog), headers=admin)).json()["order_id"]
               for _ in range(3)]
    query = f"/orders?customer_id={catalog['customer']}"
    # The read model is written asynchronously: wait until all three are stored priced.
    await wait_for(orders_api, query, admin,
                   lambda page: [o["total"] for o in page["items"]] == ["286.80"] * 3)
    first = (await orders_api.get(f"{query}&limit=2", headers=admin)).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = (await orders_api.get(f"{query}&limit=2&cursor={first['next_cursor']}", headers=admin)).json()
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    listed = [o["order_id"] for o in first["items"] + second["items"]]
    assert sorted(listed) == sorted(created)
    stamps = [o["created_at"] for o in first["items"] + second["items"]]
    assert stamps == sorted(stamps, reverse=True)
    assert all(Decimal(o["total"]) == Decimal("286.80") for o in first["items"])


async def test_list_orders_filters_by_status(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], admin: dict[str, str]
) -> None:
    order_id = (await orders_api.post("/orders", json=order_body(catalog), headers=admin)).json()["order_id"]
    await orders_api.post(f"/orders/{order_id}/cancel", json={"reason": "customer changed mind"},
                          headers=admin)
    query = f"/orders?customer_id={catalog['customer']}&status=CANCELLED"
    page = await wait_for(orders_api, query, admin, lambda page: len(page["items"]) == 1)
    assert page["items"][0]["order_id"] == order_id
    none = await orders_api.get(f"/orders?customer_id={catalog['customer']}&status=COMPLETED", headers=admin)
    assert none.json()["items"] == []


async def test_cancel_answers_with_the_cancelled_view_and_history_records_it(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], people: dict[Role, Person]
) -> None:
    sales = people[Role.SALES]
    order_id = (await orders_api.post("/orders", json=order_body(catalog), headers=sales.headers)
                ).json()["order_id"]
    cancelled = await orders_api.post(f"/orders/{order_id}/cancel", json={"reason": "duplicate order"},
                                      headers={**sales.headers, "X-Request-ID": "req-cancel-1"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "CANCELLED"
    assert "duplicate order" in cancelled.json()["cancel_reason"]
    history = await wait_for(orders_api, f"/orders/{order_id}/history", sales.headers,
                             lambda entries: any(e["action"] == "cancel" for e in entries))
    assert history[0]["action"] == "create"
    cancel = next(e for e in history if e["action"] == "cancel")
    assert (cancel["actor"], cancel["role"], cancel["reason"]) == (sales.id, "sales", "duplicate order")
    assert cancel["request_id"] == "req-cancel-1"
    assert [e["at"] for e in history] == sorted(e["at"] for e in history)


async def test_a_command_refused_by_the_order_is_409_with_the_reason(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], admin: dict[str, str],
    people: dict[Role, Person],
) -> None:
    order_id = (await orders_api.post("/orders", json=order_body(catalog), headers=admin)).json()["order_id"]
    refused = await orders_api.post(f"/orders/{order_id}/payment",
                                    json={"amount": "286.80", "reference": "r1"},
                                    headers=people[Role.FINANCE].headers)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "not_allowed"
    assert "credit" in refused.json()["error"]["message"]


async def test_a_role_not_allowed_to_send_a_command_is_403_before_the_order_is_asked(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], admin: dict[str, str],
    people: dict[Role, Person],
) -> None:
    order_id = (await orders_api.post("/orders", json=order_body(catalog), headers=admin)).json()["order_id"]
    for path, body, role in (("cancel", {"reason": "x"}, Role.FINANCE),
                             ("approve", None, Role.SALES),
                             ("payment", {"amount": "1.00", "reference": "r"}, Role.WAREHOUSE)):
        answer = await orders_api.post(f"/orders/{order_id}/{path}", json=body, headers=people[role].headers)
        assert answer.status_code == 403, (path, answer.text)
        assert answer.json()["error"]["code"] == "forbidden"


async def test_stale_expected_version_is_409(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], admin: dict[str, str]
) -> None:
    order = (await orders_api.post("/orders", json=order_body(catalog), headers=admin)).json()
    edit = {"expected_version": order["version"] + 5, "notes": "ring twice", "reason": "customer call"}
    answer = await orders_api.patch(f"/orders/{order['order_id']}", json=edit, headers=admin)
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "stale_version"


async def test_edit_with_wait_false_answers_202_and_is_applied_later(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], admin: dict[str, str]
) -> None:
    order_id = (await orders_api.post("/orders", json=order_body(catalog), headers=admin)).json()["order_id"]
    answer = await orders_api.patch(f"/orders/{order_id}?wait=false",
                                    json={"notes": "leave at the door", "reason": "customer call"},
                                    headers=admin)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"order_id": order_id, "accepted": True}
    await wait_for(orders_api, f"/orders/{order_id}", admin,
                   lambda view: view["notes"] == "leave at the door")


async def test_prepaid_order_runs_to_completion_over_http(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], people: dict[Role, Person]
) -> None:
    shop, finance = people[Role.SYSTEM], people[Role.FINANCE]
    order = (await orders_api.post("/orders", json=order_body(catalog, payment_terms="prepaid"),
                                   headers=shop.headers)).json()
    path = f"/orders/{order['order_id']}"
    await wait_for(orders_api, path, shop.headers, lambda v: v["status"] == "AWAITING_PAYMENT")
    wrong = await orders_api.post(f"{path}/payment", json={"amount": "1.00", "reference": "PAY-1"},
                                  headers=finance.headers)
    assert wrong.status_code == 422
    assert [d["field"] for d in wrong.json()["error"]["details"]] == ["amount"]
    paid = await orders_api.post(f"{path}/payment", json={"amount": order["total"], "reference": "PAY-1"},
                                 headers=finance.headers)
    assert paid.status_code == 200, paid.text
    await wait_for(orders_api, path, shop.headers, lambda v: v["status"] == "SHIPPED")
    received = await orders_api.post(f"{path}/receipt", json={"signed_by": "Zhang San"}, headers=shop.headers)
    assert received.status_code == 200, received.text
    done = await wait_for(orders_api, path, shop.headers, lambda v: v["status"] == "COMPLETED")
    assert done["invoice"]["amount"] == "286.80"
    assert done["shipment"]["tracking_number"]
    assert [p["kind"] for p in done["payments"]] == ["capture"]


async def test_healthz_is_200_when_database_and_temporal_answer(orders_api: httpx.AsyncClient) -> None:
    answer = await orders_api.get("/healthz")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "ok", "database": "ok", "temporal": "ok"}


async def test_a_sub_status_label_is_set_by_the_warehouse_without_an_approval(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], admin: dict[str, str],
    people: dict[Role, Person],
) -> None:
    order_id = (await orders_api.post("/orders", json=order_body(catalog, fulfillment="manual"),
                                      headers=admin)).json()["order_id"]
    path = f"/orders/{order_id}"
    await wait_for(orders_api, path, admin, lambda view: view["status"] == "PROCESSING")
    labelled = await orders_api.post(f"{path}/status", json={"status": "PROCESSING", "sub_status": "PACKED"},
                                     headers=people[Role.WAREHOUSE].headers)
    assert labelled.status_code == 200, labelled.text
    assert (labelled.json()["status"], labelled.json()["sub_status"]) == ("PROCESSING", "PACKED")
    unknown = await orders_api.post(f"{path}/status", json={"status": "PROCESSING", "sub_status": "LOST"},
                                    headers=people[Role.WAREHOUSE].headers)
    assert unknown.status_code == 409
    assert "catalog" in unknown.json()["error"]["message"]


async def test_a_label_an_admin_added_to_the_sub_status_catalog_can_be_set(
    orders_api: httpx.AsyncClient, catalog: dict[str, str], admin: dict[str, str],
    people: dict[Role, Person], sqlite_sessions: sessionmaker[Session],
) -> None:
    label = new_id("AT_CUSTOMS").upper().replace("-", "_")
    with sqlite_sessions.begin() as session:
        session.add(SubStatus(status="SHIPPED", label=label))
    order_id = (await orders_api.post("/orders", json=order_body(catalog, fulfillment="manual"),
                                      headers=admin)).json()["order_id"]
    path = f"/orders/{order_id}"
    warehouse = people[Role.WAREHOUSE].headers
    await wait_for(orders_api, path, admin, lambda view: view["status"] == "PROCESSING")
    ship = {"status": "SHIPPED", "tracking_number": new_id("T")}
    shipped = await orders_api.post(f"{path}/status", json=ship, headers=warehouse)
    assert shipped.status_code == 200, shipped.text
    labelled = await orders_api.post(f"{path}/status", json={"status": "SHIPPED", "sub_status": label},
                                     headers=warehouse)
    assert labelled.status_code == 200, labelled.text
    assert labelled.json()["sub_status"] == label
    unknown = await orders_api.post(f"{path}/status", json={"status": "SHIPPED", "sub_status": "NOT_A_LABEL"},
                                    headers=people[Role.WAREHOUSE].headers)
    assert unknown.status_code == 409
    assert label in unknown.json()["error"]["message"]  # the refusal names the allowed labels
