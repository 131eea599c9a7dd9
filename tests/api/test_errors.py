"""Every failure, wherever it comes from, has the shape {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.models import Order
from starter.service import Services
from tests.api.conftest import serve
from workflows.models import Actor
from workflows.rules import Role

ORDER = {
    "customer_id": "C-1",
    "lines": [{"sku": "SKU-1", "quantity": 2}],
    "shipping_address": {"name": "Zhang San", "phone": "+86 138 0000 0000", "line1": "1 Nanjing Rd",
                         "city": "Shanghai", "postal_code": "200000", "country": "CN"},
    "payment_terms": "credit",
}


def assert_error_shape(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    return error


async def test_unknown_path_is_404_in_the_error_shape(api: httpx.AsyncClient) -> None:
    assert_error_shape(await api.get("/no/such/thing"), 404, "not_found")


async def test_wrong_method_is_405_in_the_error_shape(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    answer = await api.delete("/customers/C-1", headers=admin)
    assert_error_shape(answer, 405, "method_not_allowed")
    assert "GET" in answer.headers["allow"]


async def test_malformed_json_is_422_invalid_json(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    answer = await api.post("/customers", content=b'{"id": "C-9", "name": ', headers={
        **admin, "Content-Type": "application/json"})
    error = assert_error_shape(answer, 422, "invalid_json")
    assert "JSON" in str(error["message"])


async def test_order_validation_names_each_field_with_its_rule(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = {**ORDER, "lines": [{"sku": "SKU-1", "quantity": 0}], "payment_terms": "cash", "colour": "red"}
    error = assert_error_shape(await api.post("/orders", json=body, headers=admin), 422, "invalid_input")
    details = error["details"]
    assert isinstance(details, list)
    by_field = {d["field"]: d for d in details}
    assert set(by_field) == {"lines[0].quantity", "payment_terms", "colour"}
    assert by_field["lines[0].quantity"]["type"] == "greater_than"
    assert by_field["colour"]["type"] == "extra_forbidden"
    assert all(d["in"] == "body" and d["message"] for d in details)


async def test_nested_address_errors_name_the_nested_field(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = {**ORDER, "shipping_address": {**ORDER["shipping_address"], "country": "China"}}  # type: ignore[dict-item]
    error = assert_error_shape(await api.post("/orders", json=body, headers=admin), 422, "invalid_input")
    assert [d["field"] for d in error["details"]] == ["shipping_address.country"]


async def test_invalid_order_writes_nothing(
    api: httpx.AsyncClient, admin: dict[str, str], sqlite_sessions: sessionmaker[Session]
) -> None:
    with sqlite_sessions() as session:
        before = session.scalar(select(func.count()).select_from(Order))
    answer = await api.post("/orders", json={**ORDER, "lines": []}, headers=admin)
    assert_error_shape(answer, 422, "invalid_input")
    with sqlite_sessions() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == before


async def test_query_parameters_are_validated_by_name(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    answer = await api.get("/orders?limit=1000&status=LOST", headers=admin)
    error = assert_error_shape(answer, 422, "invalid_input")
    fields = {(d["in"], d["field"]) for d in error["details"]}
    assert fields == {("query", "limit"), ("query", "status")}


async def test_a_bad_cursor_is_422_naming_the_cursor(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    answer = await api.get("/orders?cursor=garbage!", headers=admin)
    error = assert_error_shape(answer, 422, "invalid_input")
    assert [d["field"] for d in error["details"]] == ["cursor"]


async def test_auth_is_checked_before_the_body(
    api: httpx.AsyncClient, tokens: dict[Role, dict[str, str]]
) -> None:
    assert_error_shape(await api.post("/customers", json={"id": ""}), 401, "unauthorized")
    assert_error_shape(await api.post("/customers", json={"id": ""}, headers=tokens[Role.SALES]),
                       403, "forbidden")


async def test_sales_cannot_create_orders_for_someone_else(
    api: httpx.AsyncClient, tokens: dict[Role, dict[str, str]]
) -> None:
    answer = await api.post("/orders", json={**ORDER, "owner_id": "someone-else"}, headers=tokens[Role.SALES])
    assert_error_shape(answer, 403, "forbidden")


async def test_healthz_is_503_when_temporal_does_not_answer(api: httpx.AsyncClient) -> None:
    answer = await api.get("/healthz")
    error = assert_error_shape(answer, 503, "unavailable")
    assert error["details"]["database"] == "ok"
    assert error["details"]["temporal"] != "ok"


async def test_order_endpoints_are_503_when_temporal_does_not_answer(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    assert_error_shape(await api.get("/orders/abc", headers=admin), 503, "temporal_unavailable")


async def test_every_response_carries_a_request_id(api: httpx.AsyncClient) -> None:
    echoed = await api.get("/customers/x", headers={"X-Request-ID": "req-42"})
    assert echoed.headers["x-request-id"] == "req-42"
    assert len((await api.get("/nowhere")).headers["x-request-id"]) == 32


class Exploding(Services):
    async def get_customer(self, actor: Actor, customer_id: str) -> object:  # type: ignore[override]
        raise RuntimeError("database on fire: secret connection string")


@pytest.fixture
async def exploding_api(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    broken = Exploding(services.settings, services.sessions)
    async for http in serve(broken, raise_app_exceptions=False):
        yield http


async def test_unexpected_failure_is_500_internal_error_without_leaking_internals(
    exploding_api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    answer = await exploding_api.get("/customers/C-1", headers=admin)
    error = assert_error_shape(answer, 500, "internal_error")
    assert "secret" not in answer.text
    assert error["details"] is None


async def test_openapi_document_lists_the_contract_endpoints(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    expected = {"/users", "/customers", "/customers/{customer_id}", "/products", "/products/{sku}",
                "/products/{sku}/stock", "/orders", "/orders/{order_id}", "/orders/{order_id}/history",
                "/orders/{order_id}/status", "/orders/{order_id}/cancel", "/orders/{order_id}/approve",
                "/orders/{order_id}/reject", "/orders/{order_id}/payment", "/orders/{order_id}/receipt",
                "/healthz"}
    assert expected <= set(document["paths"])
    assert "HTTPBearer" in document["components"]["securitySchemes"]
