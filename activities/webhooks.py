"""Webhook activities: fan events out to endpoints, find what is due, deliver one signed POST.

Delivery is at least once: a receiver deduplicates on the event id (or `X-Orders-Delivery`). The body
of an event is the same bytes on every attempt, signed with HMAC-SHA256 of the webhook's secret:
`X-Orders-Signature: sha256=<hex>`. A receiver's failure is data (recorded, retried later with
backoff), never an activity failure; only the database failing makes an activity fail.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from db.models import OutboxEvent, Webhook, WebhookDelivery
from workflows.webhook_models import (
    DeliverInput,
    DeliverResult,
    DueInput,
    DueLane,
    DueResult,
    FanOutInput,
    FanOutResult,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

SIGNATURE_HEADER = "X-Orders-Signature"
EVENT_HEADER = "X-Orders-Event"
DELIVERY_HEADER = "X-Orders-Delivery"
USER_AGENT = "orders-webhooks/1"
LOG_LENGTH = 20  # attempts kept in a delivery's log
ERROR_LENGTH = 500


def sign(secret: str, body: bytes) -> str:
    """The `X-Orders-Signature` value of `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def event_body(event: OutboxEvent) -> bytes:
    """The JSON a receiver gets; the same bytes on every attempt of every webhook."""
    envelope = {"id": event.id, "type": event.type, "created_at": event.created_at.isoformat(),
                "data": event.payload}
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


def wants(webhook: Webhook, event: OutboxEvent) -> bool:
    """A webhook gets the events of its filter, and only those recorded after it was added."""
    return (webhook.events is None or event.type in webhook.events) and event.created_at >= webhook.created_at


@dataclass(frozen=True)
class _Request:
    url: str
    body: bytes
    headers: dict[str, str]


class WebhookActivities:
    def __init__(self, sessions: sessionmaker[Session],
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._sessions = sessions
        self._transport = transport  # tests may inject one; None: real network

    @activity.defn
    def fan_out(self, data: FanOutInput) -> FanOutResult:
        """Create a pending delivery for each new event × active webhook that wants it."""

        def work(s: Session) -> FanOutResult:
            events = list(s.scalars(select(OutboxEvent).where(OutboxEvent.fanned_out_at.is_(None))
                                    .order_by(OutboxEvent.id).limit(data.limit).with_for_update()))
            if not events:
                return FanOutResult(events=0, deliveries=0, more=False)
            hooks = list(s.scalars(select(Webhook).where(Webhook.active).order_by(Webhook.id)))
            done = {(hook_id, event_id) for hook_id, event_id in s.execute(
                select(WebhookDelivery.webhook_id, WebhookDelivery.event_id)
                .where(WebhookDelivery.event_id.in_([e.id for e in events])))}
            now = datetime.now(UTC)
            created = 0
            for event in events:
                for hook in hooks:
                    if wants(hook, event) and (hook.id, event.id) not in done:
                        s.add(WebhookDelivery(webhook_id=hook.id, event_id=event.id, status="pending",
                                              attempts=0, next_attempt_at=now, created_at=now, log=[]))
                        created += 1
                event.fanned_out_at = now
            return FanOutResult(events=len(events), deliveries=created, more=len(events) == data.limit)

        return self._once(work)

    @activity.defn
    def due_deliveries(self, data: DueInput) -> DueResult:
        """Pending deliveries due now, grouped per webhook (at most `max_webhooks`), oldest first."""

        def work(s: Session) -> DueResult:
            now = datetime.now(UTC)
            pending = (WebhookDelivery.status == "pending", Webhook.active)
            query = (select(WebhookDelivery.id, WebhookDelivery.webhook_id)
                     .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                     .where(*pending, WebhookDelivery.next_attempt_at <= now)
                     .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                     .limit(data.limit))
            if data.exclude:
                query = query.where(WebhookDelivery.webhook_id.not_in(data.exclude))
            rows = s.execute(query).all()
            lanes: dict[str, list[int]] = {}
            for delivery_id, webhook_id in rows:
                if webhook_id in lanes or len(lanes) < data.max_webhooks:
                    lanes.setdefault(webhook_id, []).append(delivery_id)
            next_at = s.scalar(select(func.min(WebhookDelivery.next_attempt_at))
                               .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                               .where(*pending, WebhookDelivery.next_attempt_at > now))
            taken = sum(len(ids) for ids in lanes.values())
            return DueResult(lanes=[DueLane(webhook_id=k, delivery_ids=v) for k, v in lanes.items()],
                             more=taken < len(rows) or len(rows) == data.limit, next_at=next_at)

        return self._once(work)

    @activity.defn
    async def deliver_webhook(self, data: DeliverInput) -> DeliverResult:
        """One signed POST of one delivery; records the attempt and schedules the next one."""
        request = await asyncio.to_thread(self._request, data.delivery_id)
        if request is None:
            return DeliverResult(delivery_id=data.delivery_id, status="skipped")
        started = time.monotonic()
        code: int | None = None
        error: str | None = None
        try:
            async with httpx.AsyncClient(timeout=data.policy.timeout.total_seconds(),
                                         transport=self._transport) as client:
                response = await client.post(request.url, content=request.body, headers=request.headers)
            code = response.status_code
            if not response.is_success:
                error = f"HTTP {code}: {response.text[:200]}".strip()
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}".rstrip(": ")
        elapsed_ms = round((time.monotonic() - started) * 1000)
        return await asyncio.to_thread(self._record, data, code, error, elapsed_ms)

    # --- inside one transaction each ---------------------------------------------------------

    def _request(self, delivery_id: int) -> _Request | None:
        with self._sessions.begin() as s:
            row = s.execute(
                select(WebhookDelivery, Webhook, OutboxEvent)
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
                .where(WebhookDelivery.id == delivery_id)
            ).one_or_none()
            if row is None:
                return None
            delivery, hook, event = row
            if delivery.status != "pending" or not hook.active:
                return None
            body = event_body(event)
            return _Request(url=hook.url, body=body, headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                EVENT_HEADER: event.type,
                DELIVERY_HEADER: str(delivery.id),
                SIGNATURE_HEADER: sign(hook.secret, body),
            })

    def _record(self, data: DeliverInput, code: int | None, error: str | None,
                elapsed_ms: int) -> DeliverResult:
        with self._sessions.begin() as s:
            delivery = s.get(WebhookDelivery, data.delivery_id, with_for_update=True)
            if delivery is None or delivery.status != "pending":
                # Recorded by a concurrent attempt, or cancelled meanwhile: theirs stands.
                return DeliverResult(delivery_id=data.delivery_id, status="skipped")
            now = datetime.now(UTC)
            delivery.attempts += 1
            delivery.last_status_code = code
            delivery.last_error = error[:ERROR_LENGTH] if error else None
            entry: dict[str, Any] = {"at": now.isoformat(), "status_code": code, "error": error,
                                     "ms": elapsed_ms}
            delivery.log = [*(delivery.log or []), entry][-LOG_LENGTH:]
            if error is None:
                delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", now, None
            elif delivery.attempts >= data.policy.max_attempts:
                delivery.status, delivery.next_attempt_at = "failed", None
            else:
                delivery.next_attempt_at = now + data.policy.backoff(delivery.attempts)
            return DeliverResult(delivery_id=delivery.id, status=delivery.status,
                                 attempts=delivery.attempts, status_code=code, error=error)

    def _once(self, work: Callable[[Session], T]) -> T:
        """One transaction; on a unique-key conflict (a concurrent attempt won) run it again."""
        try:
            with self._sessions.begin() as s:
                return work(s)
        except IntegrityError:
            with self._sessions.begin() as s:
                return work(s)
