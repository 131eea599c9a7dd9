"""The worker's SDK runtime: Prometheus metrics on ORDERS_METRICS_PORT and Core logs into ours.

The SDK serves `/metrics` itself (no HTTP thread of ours): its own `temporal_*` metrics (task
latencies, slots, sticky cache, failures) and the business counters recorded through the SDK's
meters — from workflows by `workflows/metrics.py` (replay-safe), from activities by
`ActivityMetricsInterceptor` below.
"""

from __future__ import annotations

import logging
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from starter.settings import Settings
from workflows.activity_options import BUSINESS_ERRORS

CORE_LOGGER = "temporalio.core"


def make_runtime(settings: Settings) -> Runtime:
    """One runtime per worker process. Core's warnings go to Python logging (so they are JSON too)."""
    metrics = None
    if settings.metrics_port is not None:
        metrics = PrometheusConfig(bind_address=f"{settings.metrics_host}:{settings.metrics_port}")
    return Runtime(telemetry=TelemetryConfig(
        metrics=metrics,
        logging=LoggingConfig(
            filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
            forwarding=LogForwardingConfig(logger=logging.getLogger(CORE_LOGGER)),
        ),
    ))


class ActivityMetricsInterceptor(Interceptor):
    """`orders_activity_refusals{activity_type, error_type}`: business refusals (invalid input, not
    allowed, …) counted apart, because the SDK's `temporal_activity_execution_failed` counts them
    together with real failures (a database down). Alert on the difference, not on the sum."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityMetrics(next)


class _ActivityMetrics(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await self.next.execute_activity(input)
        except ApplicationError as error:
            if error.type in BUSINESS_ERRORS:
                activity.metric_meter().create_counter(
                    "orders_activity_refusals", "Activities that refused for a business reason",
                ).add(1, {"error_type": error.type or ""})
            raise
