"""Webhooks for operators (admin only): add, list, remove, inspect and retry deliveries.

Used by the HTTP API (`starter.api_webhooks`) and the CLI alike. Database work runs in a thread; the
dispatcher workflow is started (or poked) after a change so new work is picked up at once.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AnyHttpUrl, BaseModel, Field, StringConstraints, UrlConstraints
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from activities.outbox import STATUS_CHANGED
from db.models import OutboxEvent, Webhook, WebhookDelivery
from starter.service import ServiceError, Services, invalid_input, not_found
from workflows import errors
from workflows.models import Actor, Strict
from workflows.rules import Command
from workflows.webhook_models import DispatchSettings
from workflows.webhooks import DISPATCHER_ID, WebhookDispatchWorkflow

log = logging.getLogger(__name__)

T = TypeVar("T")

# Managing webhooks is an admin's job; the permission table's admin-only entry stands for it.
ADMIN_ONLY = Command.MANAGE_WEBHOOKS
MAX_PAGE = 100

EventType = Literal["order.status_changed"]
DeliveryStatus = Literal["pending", "delivered", "failed", "cancelled"]
WebhookUrl = Annotated[AnyHttpUrl, UrlConstraints(max_length=2000, allowed_schemes=["http", "https"])]
Secret = Annotated[str, StringConstraints(min_length=16, max_length=200, pattern=r"^[\x21-\x7e]+$")]


class NewWebhook(Strict):
    url: WebhookUrl = Field(examples=["https://erp.example.com/hooks/orders"])
    secret: Secret | None = Field(
        default=None, description="HMAC key (16–200 printable ASCII characters); generated when absent")
    events: list[EventType] | None = Field(
        default=None, min_length=1, description="event types to receive; absent: all")


class WebhookView(BaseModel):
    id: str
    url: str
    events: list[str] | None
    active: bool
    created_at: datetime
    removed_at: datetime | None = None


class CreatedWebhook(WebhookView):
    secret: str = Field(description="the signing secret; shown here once, never again")


class DeliveryAttempt(BaseModel):
    at: datetime
    status_code: int | None
    error: str | None
    ms: int


class DeliveryView(BaseModel):
    id: int
    webhook_id: str
    event_id: int
    event_type: str
    order_id: str
    sequence: int
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    log: list[DeliveryAttempt]


class DeliveryPage(BaseModel):
    items: list[DeliveryView]
    next_cursor: str | None = None


def _view(hook: Webhook) -> WebhookView:
    return WebhookView(id=hook.id, url=hook.url, events=hook.events, active=hook.active,
                       created_at=hook.created_at, removed_at=hook.removed_at)


def _delivery_view(delivery: WebhookDelivery, event: OutboxEvent) -> DeliveryView:
    return DeliveryView(
        id=delivery.id, webhook_id=delivery.webhook_id, event_id=event.id, event_type=event.type,
        order_id=event.order_id, sequence=event.sequence, status=delivery.status,  # type: ignore[arg-type]
        attempts=delivery.attempts, last_status_code=delivery.last_status_code,
        last_error=delivery.last_error, next_attempt_at=delivery.next_attempt_at,
        delivered_at=delivery.delivered_at, created_at=delivery.created_at,
        log=[DeliveryAttempt.model_validate(entry) for entry in delivery.log or []],
    )


class Webhooks:
    """The webhook operations over `Services` (its sessionmaker, permission check and client)."""

    def __init__(self, services: Services, *, dispatcher_id: str = DISPATCHER_ID) -> None:
        self._services = services
        self._dispatcher_id = dispatcher_id

    async def add(self, actor: Actor, data: NewWebhook) -> CreatedWebhook:
        """Add an endpoint; it receives the events recorded from now on."""
        self.authorize(actor)
        secret = data.secret or f"whsec_{secrets.token_urlsafe(32)}"
        events = sorted(set(data.events)) if data.events else None
        hook = Webhook(id=f"wh_{secrets.token_hex(8)}", url=str(data.url), secret=secret, active=True,
                       events=events, created_at=datetime.now(UTC))
        await self._db(lambda s: s.add(hook))
        await self._poke()
        return CreatedWebhook(**_view(hook).model_dump(), secret=secret)

    async def list_webhooks(self, actor: Actor, *, include_removed: bool = False) -> list[WebhookView]:
        self.authorize(actor)
        query = select(Webhook).order_by(Webhook.created_at, Webhook.id)
        if not include_removed:
            query = query.where(Webhook.active)
        return [_view(h) for h in await self._db(lambda s: list(s.scalars(query)))]

    async def get(self, actor: Actor, webhook_id: str) -> WebhookView:
        self.authorize(actor)
        return _view(await self._db(lambda s: self._find(s, webhook_id)))

    async def remove(self, actor: Actor, webhook_id: str) -> WebhookView:
        """Stop deliveries to the endpoint: pending ones are cancelled; the log is kept."""
        self.authorize(actor)

        def work(s: Session) -> Webhook:
            hook = self._find(s, webhook_id)
            if hook.active:
                now = datetime.now(UTC)
                hook.active, hook.removed_at = False, now
                s.execute(update(WebhookDelivery)
                          .where(WebhookDelivery.webhook_id == webhook_id,
                                 WebhookDelivery.status == "pending")
                          .values(status="cancelled", next_attempt_at=None, last_error="webhook removed"),
                          execution_options={"synchronize_session": False})
            return hook

        return _view(await self._db(work))

    async def deliveries(self, actor: Actor, webhook_id: str, *, status: DeliveryStatus | None = None,
                         order_id: str | None = None, limit: int = 50,
                         cursor: str | None = None) -> DeliveryPage:
        """The delivery log of a webhook, newest first; `next_cursor` fetches the older ones."""
        self.authorize(actor)
        if not 1 <= limit <= MAX_PAGE:
            raise invalid_input([{"field": "limit", "message": f"must be between 1 and {MAX_PAGE}",
                                  "type": "range"}])
        before = _cursor(cursor)

        def work(s: Session) -> DeliveryPage:
            self._find(s, webhook_id)
            query = (select(WebhookDelivery, OutboxEvent)
                     .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
                     .where(WebhookDelivery.webhook_id == webhook_id)
                     .order_by(WebhookDelivery.id.desc()).limit(limit + 1))
            if status is not None:
                query = query.where(WebhookDelivery.status == status)
            if order_id is not None:
                query = query.where(OutboxEvent.order_id == order_id)
            if before is not None:
                query = query.where(WebhookDelivery.id < before)
            rows = s.execute(query).all()
            items = [_delivery_view(d, e) for d, e in rows[:limit]]
            more = len(rows) > limit
            return DeliveryPage(items=items, next_cursor=str(items[-1].id) if more else None)

        return await self._db(work)

    async def retry(self, actor: Actor, webhook_id: str, delivery_id: int) -> DeliveryView:
        """Deliver a failed (or cancelled) delivery again, with a fresh set of attempts."""
        self.authorize(actor)

        def work(s: Session) -> DeliveryView:
            hook = self._find(s, webhook_id)
            row = s.execute(select(WebhookDelivery, OutboxEvent)
                            .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
                            .where(WebhookDelivery.id == delivery_id,
                                   WebhookDelivery.webhook_id == webhook_id)).one_or_none()
            if row is None:
                raise not_found("delivery", str(delivery_id))
            delivery, event = row
            if not hook.active:
                raise ServiceError(409, errors.NOT_ALLOWED, f"webhook {webhook_id} was removed")
            if delivery.status in ("pending", "delivered"):
                raise ServiceError(409, errors.NOT_ALLOWED,
                                   f"delivery {delivery_id} is {delivery.status}; only a failed or "
                                   "cancelled one can be retried")
            delivery.status, delivery.attempts = "pending", 0
            delivery.next_attempt_at = datetime.now(UTC)
            return _delivery_view(delivery, event)

        view = await self._db(work)
        await self._poke()
        return view

    def authorize(self, actor: Actor) -> None:
        """Admin only; raises ServiceError 403 otherwise."""
        try:
            self._services.authorize(actor, ADMIN_ONLY)
        except ServiceError as refusal:
            raise ServiceError(refusal.status, refusal.code,
                               f"role {actor.role.value} may not manage webhooks (admin only)") from None

    # --- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _find(s: Session, webhook_id: str) -> Webhook:
        hook = s.get(Webhook, webhook_id)
        if hook is None:
            raise not_found("webhook", webhook_id)
        return hook

    async def _db(self, work: Callable[[Session], T]) -> T:
        def run() -> T:
            with self._services.sessions.begin() as s:
                return work(s)

        return await asyncio.to_thread(run)

    async def _poke(self) -> None:
        """Start the dispatcher if it is not running and wake it; Temporal down is only logged
        (every worker starts the dispatcher too, and it then finds the work in the database)."""
        try:
            client = await self._services.temporal()
            await ensure_dispatcher(client, self._services.settings.temporal_task_queue,
                                    workflow_id=self._dispatcher_id, poke=True)
        except Exception as exc:
            log.warning("could not wake the webhook dispatcher: %s", exc)


def _cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit():
        raise invalid_input([{"field": "cursor", "message": "not a cursor returned by this API",
                              "type": "cursor"}])
    return int(cursor)


async def ensure_dispatcher(
    client: Client,
    task_queue: str,
    *,
    workflow_id: str = DISPATCHER_ID,
    settings: DispatchSettings | None = None,
    poke: bool = False,
) -> WorkflowHandle[Any, Any]:
    """Start the singleton dispatcher unless it runs already (idempotent); `poke` also wakes it."""
    if poke:  # signal-with-start: signals the running one, or starts one with the signal
        return await client.start_workflow(
            WebhookDispatchWorkflow.run, settings or DispatchSettings(), id=workflow_id,
            task_queue=task_queue, start_signal="poke", static_summary="webhook dispatcher")
    return await client.start_workflow(
        WebhookDispatchWorkflow.run, settings or DispatchSettings(), id=workflow_id,
        task_queue=task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary="webhook dispatcher")


__all__ = [
    "STATUS_CHANGED",
    "CreatedWebhook",
    "DeliveryPage",
    "DeliveryView",
    "NewWebhook",
    "WebhookView",
    "Webhooks",
    "ensure_dispatcher",
]
