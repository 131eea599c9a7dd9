"""One worker process: settings → logging → runtime/metrics → client → worker.

Run as many side by side as you like (`python worker.py`); they share the task queue's load.
SIGTERM/SIGINT drain gracefully: no new tasks are taken, running activities get time to finish.
"""

from __future__ import annotations

import asyncio
import signal
from concurrent.futures import ThreadPoolExecutor

import structlog
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.carrier import Carrier, LocalCarrier
from activities.orders import OrderActivities
from activities.webhooks import WebhookActivities
from db.session import make_engine, make_sessionmaker
from starter.logs import ActivityLogInterceptor, configure_logging
from starter.metrics import ActivityMetricsInterceptor, make_runtime
from starter.settings import Settings, get_settings
from starter.temporal import connect, register_search_attributes
from starter.webhooks import ensure_dispatcher
from workflows.order import OrderWorkflow
from workflows.webhooks import WebhookDispatchWorkflow

log = structlog.get_logger("worker")


def build_worker(
    client: Client,
    sessions: sessionmaker[Session],
    task_queue: str,
    *,
    carrier: Carrier | None = None,
    executor: ThreadPoolExecutor | None = None,
    settings: Settings | None = None,
) -> Worker:
    """The worker for order workflows and activities; tests build theirs with this too.

    Sizing and draining come from `settings` (ORDERS_MAX_CONCURRENT_*, ORDERS_MAX_CACHED_WORKFLOWS,
    ORDERS_ACTIVITY_THREADS, ORDERS_DRAIN_TIMEOUT; the environment's when not given).
    """
    config = settings or get_settings()
    activities = OrderActivities(sessions, carrier or LocalCarrier())
    webhooks = WebhookActivities(sessions)
    pool = executor or ThreadPoolExecutor(max_workers=config.activity_pool_size,
                                          thread_name_prefix="activity")
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[OrderWorkflow, WebhookDispatchWorkflow],
        activities=[
            activities.validate_order,
            activities.check_credit,
            activities.reserve_stock,
            activities.release_reservation,
            activities.capture_payment,
            activities.ship_order,
            activities.settle_order,
            activities.refund_payment,
            activities.restock_order,
            activities.release_credit,
            activities.project_order,
            webhooks.fan_out,
            webhooks.due_deliveries,
            webhooks.deliver_webhook,
        ],
        activity_executor=pool,
        # Never more activities at once than threads to run them (a task waiting for a thread
        # would spend its start-to-close timeout queued inside this process).
        max_concurrent_activities=min(config.max_concurrent_activities, pool._max_workers),
        max_concurrent_workflow_tasks=config.max_concurrent_workflow_tasks,
        max_cached_workflows=config.max_cached_workflows,
        graceful_shutdown_timeout=config.drain_timeout,
        interceptors=[ActivityLogInterceptor(), ActivityMetricsInterceptor()],
    )


async def run_worker(settings: Settings, *, carrier: Carrier | None = None) -> None:
    """Serve the task queue until SIGTERM/SIGINT, then drain (up to ORDERS_DRAIN_TIMEOUT)."""
    runtime = make_runtime(settings)
    client = await connect(settings, runtime=runtime)
    try:
        added = await register_search_attributes(client, client.namespace)
        if added:
            log.info("registered search attributes", added=added)
    except RPCError as error:  # e.g. a cloud namespace where the worker may not change the schema
        log.warning("could not register search attributes; run `orders setup` with an admin key",
                    error=str(error))
    sessions = make_sessionmaker(make_engine(settings.database_url))
    worker = build_worker(client, sessions, settings.temporal_task_queue, carrier=carrier,
                          settings=settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started", task_queue=settings.temporal_task_queue,
             address=client.service_client.config.target_host, namespace=client.namespace,
             identity=client.identity, metrics_port=settings.metrics_port,
             max_concurrent_activities=settings.max_concurrent_activities,
             max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
             max_cached_workflows=settings.max_cached_workflows)
    async with worker:
        try:  # idempotent: every worker makes sure the one webhook dispatcher runs
            await ensure_dispatcher(client, settings.temporal_task_queue)
        except RPCError as error:
            log.warning("could not start the webhook dispatcher", error=str(error))
        await stop.wait()
        log.info("draining: no new tasks, waiting for running activities",
                 drain_timeout_s=settings.drain_timeout.total_seconds())
    log.info("worker stopped")


def main() -> None:
    configure_logging()  # ORDERS_LOG_LEVEL, ORDERS_LOG_FORMAT
    asyncio.run(run_worker(get_settings()))


if __name__ == "__main__":
    main()
