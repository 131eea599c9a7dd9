"""The webhook activities on SQLite and PostgreSQL: fan-out, due deliveries, one signed POST."""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities.models import ProjectInput
from activities.webhooks import WebhookActivities
from db.models import OutboxEvent, Webhook, WebhookDelivery
from starter.service import Services
from starter.settings import Settings
from starter.webhooks import Webhooks
from tests.activities import order_activities
from tests.factories import uid
from tests.webhooks.receiver import Receiver, dead_url, verify
from tests.webhooks.test_outbox import entry, view
from workflows.models import Actor
from workflows.rules import OrderStatus, Role
from workflows.webhook_models import DeliverInput, DeliveryPolicy, DueInput, FanOutInput

Receivers = Callable[..., Awaitable[Receiver]]
POLICY = DeliveryPolicy(timeout=timedelta(seconds=2), initial_backoff=timedelta(seconds=30),
                        max_backoff=timedelta(minutes=5), max_attempts=3)


def add_webhook(sessions: sessionmaker[Session], url: str, *, events: list[str] | None = None,
                active: bool = True) -> Webhook:
    hook = Webhook(id=uid("wh"), url=url, secret=secrets.token_hex(16), active=active, events=events,
                   created_at=datetime.now(UTC))
    with sessions.begin() as s:
        s.add(hook)
    return hook


def order_with_changes(sessions: sessionmaker[Session]) -> tuple[str, list[int]]:
    """An order created and moved to PROCESSING: two events; returns their ids."""
    order_id = uid("O")
    order_activities(sessions).project_order(ProjectInput(
        view=view(order_id, OrderStatus.PROCESSING, 2), revision=1,
        audit=[entry(order_id, "create", None, "PENDING"),
               entry(order_id, "reserve", "PENDING", "PROCESSING", minute=1)]))
    with sessions() as s:
        ids = s.scalars(select(OutboxEvent.id).where(OutboxEvent.order_id == order_id)
                        .order_by(OutboxEvent.sequence))
        return order_id, list(ids)


def deliveries(sessions: sessionmaker[Session], hook: Webhook) -> list[WebhookDelivery]:
    with sessions() as s:
        return list(s.scalars(select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook.id)
                              .order_by(WebhookDelivery.event_id)))


def fan_out_everything(acts: WebhookActivities) -> None:
    while acts.fan_out(FanOutInput(limit=500)).more:
        pass


def test_new_events_fan_out_to_the_active_webhooks_that_want_them(
    sessions: sessionmaker[Session],
) -> None:
    wants_all = add_webhook(sessions, "http://erp.test/a")
    wants_other = add_webhook(sessions, "http://erp.test/b", events=["invoice.issued"])
    wants_status = add_webhook(sessions, "http://erp.test/c", events=["order.status_changed"])
    removed = add_webhook(sessions, "http://erp.test/d", active=False)
    _, event_ids = order_with_changes(sessions)
    added_later = add_webhook(sessions, "http://erp.test/e")
    acts = WebhookActivities(sessions)

    fan_out_everything(acts)
    fan_out_everything(acts)  # a second round finds nothing new

    for hook in (wants_all, wants_status):
        assert [(d.event_id, d.status, d.attempts) for d in deliveries(sessions, hook)] == [
            (event_ids[0], "pending", 0), (event_ids[1], "pending", 0)]
    for hook in (wants_other, removed, added_later):
        assert deliveries(sessions, hook) == []


def test_due_deliveries_come_in_lanes_per_webhook_without_busy_or_removed_ones(
    sessions: sessionmaker[Session],
) -> None:
    first, second, busy = (add_webhook(sessions, f"http://erp.test/{n}") for n in range(3))
    order_with_changes(sessions)
    acts = WebhookActivities(sessions)
    fan_out_everything(acts)

    due = acts.due_deliveries(DueInput(limit=100, max_webhooks=10, exclude=[busy.id]))

    lanes = {lane.webhook_id: lane.delivery_ids for lane in due.lanes}
    assert lanes.keys() == {first.id, second.id}
    assert lanes[first.id] == [d.id for d in deliveries(sessions, first)]
    limited = acts.due_deliveries(DueInput(limit=100, max_webhooks=1, exclude=[busy.id]))
    assert len(limited.lanes) == 1 and limited.more


async def test_a_delivery_is_one_signed_post_of_the_event(
    sessions: sessionmaker[Session], receivers: Receivers,
) -> None:
    receiver = await receivers()
    hook = add_webhook(sessions, receiver.url)
    order_id, event_ids = order_with_changes(sessions)
    acts = WebhookActivities(sessions)
    fan_out_everything(acts)
    delivery = deliveries(sessions, hook)[0]

    result = await acts.deliver_webhook(DeliverInput(delivery_id=delivery.id, policy=POLICY))

    assert (result.status, result.attempts, result.status_code) == ("delivered", 1, 200)
    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/hooks/orders")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-orders-event"] == "order.status_changed"
    assert request.headers["x-orders-delivery"] == str(delivery.id)
    assert verify(hook.secret, request.body, request.headers["x-orders-signature"])
    assert not verify("another secret", request.body, request.headers["x-orders-signature"])
    body = json.loads(request.body)
    assert (body["id"], body["type"]) == (event_ids[0], "order.status_changed")
    assert body["data"]["order_id"] == order_id
    assert (body["data"]["sequence"], body["data"]["from"], body["data"]["to"]) == (1, None, "PENDING")
    stored = deliveries(sessions, hook)[0]
    assert (stored.status, stored.attempts, stored.last_status_code) == ("delivered", 1, 200)
    assert stored.delivered_at is not None and stored.next_attempt_at is None
    assert [a["status_code"] for a in stored.log] == [200]

    again = await acts.deliver_webhook(DeliverInput(delivery_id=delivery.id, policy=POLICY))

    assert again.status == "skipped" and len(receiver.requests) == 1  # a retried activity posts once


async def test_a_failing_receiver_gets_the_event_again_later_until_attempts_run_out(
    sessions: sessionmaker[Session], receivers: Receivers,
) -> None:
    receiver = await receivers(always_fail=True)
    hook = add_webhook(sessions, receiver.url)
    order_with_changes(sessions)
    acts = WebhookActivities(sessions)
    fan_out_everything(acts)
    delivery_id = deliveries(sessions, hook)[0].id
    before = datetime.now(UTC)

    first = await acts.deliver_webhook(DeliverInput(delivery_id=delivery_id, policy=POLICY))

    assert (first.status, first.attempts, first.status_code) == ("pending", 1, 500)
    assert first.error == "HTTP 500: receiver down for maintenance"
    stored = deliveries(sessions, hook)[0]
    assert stored.next_attempt_at is not None
    assert before + timedelta(seconds=30) <= stored.next_attempt_at <= datetime.now(UTC) + timedelta(
        seconds=30)
    assert all(delivery_id not in lane.delivery_ids for lane in acts.due_deliveries(DueInput()).lanes)

    second = await acts.deliver_webhook(DeliverInput(delivery_id=delivery_id, policy=POLICY))
    third = await acts.deliver_webhook(DeliverInput(delivery_id=delivery_id, policy=POLICY))

    assert (second.status, third.status) == ("pending", "failed")
    stored = deliveries(sessions, hook)[0]
    assert (stored.status, stored.attempts, stored.next_attempt_at) == ("failed", 3, None)
    assert [a["status_code"] for a in stored.log] == [500, 500, 500]
    assert (await acts.deliver_webhook(DeliverInput(delivery_id=delivery_id, policy=POLICY))).status \
        == "skipped"
    assert len(receiver.requests) == 3


async def test_an_unreachable_receiver_is_recorded_as_an_attempt(sessions: sessionmaker[Session]) -> None:
    hook = add_webhook(sessions, dead_url())
    order_with_changes(sessions)
    acts = WebhookActivities(sessions)
    fan_out_everything(acts)

    result = await acts.deliver_webhook(DeliverInput(delivery_id=deliveries(sessions, hook)[0].id,
                                                     policy=POLICY))

    assert (result.status, result.status_code) == ("pending", None)
    assert result.error is not None and result.error.startswith("ConnectError")


def test_backoff_doubles_up_to_its_maximum() -> None:
    policy = DeliveryPolicy(initial_backoff=timedelta(seconds=30), max_backoff=timedelta(minutes=3))

    assert [policy.backoff(n).total_seconds() for n in range(1, 6)] == [30, 60, 120, 180, 180]


async def test_removing_a_webhook_cancels_its_pending_deliveries(
    sessions: sessionmaker[Session], receivers: Receivers,
) -> None:
    receiver = await receivers()
    hook = add_webhook(sessions, receiver.url)
    order_with_changes(sessions)
    acts = WebhookActivities(sessions)
    fan_out_everything(acts)
    service = Webhooks(Services(Settings(database_url="sqlite://"), sessions))
    admin = Actor(id="admin", role=Role.ADMIN)

    removed = await service.remove(admin, hook.id)

    assert not removed.active and removed.removed_at is not None
    found = deliveries(sessions, hook)
    assert {(d.status, d.last_error) for d in found} == {("cancelled", "webhook removed")}
    result = await acts.deliver_webhook(DeliverInput(delivery_id=found[0].id, policy=POLICY))
    assert result.status == "skipped" and receiver.requests == []
    order_with_changes(sessions)
    fan_out_everything(acts)
    assert len(deliveries(sessions, hook)) == len(found)  # no new deliveries either
