"""Bad input gets a clear answer in the error shape, naming the field and the rule, and changes nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from starter.api import MAX_BODY_BYTES
from tests.api.support import ADDRESS, new_id, order_body
from tests.api.test_errors import ORDER, assert_error_shape


def fields(answer: httpx.Response) -> set[str]:
    return {d["field"] for d in answer.json()["error"]["details"]}


async def test_a_body_over_one_mebibyte_is_413_in_the_error_shape(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = {**ORDER, "notes": "x" * (MAX_BODY_BYTES + 10)}
    answer = await api.post("/orders", json=body, headers=admin)
    error = assert_error_shape(answer, 413, "content_too_large")
    assert error["details"] == {"limit_bytes": MAX_BODY_BYTES}
    assert answer.headers["x-request-id"]


async def test_a_chunked_body_without_length_is_limited_too(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * (MAX_BODY_BYTES // 10)

    answer = await api.post("/customers", content=chunks(),
                            headers={**admin, "Content-Type": "application/json"})
    assert_error_shape(answer, 413, "content_too_large")


async def test_a_body_just_under_the_limit_is_read(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    body = json.dumps({"id": new_id("C"), "name": "ACME", "credit_limit": "1"}).encode()
    padded = body + b" " * (MAX_BODY_BYTES - len(body))
    answer = await api.post("/customers", content=padded,
                            headers={**admin, "Content-Type": "application/json"})
    assert answer.status_code == 201, answer.text


async def test_unknown_fields_are_refused_by_name_at_every_level(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = {**ORDER, "total": "1.00", "lines": [{"sku": "SKU-1", "quantity": 1, "price": "0.01"}],
            "shipping_address": {**ADDRESS, "floor": 3}}
    answer = await api.post("/orders", json=body, headers=admin)
    assert_error_shape(answer, 422, "invalid_input")
    assert fields(answer) == {"total", "lines[0].price", "shipping_address.floor"}
    assert {d["type"] for d in answer.json()["error"]["details"]} == {"extra_forbidden"}


@pytest.mark.parametrize(("patch", "field"), [
    ({"lines": "two widgets"}, "lines"),
    ({"lines": [{"sku": "SKU-1", "quantity": "many"}]}, "lines[0].quantity"),
    ({"lines": [{"sku": "SKU-1", "quantity": 1.5}]}, "lines[0].quantity"),
    ({"lines": [{"sku": 42, "quantity": 1}]}, "lines[0].sku"),
    ({"lines": [{"sku": "SKU-1", "quantity": 1, "discount_pct": "lots"}]}, "lines[0].discount_pct"),
    ({"lines": [{"sku": "SKU-1", "quantity": 1, "discount_pct": 101}]}, "lines[0].discount_pct"),
    ({"shipping_address": "Shanghai"}, "shipping_address"),
    ({"payment_terms": None}, "payment_terms"),
    ({"customer_id": ["C-1"]}, "customer_id"),
    ({"notes": {"text": "hi"}}, "notes"),
], ids=lambda value: str(value) if isinstance(value, str) else None)
async def test_wrong_types_are_422_naming_the_field(
    api: httpx.AsyncClient, admin: dict[str, str], patch: dict[str, object], field: str
) -> None:
    answer = await api.post("/orders", json={**ORDER, **patch}, headers=admin)
    assert_error_shape(answer, 422, "invalid_input")
    assert fields(answer) == {field}, answer.text


async def test_a_json_body_that_is_not_an_object_is_422(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for body in ([ORDER], "order", 42, None):
        answer = await api.post("/orders", json=body, headers=admin)
        assert_error_shape(answer, 422, "invalid_input")


async def test_a_body_that_is_not_json_is_422(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    answer = await api.post("/customers", content="id=C-1&name=ACME",
                            headers={**admin, "Content-Type": "application/x-www-form-urlencoded"})
    assert_error_shape(answer, 422, "invalid_input")
    broken = await api.post("/customers", content=b"\xff\xfe{", headers={**admin, "Content-Type":
                                                                          "application/json"})
    assert_error_shape(broken, 422, "invalid_json")


@pytest.mark.parametrize("quantity", [0, -1, 100_001, 10**30])
async def test_quantities_out_of_range_are_422(
    api: httpx.AsyncClient, admin: dict[str, str], quantity: int
) -> None:
    body = {**ORDER, "lines": [{"sku": "SKU-1", "quantity": quantity}]}
    answer = await api.post("/orders", json=body, headers=admin)
    assert_error_shape(answer, 422, "invalid_input")
    assert fields(answer) == {"lines[0].quantity"}


async def test_non_finite_and_oversized_numbers_are_422(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for limit in ("NaN", "Infinity", "1e400", "12345678901234567.00", "-1"):
        body = f'{{"id": "C-x", "name": "x", "credit_limit": {limit}}}'
        answer = await api.post("/customers", content=body,
                                headers={**admin, "Content-Type": "application/json"})
        assert_error_shape(answer, 422, "invalid_input")
        assert fields(answer) == {"credit_limit"}, (limit, answer.text)


async def test_an_order_whose_total_could_not_be_stored_is_422_naming_the_lines(
    orders_api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    customer, sku = new_id("C"), new_id("GOLD")
    await orders_api.post("/customers", json={"id": customer, "name": "Big", "credit_limit": "1"},
                          headers=admin)
    await orders_api.post("/products", json={"sku": sku, "name": "Gold bar", "unit_price": "999999999999.99"},
                          headers=admin)
    body = {**ORDER, "customer_id": customer, "lines": [{"sku": sku, "quantity": 100_000}]}
    answer = await orders_api.post("/orders", json=body, headers=admin)
    error = assert_error_shape(answer, 422, "invalid_input")
    assert [d["field"] for d in error["details"]] == ["lines"]
    assert "maximum" in error["message"]


async def test_non_ascii_names_work_end_to_end(
    orders_api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    user = await orders_api.post("/users", json={"name": "李雷", "role": "sales"}, headers=admin)
    assert user.status_code == 201 and user.json()["name"] == "李雷"
    customer, sku = new_id("C"), new_id("TEA")
    made = await orders_api.post("/customers", json={"id": customer, "name": "上海贸易有限公司",
                                                     "credit_limit": "1000"}, headers=admin)
    assert made.json()["name"] == "上海贸易有限公司"
    await orders_api.post("/products", json={"sku": sku, "name": "龙井茶 🍵", "unit_price": "88.00",
                                             "on_hand": 5}, headers=admin)
    address = {**ADDRESS, "name": "李雷", "line1": "南京东路1号", "city": "上海"}
    body = order_body({"customer": customer, "widget": sku, "gadget": sku}, shipping_address=address,
                      lines=[{"sku": sku, "quantity": 1}], notes="请在门口放下 — merci, señor")
    created = await orders_api.post("/orders", json=body, headers={"Authorization":
                                                                   f"Bearer {user.json()['token']}"})
    assert created.status_code == 201, created.text
    assert created.json()["shipping_address"]["name"] == "李雷"
    assert created.json()["notes"] == "请在门口放下 — merci, señor"
    assert "李雷".encode() in created.content  # UTF-8 on the wire, not \\u escapes


async def test_control_characters_in_names_are_422(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    answer = await api.post("/customers", json={"id": new_id("C"), "name": "AC\x00ME", "credit_limit": "1"},
                            headers=admin)
    assert_error_shape(answer, 422, "invalid_input")
    assert fields(answer) == {"name"}


@pytest.mark.parametrize("query", [
    "limit=0", "limit=101", "limit=-5", "limit=ten", "limit=1e3", "limit=",
    "cursor=%00", "cursor=bm90IGpzb24", "cursor=WzEsMiwzXQ", "cursor=IjIwMjUtMDEtMDEi",
    "cursor=" + "A" * 501, "cursor=%E6%9D%8E%E9%9B%B7",
    "status=done", "customer_id=%00", "owner_id=" + "x" * 65,
])
async def test_limit_cursor_and_filter_garbage_is_422_naming_the_parameter(
    api: httpx.AsyncClient, admin: dict[str, str], query: str
) -> None:
    answer = await api.get(f"/orders?{query}", headers=admin)
    assert_error_shape(answer, 422, "invalid_input")
    assert fields(answer) == {query.split("=")[0]}, answer.text


async def test_an_impossible_order_id_is_404_or_422_never_a_server_error(
    orders_api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for order_id in ("a" * 65, "..", "-x", "%20", "李雷"):
        answer = await orders_api.get(f"/orders/{order_id}", headers=admin)
        assert answer.status_code in (404, 422), (order_id, answer.text)
        assert "error" in answer.json()


async def test_idempotency_key_too_long_is_422_naming_the_header(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    answer = await api.post("/orders", json=ORDER, headers={**admin, "Idempotency-Key": "k" * 201})
    assert_error_shape(answer, 422, "invalid_input")
    assert fields(answer) == {"Idempotency-Key"}
