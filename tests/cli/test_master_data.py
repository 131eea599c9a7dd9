"""Users, customers, products, stock, the sub-status catalog and webhooks through the CLI, read back over
HTTP; refusals with their exit codes. No Temporal needed (it is on port 1 and never answers)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import httpx
from sqlalchemy.orm import Session, sessionmaker

from db.models import WebhookDelivery
from starter.cli import EXIT_BAD_INPUT, EXIT_CONFLICT, EXIT_DENIED, EXIT_NOT_FOUND
from tests.api.conftest import bearer
from tests.api.support import ADDRESS, new_id
from tests.cli.conftest import Cli
from tests.webhooks.test_delivery import order_with_changes


async def test_a_user_made_with_the_cli_gets_a_token_the_api_accepts(cli: Cli,
                                                                     api: httpx.AsyncClient) -> None:
    created = await cli("user", "create", "--name", "李雷", "--role", "sales", "--json")

    assert created.code == 0, created.stderr
    user = created.json()
    assert (user["name"], user["role"]) == ("李雷", "sales")
    assert (await api.get("/orders", headers=bearer(user["token"]))).status_code == 200
    shown = await cli("user", "create", "--name", "Han Meimei", "--role", "finance")
    assert "token" in shown.stdout and "not stored" in shown.stderr


async def test_customers_and_products_made_with_the_cli_read_the_same_over_http(
    cli: Cli, api: httpx.AsyncClient, admin: dict[str, str],
) -> None:
    customer, sku = new_id("C"), new_id("W")

    made = await cli("customer", "create", "--id", customer, "--name", "ACME 北京", "--credit-limit", "5000",
                     "--json")
    product = await cli("product", "create", "--sku", sku, "--name", "Widget", "--unit-price", "129.90",
                        "--on-hand", "10", "--json")
    removed = await cli("stock", "adjust", sku, "-4", "--reason", "stock count", "--json")

    assert made.code == product.code == removed.code == 0, made.stderr + product.stderr + removed.stderr
    over_http = (await api.get(f"/customers/{customer}", headers=admin)).json()
    assert made.json() == over_http == (await cli("customer", "show", customer, "--json")).json()
    assert over_http["credit_limit"] == "5000.00"
    stock = (await api.get(f"/products/{sku}", headers=admin)).json()
    assert removed.json() == stock == (await cli("product", "show", sku, "--json")).json()
    assert (stock["on_hand"], stock["available"]) == (6, 6)
    table = await cli("product", "show", sku)
    assert "129.90" in table.stdout and "available" in table.stdout


async def test_master_data_refusals_have_the_exit_codes_of_their_http_status(
    cli: Cli, api: httpx.AsyncClient, admin: dict[str, str],
) -> None:
    customer, sku = new_id("C"), new_id("W")
    await cli("customer", "create", "--id", customer, "--name", "ACME", "--credit-limit", "1")
    await cli("product", "create", "--sku", sku, "--name", "Widget", "--unit-price", "1", "--on-hand", "2")

    again = await cli("customer", "create", "--id", customer, "--name", "ACME", "--credit-limit", "1",
                      "--json")
    over_http = await api.post("/customers", json={"id": customer, "name": "ACME", "credit_limit": "1"},
                               headers=admin)
    assert again.code == EXIT_CONFLICT and over_http.status_code == 409
    assert again.error()["code"] == over_http.json()["error"]["code"] == "already_exists"
    too_many = await cli("stock", "adjust", sku, "-3", "--reason", "count")
    assert too_many.code == EXIT_CONFLICT and "orders product show" in too_many.stderr
    unknown = await cli("customer", "show", "nobody", "--json")
    assert unknown.code == EXIT_NOT_FOUND and "orders customer create" in unknown.error()["hint"]
    for command in (("product", "show", "NOPE"), ("stock", "adjust", "NOPE", "1", "--reason", "x")):
        assert (await cli(*command)).code == EXIT_NOT_FOUND
    bad = await cli("product", "create", "--sku", "bad sku!", "--name", "", "--unit-price", "-1", "--json")
    over_http = await api.post("/products", json={"sku": "bad sku!", "name": "", "unit_price": "-1"},
                               headers=admin)
    assert bad.code == EXIT_BAD_INPUT and over_http.status_code == 422
    assert ({d["field"] for d in bad.error()["details"]}
            == {d["field"] for d in over_http.json()["error"]["details"]} == {"sku", "name", "unit_price"})
    assert (await cli("stock", "adjust", sku, "0", "--reason", "x")).code == EXIT_BAD_INPUT

    sales = (await cli("user", "create", "--name", "Sam", "--role", "sales", "--json")).json()["token"]
    denied = await cli("product", "create", "--sku", new_id("W"), "--name", "W", "--unit-price", "1",
                       "--json", token=sales)
    over_http = await api.post("/products", json={"sku": new_id("W"), "name": "W", "unit_price": "1"},
                               headers=bearer(sales))
    assert denied.code == EXIT_DENIED and over_http.status_code == 403
    assert denied.error()["message"] == over_http.json()["error"]["message"]
    assert (await cli("customer", "show", customer, token="not-a-token")).code == EXIT_DENIED


async def test_orders_are_refused_before_temporal_is_asked_when_their_input_is_bad(
    cli: Cli, api: httpx.AsyncClient, admin: dict[str, str],
) -> None:
    body = {"customer_id": "C-1", "lines": [{"sku": "W-1", "quantity": 0}], "shipping_address": ADDRESS,
            "payment_terms": "cash", "colour": "red"}
    over_http = await api.post("/orders", json=body, headers=admin)
    from_file = await cli("order", "create", "--file", "-", "--json", input=json.dumps(body))

    assert from_file.code == EXIT_BAD_INPUT and over_http.status_code == 422
    assert ({d["field"] for d in from_file.error()["details"]}
            == {d["field"] for d in over_http.json()["error"]["details"]})
    from_options = await cli("order", "create", "--customer", "C-1", "--line", "W-1:two", "--address-city",
                             "Shanghai")
    assert from_options.code == EXIT_BAD_INPUT
    for expected in ("lines[0].quantity (--line)", "shipping_address.phone (--address-phone)",
                     "payment_terms (--terms)", "hint: "):
        assert expected in from_options.stderr
    for args, message in (
        (("--line", "W-1"), "is not SKU:QTY"),
        (("--file", "order.json", "--customer", "C-1"), "leave out --customer"),
        (("--file", "/nonexistent/order.json"), "cannot read"),
        (("--address-json", "[1]"), "must be a JSON object"),
    ):
        refused = await cli("order", "create", *args)
        assert refused.code == EXIT_BAD_INPUT, refused.stderr
        assert message in refused.stderr
    not_json = await cli("order", "create", "-f", "-", "--json", input="{nope")
    assert not_json.code == EXIT_BAD_INPUT and "not valid JSON" in not_json.error()["message"]
    sales = (await cli("user", "create", "--name", "Sam", "--role", "sales", "--json")).json()["token"]
    not_theirs = await cli("order", "create", "--file", "-", "--json", token=sales,
                           input=json.dumps({"customer_id": "C-1", "lines": [{"sku": "W-1", "quantity": 1}],
                                             "shipping_address": ADDRESS, "payment_terms": "credit",
                                             "owner_id": "someone-else"}))
    assert not_theirs.code == EXIT_DENIED, not_theirs.stderr
    assert not_theirs.error()["message"] == "sales create orders only for themselves"


async def test_the_sub_status_catalog_through_the_cli(cli: Cli, api: httpx.AsyncClient,
                                                      admin: dict[str, str]) -> None:
    label = f"CLI_{uuid.uuid4().hex[:8].upper()}"

    added = await cli("substatus", "add", "processing", label, "--json")

    assert added.code == 0, added.stderr
    assert label in added.json()["PROCESSING"]
    catalog = (await api.get("/sub-statuses", headers=admin)).json()
    assert (await cli("substatus", "list", "--json")).json() == catalog == added.json()
    assert (await cli("substatus", "add", "processing", label)).code == EXIT_CONFLICT
    assert (await cli("substatus", "add", "completed", "LATE")).code == EXIT_BAD_INPUT  # terminal
    assert (await cli("substatus", "add", "processing", "lower")).code == EXIT_BAD_INPUT
    assert label in (await cli("substatus", "list", "--status", "processing")).stdout
    removed = await cli("substatus", "remove", "PROCESSING", label, "--json")
    assert removed.code == 0 and label not in removed.json()["PROCESSING"]
    assert (await cli("substatus", "remove", "PROCESSING", label)).code == EXIT_NOT_FOUND


async def test_webhooks_through_the_cli_match_the_api(
    cli: Cli, api: httpx.AsyncClient, admin: dict[str, str], sqlite_sessions: sessionmaker[Session],
) -> None:
    added = await cli("webhook", "add", "http://127.0.0.1:9/hooks", "--secret", "s3cret-of-the-erp-team",
                      "--event", "order.status_changed", "--json")
    assert added.code == 0, added.stderr
    hook = added.json()
    try:
        assert hook["secret"] == "s3cret-of-the-erp-team" and hook["events"] == ["order.status_changed"]
        assert "could not wake the webhook dispatcher" in added.stderr  # Temporal is down: a warning only
        listed = (await api.get("/webhooks", headers=admin)).json()
        assert (await cli("webhook", "list", "--json")).json() == listed
        assert hook["id"] in (await cli("webhook", "list")).stdout
        assert (await cli("webhook", "show", hook["id"], "--json")).json() == next(
            h for h in listed if h["id"] == hook["id"])

        order_id, event_ids = order_with_changes(sqlite_sessions)
        with sqlite_sessions.begin() as s:
            for event_id in event_ids:
                s.add(WebhookDelivery(webhook_id=hook["id"], event_id=event_id, status="failed", attempts=3,
                                      last_status_code=500, created_at=datetime.now(UTC), log=[]))
        path = f"/webhooks/{hook['id']}/deliveries"
        page = (await api.get(path, headers=admin)).json()
        assert (await cli("webhook", "deliveries", hook["id"], "--json")).json() == page
        assert [d["order_id"] for d in page["items"]] == [order_id, order_id]
        first = await cli("webhook", "deliveries", hook["id"], "--limit", "1", "--status", "failed", "--json")
        assert first.json()["next_cursor"] is not None
        shown = await cli("webhook", "deliveries", hook["id"])
        assert order_id in shown.stdout and "500" in shown.stdout
        delivery = str(page["items"][0]["id"])
        assert (await cli("webhook", "retry", hook["id"], delivery, "--json")).json()["status"] == "pending"
        assert (await cli("webhook", "retry", hook["id"], delivery)).code == EXIT_CONFLICT
    finally:
        removed = await cli("webhook", "remove", hook["id"], "--json")
    assert removed.code == 0 and removed.json()["active"] is False
    assert (await cli("webhook", "remove", "wh_nope")).code == EXIT_NOT_FOUND
    assert (await cli("webhook", "deliveries", "wh_nope", "--json")).code == EXIT_NOT_FOUND
    sales = (await cli("user", "create", "--name", "Sam", "--role", "sales", "--json")).json()["token"]
    assert (await cli("webhook", "list", token=sales)).code == EXIT_DENIED
