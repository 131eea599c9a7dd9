"""Webhooks end to end: orders on a real dev server, the dispatcher workflow, real HTTP receivers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle

from db.models import AuditEvent
from starter.service import Services
from starter.settings import Settings
from starter.webhooks import NewWebhook, Webhooks, ensure_dispatcher
from tests.factories import SYSTEM, add_customer, add_product
from tests.webhooks.conftest import FAST, StartOrder
from tests.webhooks.receiver import Receiver, dead_url, verify
from tests.workflows.helpers import wait_for_status
from workflows.models import Actor, OrderView, ReceiptCommand
from workflows.order import OrderWorkflow
from workflows.rules import OrderStatus, Role
from workflows.webhook_models import DispatchStatus
from workflows.webhooks import WebhookDispatchWorkflow

ADMIN = Actor(id="admin", role=Role.ADMIN)
Receivers = Callable[..., Awaitable[Receiver]]
LIFECYCLE = [(None, "PENDING"), ("PENDING", "PROCESSING"), ("PROCESSING", "SHIPPED"),
             ("SHIPPED", "DELIVERED"), ("DELIVERED", "COMPLETED")]


async def eventually(check: Callable[[], Any], timeout: float = 20.0) -> None:
    """Poll `check` until it stops raising AssertionError (bounded)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            check()
            return
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)


def moves(events: list[dict[str, Any]]) -> list[tuple[Any, Any]]:
    return [(e["data"]["from"], e["data"]["to"]) for e in events]


def status_changes(sessions: sessionmaker[Session], order_id: str) -> list[tuple[Any, Any]]:
    with sessions() as s:
        rows = s.execute(select(AuditEvent.from_status, AuditEvent.to_status)
                         .where(AuditEvent.order_id == order_id).order_by(AuditEvent.at)).all()
    return [(a, b) for a, b in rows if a != b]


async def complete(start_order: StartOrder, sessions: sessionmaker[Session],
                   ) -> WorkflowHandle[OrderWorkflow, OrderView]:
    handle = await start_order(add_customer(sessions), {add_product(sessions): 2})
    await wait_for_status(handle, OrderStatus.SHIPPED)
    await handle.execute_update(OrderWorkflow.confirm_receipt, ReceiptCommand(actor=SYSTEM))
    return handle


async def test_a_receiver_gets_every_status_change_of_an_order_exactly_once_signed(
    webhooks: Webhooks, receivers: Receivers, start_order: StartOrder,
    sqlite_sessions: sessionmaker[Session],
) -> None:
    receiver = await receivers()
    hook = await webhooks.add(ADMIN, NewWebhook.model_validate({"url": receiver.url}))

    handle = await complete(start_order, sqlite_sessions)
    final = await handle.result()

    assert final.status == OrderStatus.COMPLETED
    await eventually(lambda: _assert_len(receiver.events_of(final.order_id), len(LIFECYCLE)))
    await asyncio.sleep(1.0)  # a few more dispatcher rounds: nothing may come twice
    events = receiver.events_of(final.order_id)
    assert moves(events) == LIFECYCLE == status_changes(sqlite_sessions, final.order_id)
    assert [e["data"]["sequence"] for e in events] == [1, 2, 3, 4, 5]
    assert len({e["id"] for e in events}) == len(events)
    mine = [r for r in receiver.accepted if r.event["data"]["order_id"] == final.order_id]
    assert all(verify(hook.secret, r.body, r.headers["x-orders-signature"]) for r in mine)
    assert len({r.headers["x-orders-delivery"] for r in mine}) == len(mine)
    assert events[-1]["data"]["order"]["invoice_number"] == final.invoice.number  # type: ignore[union-attr]
    log = await webhooks.deliveries(ADMIN, hook.id, order_id=final.order_id)
    assert {(d.status, d.attempts) for d in log.items} == {("delivered", 1)}


async def test_a_receiver_that_fails_at_first_gets_the_event_after_retries(
    webhooks: Webhooks, receivers: Receivers, start_order: StartOrder,
    sqlite_sessions: sessionmaker[Session],
) -> None:
    receiver = await receivers(fail_first=2)
    hook = await webhooks.add(ADMIN, NewWebhook.model_validate({"url": receiver.url}))

    handle = await complete(start_order, sqlite_sessions)
    final = await handle.result()

    await eventually(lambda: _assert_len(receiver.events_of(final.order_id), len(LIFECYCLE)))
    assert sorted(moves(receiver.events_of(final.order_id)), key=LIFECYCLE.index) == LIFECYCLE
    assert len(receiver.requests) >= 3 * len(LIFECYCLE)
    log = await webhooks.deliveries(ADMIN, hook.id, order_id=final.order_id)
    assert len(log.items) == len(LIFECYCLE)
    for delivery in log.items:
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 3, 200)
        assert [a.status_code for a in delivery.log] == [500, 500, 200]
        assert delivery.log[0].error == "HTTP 500: receiver down for maintenance"
        assert delivery.log[0].at < delivery.log[1].at < delivery.log[2].at


async def test_a_dead_receiver_never_holds_up_an_order_nor_the_other_webhooks(
    webhooks: Webhooks, receivers: Receivers, start_order: StartOrder,
    sqlite_sessions: sessionmaker[Session], dispatcher: WorkflowHandle[Any, None],
) -> None:
    dead = await webhooks.add(ADMIN, NewWebhook.model_validate({"url": dead_url()}))
    receiver = await receivers()
    await webhooks.add(ADMIN, NewWebhook.model_validate({"url": receiver.url}))

    handle = await complete(start_order, sqlite_sessions)
    final = await asyncio.wait_for(handle.result(), timeout=30)

    assert final.status == OrderStatus.COMPLETED
    await eventually(lambda: _assert_len(receiver.events_of(final.order_id), len(LIFECYCLE)))
    log = await webhooks.deliveries(ADMIN, dead.id, order_id=final.order_id)
    assert {d.status for d in log.items} <= {"pending", "failed"}
    tried = [d for d in log.items if d.attempts]
    assert tried and all(d.last_error and d.last_error.startswith("ConnectError") for d in tried)
    status = await dispatcher.query(WebhookDispatchWorkflow.status)
    assert isinstance(status, DispatchStatus) and status.retry_scheduled >= 1


async def test_removing_a_webhook_stops_its_deliveries(
    webhooks: Webhooks, receivers: Receivers, start_order: StartOrder,
    sqlite_sessions: sessionmaker[Session],
) -> None:
    receiver = await receivers()
    hook = await webhooks.add(ADMIN, NewWebhook.model_validate({"url": receiver.url}))
    handle = await start_order(add_customer(sqlite_sessions), {add_product(sqlite_sessions): 1})
    await wait_for_status(handle, OrderStatus.SHIPPED)
    order_id = (await handle.query(OrderWorkflow.view)).order_id
    await eventually(lambda: _assert_len(receiver.events_of(order_id), 3))

    await webhooks.remove(ADMIN, hook.id)
    await handle.execute_update(OrderWorkflow.confirm_receipt, ReceiptCommand(actor=SYSTEM))
    await handle.result()
    await asyncio.sleep(1.5)  # several dispatcher rounds

    assert moves(receiver.events_of(order_id)) == LIFECYCLE[:3]
    assert [w.id for w in await webhooks.list_webhooks(ADMIN)] == []
    log = await webhooks.deliveries(ADMIN, hook.id, order_id=order_id)
    assert [d.sequence for d in log.items] == [3, 2, 1]  # nothing for the changes after removal


async def test_a_dispatcher_continues_as_new_and_keeps_delivering(
    client: Client, task_queue: str, receivers: Receivers, start_order: StartOrder,
    sqlite_url: str, sqlite_sessions: sessionmaker[Session],
) -> None:
    dispatcher_id = f"short-dispatcher-{task_queue}"
    started = await ensure_dispatcher(client, task_queue, workflow_id=dispatcher_id,
                                      settings=FAST.model_copy(update={"iterations": 3}))
    services = Services(Settings(database_url=sqlite_url, temporal_task_queue=task_queue),
                        sqlite_sessions, client)
    webhooks = Webhooks(services, dispatcher_id=dispatcher_id)
    try:
        await _rolled_over(client, dispatcher_id, started.first_execution_run_id)
        receiver = await receivers()
        await webhooks.add(ADMIN, NewWebhook.model_validate({"url": receiver.url}))
        order = await complete(start_order, sqlite_sessions)
        final = await order.result()

        await eventually(lambda: _assert_len(receiver.events_of(final.order_id), len(LIFECYCLE)))
        assert moves(receiver.events_of(final.order_id)) == LIFECYCLE
    finally:
        await client.get_workflow_handle(dispatcher_id).terminate("test finished")


async def _rolled_over(client: Client, workflow_id: str, first_run_id: str | None) -> None:
    """Wait until the workflow runs in a run after its first (it continued as new)."""
    deadline = asyncio.get_running_loop().time() + 20
    while (await client.get_workflow_handle(workflow_id).describe()).run_id == first_run_id:
        assert asyncio.get_running_loop().time() < deadline, "the dispatcher never continued as new"
        await asyncio.sleep(0.1)


def _assert_len(items: list[Any], expected: int) -> None:
    assert len(items) == expected, items
