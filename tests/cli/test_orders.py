"""The CLI, the HTTP API and the Python client on the same orders, with a real worker and Temporal."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from starter.cli import EXIT_BAD_INPUT, EXIT_CONFLICT, EXIT_DENIED, EXIT_NOT_FOUND
from starter.client import OrdersClient
from starter.service import Services
from tests.api.conftest import ADMIN_TOKEN
from tests.api.support import ADDRESS, new_id, order_body, wait_for
from tests.cli.conftest import Cli


def shipped(view: dict[str, object]) -> bool:
    return view["status"] == "SHIPPED"


async def test_an_order_placed_with_the_cli_reads_the_same_over_http_the_client_and_the_cli(
    stack_cli: Cli, orders_api: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, str],
    order_services: Services,
) -> None:
    placed = await stack_cli(
        "order", "create", "--customer", catalog["customer"], "--line", f"{catalog['widget']}:2",
        "--line", f"{catalog['gadget']}:3:10", "--terms", "credit", "--address-json", json.dumps(ADDRESS),
        "--json")

    assert placed.code == 0, placed.stderr
    view = placed.json()
    assert (view["customer_id"], view["owner_id"], view["total"]) == (catalog["customer"], "admin", "286.80")
    assert placed.stderr == ""  # no spinner, no chatter when the output is for a script
    order_id = view["order_id"]
    over_http = await wait_for(orders_api, f"/orders/{order_id}", admin, shipped)
    page = await wait_for(orders_api, f"/orders?customer_id={catalog['customer']}", admin,
                          lambda p: [i["status"] for i in p["items"]] == ["SHIPPED"])
    async with OrdersClient.connect(order_services.settings, token=ADMIN_TOKEN) as client:
        through_client = (await client.get_order(order_id)).model_dump(mode="json", by_alias=True)

    assert (await stack_cli("order", "show", order_id, "--json")).json() == over_http == through_client
    assert (await stack_cli("order", "list", "--customer", catalog["customer"], "--json")).json() == page
    table = await stack_cli("order", "show", order_id)
    assert table.code == 0 and order_id in table.stdout and "SHIPPED" in table.stdout
    assert "286.80" in table.stdout and catalog["widget"] in table.stdout


async def test_a_command_sent_with_the_cli_is_in_the_history_the_api_shows(
    stack_cli: Cli, orders_api: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, str],
    order_services: Services,
) -> None:
    created = await orders_api.post("/orders", json=order_body(catalog), headers=admin)
    order_id = created.json()["order_id"]
    await wait_for(orders_api, f"/orders/{order_id}", admin, shipped)

    received = await stack_cli("order", "receipt", order_id, "--signed-by", "Li Wei", "--json")

    assert received.code == 0, received.stderr
    assert received.json()["status"] == "DELIVERED"
    await wait_for(orders_api, f"/orders/{order_id}", admin, lambda v: v["status"] == "COMPLETED")
    history = await wait_for(orders_api, f"/orders/{order_id}/history", admin,
                             lambda h: h[-1]["to_status"] == "COMPLETED")
    receipt = next(e for e in history if e["action"] == "confirm_receipt")
    assert (receipt["actor"], receipt["accepted"], receipt["to_status"]) == ("admin", True, "DELIVERED")
    assert (await stack_cli("order", "history", order_id, "--json")).json() == history
    client = await OrdersClient.for_services(order_services, token=ADMIN_TOKEN)
    assert [e.model_dump(mode="json") for e in await client.history(order_id)] == history

    refused = await stack_cli("order", "cancel", order_id, "--reason", "too late")

    assert refused.code == EXIT_CONFLICT, refused.stdout + refused.stderr
    assert refused.stderr.startswith("error: ") and "\nhint: " in refused.stderr
    over_http = await orders_api.post(f"/orders/{order_id}/cancel", json={"reason": "too late"},
                                      headers=admin)
    assert over_http.status_code == 409
    as_json = await stack_cli("order", "cancel", order_id, "--reason", "too late", "--json")
    assert as_json.code == EXIT_CONFLICT and as_json.stdout == ""
    assert as_json.error()["code"] == over_http.json()["error"]["code"]
    trail = await stack_cli("order", "history", order_id)
    assert "cancel (REJECTED)" in trail.stdout and "confirm_receipt" in trail.stdout


async def test_a_file_stdin_and_http_with_one_idempotency_key_are_one_order(
    stack_cli: Cli, orders_api: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, str],
    tmp_path: Path,
) -> None:
    body, key = order_body(catalog), new_id("key")
    (tmp_path / "order.json").write_text(json.dumps(body))

    first = await stack_cli("order", "create", "--file", str(tmp_path / "order.json"),
                            "--idempotency-key", key, "--json")
    again = await stack_cli("order", "create", "--file", "-", "--idempotency-key", key, "--json",
                            input=json.dumps(body))
    over_http = await orders_api.post("/orders", json=body, headers=admin | {"Idempotency-Key": key})

    assert first.code == again.code == 0, first.stderr + again.stderr
    assert first.json()["order_id"] == again.json()["order_id"] == over_http.json()["order_id"]
    other = json.dumps(body | {"notes": "another body"})
    reused = await stack_cli("order", "create", "-f", "-", "--idempotency-key", key, input=other)
    assert reused.code == EXIT_CONFLICT
    assert "use a new --idempotency-key" in reused.stderr


async def test_the_cli_edits_and_moves_an_order_as_the_api_does(
    stack_cli: Cli, orders_api: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, str],
) -> None:
    created = await orders_api.post("/orders", json=order_body(catalog, fulfillment="manual"), headers=admin)
    order_id = created.json()["order_id"]
    processing = await wait_for(orders_api, f"/orders/{order_id}", admin,
                                lambda v: v["status"] == "PROCESSING")

    edited = await stack_cli("order", "edit", order_id, "--reason", "customer called", "--line",
                             f"{catalog['widget']}:1", "--expected-version", str(processing["version"]),
                             "--json")
    assert edited.code == 0, edited.stderr
    assert edited.json()["total"] == "129.90"
    stale = await stack_cli("order", "edit", order_id, "--reason", "again", "--notes", "x",
                            "--expected-version", str(processing["version"]))
    assert stale.code == EXIT_CONFLICT and "--expected-version" in stale.stderr
    sent = await stack_cli("order", "status", order_id, "shipped", "--carrier", "SF", "--tracking-number",
                           "SF123", "--json")
    assert sent.code == 0, sent.stderr
    assert (await orders_api.get(f"/orders/{order_id}", headers=admin)).json() == sent.json()
    assert sent.json()["shipment"]["tracking_number"] == "SF123"


async def test_refusals_have_the_exit_codes_of_their_http_status(
    stack_cli: Cli, orders_api: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, str],
) -> None:
    bad = await stack_cli("order", "create", "--customer", catalog["customer"], "--line",
                          f"{catalog['widget']}:0", "--terms", "credit",
                          "--address-json", json.dumps(ADDRESS))
    assert bad.code == EXIT_BAD_INPUT
    assert "lines[0].quantity (--line)" in bad.stderr
    unknown_sku = await stack_cli("order", "create", "--customer", catalog["customer"], "--line", "NOPE-1:1",
                                  "--terms", "credit", "--address-json", json.dumps(ADDRESS), "--json")
    over_http = await orders_api.post(
        "/orders", json=order_body(catalog, lines=[{"sku": "NOPE-1", "quantity": 1}]), headers=admin)
    assert unknown_sku.code == EXIT_BAD_INPUT and over_http.status_code == 422
    assert unknown_sku.error()["details"] == over_http.json()["error"]["details"]
    missing = await stack_cli("order", "show", "no-such-order")
    assert missing.code == EXIT_NOT_FOUND and "`orders order list`" in missing.stderr

    warehouse = await stack_cli("user", "create", "--name", "Wu", "--role", "warehouse", "--json")
    token = warehouse.json()["token"]
    order_id = (await orders_api.post("/orders", json=order_body(catalog), headers=admin)).json()["order_id"]
    denied = await stack_cli("order", "approve", order_id, "--json", token=token)
    over_http = await orders_api.post(f"/orders/{order_id}/approve", json={},
                                      headers={"Authorization": f"Bearer {token}"})
    assert denied.code == EXIT_DENIED and over_http.status_code == 403
    assert denied.error()["message"] == over_http.json()["error"]["message"]
