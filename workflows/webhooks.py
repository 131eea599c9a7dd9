"""WebhookDispatchWorkflow: the one dispatcher that delivers outbox events to webhooks.

A singleton (workflow id `webhook-dispatcher`), started idempotently by every worker and whenever a
webhook is added. Each round it fans new events out to delivery rows, fetches the due deliveries and
delivers them: one lane per webhook, lanes run side by side, each lane posts its deliveries one after
another and stops at the first failure (a receiver that is down gets one request per round, not a
burst). Retries are rows with `next_attempt_at`, found again by a later round; idle waits are workflow
timers cut short by a `poke` signal. Orders never wait for any of this.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.webhooks import WebhookActivities
    from workflows.activity_options import options
    from workflows.webhook_models import (
        DeliverInput,
        DispatchSettings,
        DispatchStatus,
        DueInput,
        DueResult,
        FanOutInput,
    )

DISPATCHER_ID = "webhook-dispatcher"

# The receiver's failures are recorded by the activity itself; an activity failure means the database
# did not answer, and the delivery is simply found due again in a later round.
DELIVERY_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=500), maximum_attempts=3)
SHORTEST_WAIT = timedelta(milliseconds=50)


@workflow.defn
class WebhookDispatchWorkflow:
    @workflow.init
    def __init__(self, settings: DispatchSettings) -> None:
        self._settings = settings
        self._poked = False
        self._lane_done = False
        self._lanes: dict[str, asyncio.Task[None]] = {}
        self._status = DispatchStatus()

    @workflow.signal
    def poke(self) -> None:
        """Something new to deliver (a webhook added, a delivery retried): end the idle wait."""
        self._poked = True

    @workflow.query
    def status(self) -> DispatchStatus:
        self._status.busy_webhooks = sorted(self._lanes)
        return self._status

    @workflow.run
    async def run(self, settings: DispatchSettings) -> None:
        for _ in range(settings.iterations):
            self._poked = self._lane_done = False
            self._status.rounds += 1
            fanned = await workflow.execute_activity_method(
                WebhookActivities.fan_out, FanOutInput(limit=settings.fan_out_batch),
                **options("fan out new events to webhooks"))
            due = await self._start_lanes()
            more_due = due.more and len(self._lanes) < settings.max_parallel
            if fanned.more or more_due:
                continue
            if workflow.info().is_continue_as_new_suggested():
                break
            await self._idle(due)
        # Lanes are tasks of this run: let them finish before the history starts afresh.
        await workflow.wait_condition(lambda: not self._lanes)
        workflow.continue_as_new(settings)

    async def _start_lanes(self) -> DueResult:
        free = self._settings.max_parallel - len(self._lanes)
        if free <= 0:
            return DueResult(lanes=[])
        due = await workflow.execute_activity_method(
            WebhookActivities.due_deliveries,
            DueInput(limit=self._settings.batch_size, max_webhooks=free, exclude=sorted(self._lanes)),
            **options("find due webhook deliveries"))
        for lane in due.lanes:
            self._lanes[lane.webhook_id] = asyncio.create_task(
                self._deliver(lane.webhook_id, lane.delivery_ids))
        return due

    async def _idle(self, due: DueResult) -> None:
        wait = self._settings.poll_interval
        if due.next_at is not None:
            wait = max(min(wait, due.next_at - workflow.now()), SHORTEST_WAIT)
        with contextlib.suppress(TimeoutError):  # the timer fired: nothing woke us, look again
            await workflow.wait_condition(lambda: self._poked or self._lane_done, timeout=wait,
                                          timeout_summary="idle")

    async def _deliver(self, webhook_id: str, delivery_ids: list[int]) -> None:
        policy = self._settings.delivery
        try:
            for delivery_id in delivery_ids:
                try:
                    result = await workflow.execute_activity_method(
                        WebhookActivities.deliver_webhook,
                        DeliverInput(delivery_id=delivery_id, policy=policy),
                        start_to_close_timeout=policy.timeout + timedelta(seconds=30),
                        retry_policy=DELIVERY_RETRY,
                        summary=f"deliver {delivery_id} to {webhook_id}",
                    )
                except ActivityError as failure:
                    workflow.logger.warning("delivery %s to %s not recorded: %s",
                                            delivery_id, webhook_id, failure.cause or failure)
                    return
                if result.status == "delivered":
                    self._status.delivered += 1
                elif result.status in ("pending", "failed"):
                    if result.status == "pending":
                        self._status.retry_scheduled += 1
                    else:
                        self._status.failed += 1
                    return  # the receiver is failing: the rest of its lane waits for a later round
        finally:
            del self._lanes[webhook_id]
            self._lane_done = True
