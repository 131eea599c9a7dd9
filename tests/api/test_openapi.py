"""/openapi.json is complete: every operation, its errors in the error model, and examples."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

COMMAND_PATHS = ["/orders/{order_id}/status", "/orders/{order_id}/cancel", "/orders/{order_id}/approve",
                 "/orders/{order_id}/reject", "/orders/{order_id}/payment", "/orders/{order_id}/receipt"]


@pytest.fixture
async def document(api: httpx.AsyncClient) -> dict[str, Any]:
    answer = await api.get("/openapi.json")
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, operation) for path, methods in document["paths"].items()
            for method, operation in methods.items()]


async def test_every_contract_endpoint_is_documented(document: dict[str, Any]) -> None:
    expected = {"/reports/sales", "/reports/cancellations", "/reports/corrections", "/reports/stuck",
                "/orders/{order_id}/history", *COMMAND_PATHS}
    assert expected <= set(document["paths"])
    assert "from" in {p["name"] for p in document["paths"]["/reports/sales"]["get"]["parameters"]}


async def test_errors_are_documented_with_the_error_model_everywhere(document: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert set(document["components"]["schemas"]["ErrorBody"]["properties"]) == {"error"}
    for method, path, operation in operations(document):
        statuses = {"503"} if path == "/healthz" else {"401", "403", "422", "500"}
        assert statuses <= set(operation["responses"]), (method, path)
        for status in statuses:
            content = operation["responses"][status]["content"]["application/json"]
            if path != "/healthz":
                assert content["schema"] == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
                assert set(content["example"]) == {"error"}
        if path != "/healthz":
            assert operation.get("security"), (method, path)


async def test_commands_document_the_conflict_and_the_async_answer(document: dict[str, Any]) -> None:
    for path in [*COMMAND_PATHS]:
        responses = document["paths"][path]["post"]["responses"]
        assert {"200", "202", "404", "409", "413"} <= set(responses), path
    assert "409" in document["paths"]["/orders"]["post"]["responses"]


async def test_request_bodies_have_examples(document: dict[str, Any]) -> None:
    bodies = {(method, path): operation["requestBody"]["content"]["application/json"]
              for method, path, operation in operations(document) if "requestBody" in operation}
    mine = {key: body for key, body in bodies.items() if not key[1].startswith("/webhooks")}
    assert ("post", "/orders") in mine and ("patch", "/orders/{order_id}") in mine
    for key, body in mine.items():
        assert body.get("examples"), key
    order = bodies[("post", "/orders")]["examples"]["credit"]["value"]
    assert order["shipping_address"]["name"] == "李雷"


async def test_successful_answers_have_examples(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        if path.startswith("/webhooks"):
            continue
        success = next(status for status in operation["responses"] if status.startswith("2"))
        if success == "204":
            assert "content" not in operation["responses"][success], (method, path)  # no body at all
            continue
        assert operation["responses"][success]["content"]["application/json"].get("example"), (method, path)


async def test_the_idempotency_key_header_is_documented(document: dict[str, Any]) -> None:
    parameters = document["paths"]["/orders"]["post"]["parameters"]
    header = next(p for p in parameters if p["name"] == "Idempotency-Key")
    assert header["in"] == "header" and "409" in header["description"]
