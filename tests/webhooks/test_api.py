"""The webhook routes of the HTTP API: admin only, the error shape, the delivery log and its cursor."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from activities.webhooks import WebhookActivities
from db.models import WebhookDelivery
from starter.service import Services
from starter.settings import Settings
from tests.api.conftest import ADMIN_TOKEN, add_person, bearer, serve
from tests.webhooks.test_delivery import fan_out_everything, order_with_changes
from workflows.rules import Role

ADMIN = bearer(ADMIN_TOKEN)


@pytest.fixture
async def api(sqlite_url: str, sqlite_sessions: sessionmaker[Session]) -> AsyncIterator[httpx.AsyncClient]:
    # Temporal on port 1 never answers: waking the dispatcher fails quietly, as when it is down.
    settings = Settings(database_url=sqlite_url, admin_token=ADMIN_TOKEN, temporal_address="127.0.0.1:1")
    async for http in serve(Services(settings, sqlite_sessions)):
        yield http


async def test_an_admin_adds_a_webhook_and_sees_its_secret_only_once(api: httpx.AsyncClient) -> None:
    added = await api.post("/webhooks", headers=ADMIN,
                           json={"url": "https://erp.example.com/hooks", "events": ["order.status_changed"]})

    assert added.status_code == 201, added.text
    body = added.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    assert (body["url"], body["events"], body["active"]) == (
        "https://erp.example.com/hooks", ["order.status_changed"], True)
    listed = (await api.get("/webhooks", headers=ADMIN)).json()
    assert [w["id"] for w in listed] == [body["id"]]
    assert "secret" not in listed[0]
    one = await api.get(f"/webhooks/{body['id']}", headers=ADMIN)
    assert one.status_code == 200 and "secret" not in one.json()


async def test_a_given_secret_is_kept(api: httpx.AsyncClient) -> None:
    added = await api.post("/webhooks", headers=ADMIN,
                           json={"url": "http://localhost:9000/x", "secret": "s3cret-of-the-erp-team"})

    assert added.status_code == 201
    assert added.json()["secret"] == "s3cret-of-the-erp-team"
    assert added.json()["events"] is None


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "ftp://erp.example.com/hooks"}, "url"),
    ({"url": "not a url"}, "url"),
    ({}, "url"),
    ({"url": "https://erp.example.com", "secret": "short"}, "secret"),
    ({"url": "https://erp.example.com", "events": ["order.exploded"]}, "events[0]"),
    ({"url": "https://erp.example.com", "events": []}, "events"),
    ({"url": "https://erp.example.com", "colour": "blue"}, "colour"),
])
async def test_bad_webhooks_are_refused_naming_the_field(
    api: httpx.AsyncClient, body: dict[str, object], field: str,
) -> None:
    refused = await api.post("/webhooks", headers=ADMIN, json=body)

    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "invalid_input"
    assert field in [d["field"] for d in refused.json()["error"]["details"]]


async def test_only_an_admin_manages_webhooks(api: httpx.AsyncClient) -> None:
    manager = await add_person(api, Role.MANAGER)

    for method, path in (("POST", "/webhooks"), ("GET", "/webhooks"), ("DELETE", "/webhooks/wh_1"),
                         ("GET", "/webhooks/wh_1/deliveries")):
        answer = await api.request(method, path, headers=manager.headers, json={})
        assert answer.status_code == 403, (method, path)
        assert answer.json()["error"]["code"] == "forbidden"
        assert "webhooks" in answer.json()["error"]["message"]
    assert (await api.get("/webhooks")).status_code == 401


async def test_removing_a_webhook_keeps_its_log_and_unknown_ids_are_404(api: httpx.AsyncClient) -> None:
    hook = (await api.post("/webhooks", headers=ADMIN, json={"url": "https://erp.example.com"})).json()

    removed = await api.delete(f"/webhooks/{hook['id']}", headers=ADMIN)

    assert removed.status_code == 204 and removed.content == b""
    assert (await api.get("/webhooks", headers=ADMIN)).json() == []
    everything = (await api.get("/webhooks?include_removed=true", headers=ADMIN)).json()
    assert [(w["id"], w["active"]) for w in everything if w["id"] == hook["id"]] == [(hook["id"], False)]
    assert (await api.delete(f"/webhooks/{hook['id']}", headers=ADMIN)).status_code == 204
    assert (await api.get(f"/webhooks/{hook['id']}/deliveries", headers=ADMIN)).status_code == 200
    missing = await api.delete("/webhooks/wh_nope", headers=ADMIN)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert (await api.get("/webhooks/wh_nope/deliveries", headers=ADMIN)).status_code == 404


async def test_the_delivery_log_pages_newest_first_and_a_failed_delivery_can_be_retried(
    api: httpx.AsyncClient, sqlite_sessions: sessionmaker[Session],
) -> None:
    hook = (await api.post("/webhooks", headers=ADMIN, json={"url": "https://erp.example.com"})).json()
    order_id, _ = order_with_changes(sqlite_sessions)
    order_with_changes(sqlite_sessions)
    fan_out_everything(WebhookActivities(sqlite_sessions))
    path = f"/webhooks/{hook['id']}/deliveries"

    first = (await api.get(f"{path}?limit=3", headers=ADMIN)).json()
    rest = (await api.get(f"{path}?limit=3&cursor={first['next_cursor']}", headers=ADMIN)).json()

    ids = [d["id"] for d in first["items"] + rest["items"]]
    assert len(ids) == 4 and ids == sorted(ids, reverse=True)
    assert rest["next_cursor"] is None
    assert {d["status"] for d in first["items"]} == {"pending"}
    mine = (await api.get(f"{path}?order_id={order_id}", headers=ADMIN)).json()["items"]
    assert [(d["order_id"], d["sequence"], d["event_type"]) for d in mine] == [
        (order_id, 2, "order.status_changed"), (order_id, 1, "order.status_changed")]
    bad = await api.get(f"{path}?cursor=abc", headers=ADMIN)
    assert bad.status_code == 422

    pending = await api.post(f"{path}/{ids[0]}/retry", headers=ADMIN)
    assert pending.status_code == 409 and pending.json()["error"]["code"] == "not_allowed"
    with sqlite_sessions.begin() as s:
        s.execute(update(WebhookDelivery).where(WebhookDelivery.id == ids[0])
                  .values(status="failed", attempts=10, next_attempt_at=None))
    assert (await api.get(f"{path}?status=failed", headers=ADMIN)).json()["items"][0]["id"] == ids[0]

    retried = await api.post(f"{path}/{ids[0]}/retry", headers=ADMIN)

    assert retried.status_code == 200, retried.text
    assert (retried.json()["status"], retried.json()["attempts"]) == ("pending", 0)
    assert retried.json()["next_attempt_at"] is not None
    assert (await api.post(f"{path}/999999999/retry", headers=ADMIN)).status_code == 404
