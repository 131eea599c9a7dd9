"""One worker process: settings → logging → runtime/metrics → client → worker.

Run as many side by side as you like (`python worker.py`); they share the task queue's load.
SIGTERM/SIGINT drain gracefully: no new tasks are taken, running activities get time to finish.
"""

from __future__ import annotations

import asyncio
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import structlog
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.carrier import Carrier, LocalCarrier
from activities.orders import OrderActivities
from db.session import make_engine, make_sessionmaker
from starter.logs import configure_logging
from starter.settings import Settings, get_settings
from starter.temporal import connect, register_search_attributes
from workflows.order import OrderWorkflow

log = structlog.get_logger("worker")

ACTIVITY_THREADS = 16


def build_worker(
    client: Client,
    sessions: sessionmaker[Session],
    task_queue: str,
    *,
    carrier: Carrier | None = None,
    executor: ThreadPoolExecutor | None = None,
) -> Worker:
    """The worker for order workflows and activities; tests build theirs with this too."""
    activities = OrderActivities(sessions, carrier or LocalCarrier())
    pool = executor or ThreadPoolExecutor(max_workers=ACTIVITY_THREADS, thread_name_prefix="activity")
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[OrderWorkflow],
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
        ],
        activity_executor=pool,
        max_concurrent_activities=pool._max_workers,
        graceful_shutdown_timeout=timedelta(seconds=20),
    )


def metrics_runtime(settings: Settings) -> Runtime | None:
    if settings.metrics_port is None:
        return None
    return Runtime(telemetry=TelemetryConfig(
        metrics=PrometheusConfig(bind_address=f"0.0.0.0:{settings.metrics_port}")))


async def run_worker(settings: Settings) -> None:
    runtime = metrics_runtime(settings)
    client = await connect(settings, runtime=runtime)
    try:
        added = await register_search_attributes(client, settings.temporal_namespace)
        if added:
            log.info("registered search attributes", added=added)
    except RPCError as error:  # e.g. a cloud namespace where the worker may not change the schema
        log.warning("could not register search attributes; run `orders setup` with an admin key",
                    error=str(error))
    sessions = make_sessionmaker(make_engine(settings.database_url))
    worker = build_worker(client, sessions, settings.temporal_task_queue)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started", task_queue=settings.temporal_task_queue,
             address=settings.temporal_address, namespace=settings.temporal_namespace,
             metrics_port=settings.metrics_port)
    async with worker:
        await stop.wait()
        log.info("draining: no new tasks, waiting for running activities")
    log.info("worker stopped")


def main() -> None:
    configure_logging()
    asyncio.run(run_worker(get_settings()))


if __name__ == "__main__":
    main()
