"""HTTP routes of the webhooks (admin only): parsing only; `starter.webhooks` decides.

`create_app` includes `webhook_router()`; the dependencies come from `starter.api`, imported when the
router is built so the two modules do not import each other at load time. (No `from __future__ import
annotations` here: FastAPI must see the locally imported dependency types, not their names.)
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from starter.webhooks import (
    CreatedWebhook,
    DeliveryPage,
    DeliveryStatus,
    DeliveryView,
    NewWebhook,
    Webhooks,
    WebhookView,
)

WebhookId = Annotated[str, Path(min_length=1, max_length=64)]
DeliveryId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def webhook_router() -> APIRouter:
    from starter.api import ActorDep, ServicesDep
    from workflows.models import Actor

    async def admin(actor: ActorDep, services: ServicesDep) -> Actor:
        """Refused (403) before the body is even validated, as every other route."""
        Webhooks(services).authorize(actor)
        return actor

    Admin = Annotated[Actor, Depends(admin)]
    router = APIRouter(prefix="/webhooks", tags=["webhooks"])

    @router.post("", status_code=201, summary="Add a webhook; the answer shows its secret, once")
    async def add_webhook(body: NewWebhook, services: ServicesDep, actor: Admin) -> CreatedWebhook:
        return await Webhooks(services).add(actor, body)

    @router.get("", summary="The webhooks (removed ones with include_removed=true)")
    async def list_webhooks(services: ServicesDep, actor: Admin,
                            include_removed: bool = False) -> list[WebhookView]:
        return await Webhooks(services).list_webhooks(actor, include_removed=include_removed)

    @router.get("/{webhook_id}")
    async def get_webhook(webhook_id: WebhookId, services: ServicesDep, actor: Admin) -> WebhookView:
        return await Webhooks(services).get(actor, webhook_id)

    @router.delete("/{webhook_id}", status_code=204, response_class=Response,
                   summary="Remove a webhook: no more deliveries; its delivery log is kept")
    async def remove_webhook(webhook_id: WebhookId, services: ServicesDep, actor: Admin) -> Response:
        await Webhooks(services).remove(actor, webhook_id)
        return Response(status_code=204)

    @router.get("/{webhook_id}/deliveries", summary="The delivery log, newest first")
    async def deliveries(
        webhook_id: WebhookId,
        services: ServicesDep,
        actor: Admin,
        status: DeliveryStatus | None = None,
        order_id: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        cursor: Annotated[str | None, Query(max_length=20)] = None,
    ) -> DeliveryPage:
        return await Webhooks(services).deliveries(actor, webhook_id, status=status, order_id=order_id,
                                                   limit=limit, cursor=cursor)

    @router.post("/{webhook_id}/deliveries/{delivery_id}/retry",
                 summary="Deliver a failed or cancelled delivery again")
    async def retry_delivery(webhook_id: WebhookId, delivery_id: DeliveryId, services: ServicesDep,
                             actor: Admin) -> DeliveryView:
        return await Webhooks(services).retry(actor, webhook_id, delivery_id)

    return router


__all__ = ["webhook_router"]
