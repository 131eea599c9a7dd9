"""Helpers shared by the API tests: ids, order bodies, polling the asynchronous read model."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx

ADDRESS = {"name": "Zhang San", "phone": "+86 138 0000 0000", "line1": "1 Nanjing Rd",
           "city": "Shanghai", "postal_code": "200000", "country": "CN"}


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def make_catalog(api: httpx.AsyncClient, admin: dict[str, str], *, credit_limit: str = "50000",
                       on_hand: int = 100) -> dict[str, str]:
    """A customer with credit and two products in stock, created through the API."""
    customer, widget, gadget = new_id("C"), new_id("W"), new_id("G")
    for path, body in (
        ("/customers", {"id": customer, "name": "ACME", "credit_limit": credit_limit}),
        ("/products", {"sku": widget, "name": "Widget", "unit_price": "129.90", "on_hand": on_hand}),
        ("/products", {"sku": gadget, "name": "Gadget", "unit_price": "10.00", "on_hand": on_hand}),
    ):
        created = await api.post(path, json=body, headers=admin)
        assert created.status_code == 201, created.text
    return {"customer": customer, "widget": widget, "gadget": gadget}


def order_body(catalog: dict[str, str], **overrides: Any) -> dict[str, Any]:
    """2 × 129.90 + 3 × 10.00 less 10 % = 286.80."""
    return {"customer_id": catalog["customer"],
            "lines": [{"sku": catalog["widget"], "quantity": 2},
                      {"sku": catalog["gadget"], "quantity": 3, "discount_pct": "10"}],
            "shipping_address": ADDRESS, "payment_terms": "credit", **overrides}


async def eventually(check: Callable[[], Any], timeout: float = 15) -> Any:
    """Call the async `check` until it returns something truthy; the read model moves asynchronously."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never true: {check}")
        await asyncio.sleep(0.1)


async def wait_for(api: httpx.AsyncClient, path: str, headers: dict[str, str],
                   done: Callable[[Any], bool], timeout: float = 15) -> Any:
    """Poll a GET until `done(json)`; the workflow and its read model move asynchronously."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        answer = await api.get(path, headers=headers)
        if answer.status_code == 200 and done(answer.json()):
            return answer.json()
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{path} never got there: {answer.status_code} {answer.text}")
        await asyncio.sleep(0.1)
