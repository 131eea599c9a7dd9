"""Schemathesis against /openapi.json: no generated request, valid or not, makes a server error.

The app runs in process over ASGI with a real Temporal dev server and worker, all on the test's event
loop; Hypothesis runs in a worker thread and hands each request to that loop. Runs are bounded
(MAX_EXAMPLES per operation and mode) and derandomized, so they are stable. Every request is sent with
the admin token; the examples of the document (a real order for the seeded customer and SKUs) run first.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from starter import api_docs
from starter.api import create_app
from tests.api.conftest import ADMIN_TOKEN, running_services, serve

MAX_EXAMPLES = 6
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# Registering a webhook would make the dispatcher call whatever URL was generated: never fuzzed.
NOT_FUZZED = {("POST", "/webhooks")}
CHECKS: dict[GenerationMode, list[Callable[..., Any]]] = {
    GenerationMode.POSITIVE: [not_a_server_error, status_code_conformance, content_type_conformance,
                              response_schema_conformance],
    GenerationMode.NEGATIVE: [not_a_server_error, status_code_conformance, content_type_conformance,
                              response_schema_conformance, negative_data_rejection],
}


def cases() -> list[tuple[str, str, GenerationMode]]:
    """Every operation with valid input; those that take any input also with invalid input."""
    paths: dict[str, dict[str, Any]] = create_app().openapi()["paths"]
    found: list[tuple[str, str, GenerationMode]] = []
    for path, methods in sorted(paths.items()):
        for method, spec in sorted(methods.items()):
            if (method.upper(), path) in NOT_FUZZED:
                continue
            found.append((method.upper(), path, GenerationMode.POSITIVE))
            if spec.get("requestBody") or any(constrained(p["schema"]) for p in spec.get("parameters", [])):
                found.append((method.upper(), path, GenerationMode.NEGATIVE))
    return found


def constrained(schema: dict[str, Any]) -> bool:
    """Whether some value is invalid for this parameter (any string is valid for a bare string)."""
    rules = set(schema) - {"type", "title", "description", "examples", "example"}
    return bool(rules) or schema.get("type") != "string"


@pytest.fixture(scope="module")
async def fuzz_api(
    client: Client, sqlite_sessions: sessionmaker[Session], sqlite_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, schemathesis.BaseSchema]]:
    """The app, its worker, the master data the document's examples name, and the parsed schema."""
    async with running_services(client, sqlite_sessions, sqlite_url) as services:
        async for http in serve(services, raise_app_exceptions=False):
            seeds = [("/customers", example["value"]) for example in api_docs.NEW_CUSTOMER.values()]
            seeds += [("/products", example["value"]) for example in api_docs.NEW_PRODUCT.values()]
            seeds += [("/products", {"sku": "SKU-2", "name": "Gadget", "unit_price": "10.00",
                                     "on_hand": 10**5}),
                      ("/products/SKU-1/stock", {"delta": 10**5, "reason": "fuzzing"})]
            for path, body in seeds:
                await http.post(path, json=body, headers=AUTH)  # 201 (or 409 when already there)
            document = (await http.get("/openapi.json")).json()
            yield http, schemathesis.openapi.from_dict(document)


def to_request(kwargs: dict[str, Any]) -> dict[str, Any]:
    """requests-style keyword arguments (schemathesis' serialization) → httpx's."""
    request: dict[str, Any] = {"method": kwargs["method"], "url": kwargs["url"],
                               "params": kwargs.get("params") or None,
                               "headers": {k: str(v) for k, v in (kwargs.get("headers") or {}).items()},
                               "cookies": kwargs.get("cookies") or None}
    if "json" in kwargs:
        request["content"] = json.dumps(kwargs["json"]).encode()
        request["headers"].setdefault("Content-Type", "application/json")
    elif isinstance(kwargs.get("data"), dict):
        request["data"] = kwargs["data"]
    elif kwargs.get("data") is not None:
        request["content"] = kwargs["data"]
    return request


@pytest.mark.parametrize(("method", "path", "mode"), cases(), ids=lambda v: str(v))
async def test_generated_requests_cause_no_server_error(
    fuzz_api: tuple[httpx.AsyncClient, schemathesis.BaseSchema], method: str, path: str, mode: GenerationMode
) -> None:
    http, schema = fuzz_api
    operation = schema[path][method]
    loop = asyncio.get_running_loop()
    strategies = [operation.as_strategy(generation_mode=mode, headers=AUTH)]
    if mode == GenerationMode.POSITIVE:
        strategies += schema.get_strategies_from_examples(operation, headers=AUTH)

    def send(case: Any) -> httpx.Response:
        try:
            request = to_request(case.as_transport_kwargs(base_url="http://api.test", headers=AUTH))
            built = http.build_request(**request)
        except (UnicodeEncodeError, TypeError, ValueError):
            assume(False)  # httpx cannot put this on the wire; the server never sees it
            raise
        return asyncio.run_coroutine_threadsafe(http.send(built), loop).result(timeout=60)

    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate, Phase.shrink])
    @given(st.one_of(strategies))
    def run(case: Any) -> None:
        response = send(case)
        case.validate_response(response, checks=CHECKS[mode])

    await asyncio.to_thread(run)
