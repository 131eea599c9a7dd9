"""Business metrics of the order workflow, recorded through the SDK's workflow meter.

`workflow.metric_meter()` is replay-safe: nothing is recorded while a worker replays a history (after
a restart or a cache eviction), so each counter moves once per order however often the code re-runs.
The meter already labels every series with namespace, task_queue and workflow_type; labels added here
are low-cardinality codes (never free text, never an order id). A worker exposes them with the SDK's
own metrics on ORDERS_METRICS_PORT (see `starter/metrics.py`). Call them from workflow code only
(outside a workflow `metric_meter()` raises).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import MetricCounter

from workflows.rules import HoldReason

STARTED = "orders_started"
COMPLETED = "orders_completed"
CANCELLED = "orders_cancelled"
HELD = "orders_held"
COMPENSATION_FAILED = "orders_compensation_failed"
DURATION = "orders_duration"

# Cancel reasons the workflow writes itself; anything else is a person's free-text reason.
SYSTEM_CANCEL_REASONS = ("payment_timeout", "hold_timeout", "rejected", "invalid_order")
MANUAL = "manual"


def cancel_reason_code(reason: str | None) -> str:
    """`payment_timeout`, `hold_timeout`, `rejected: <why>`, `invalid_order: <why>` keep their code;
    a free-text cancel by a person counts as `manual`."""
    head = (reason or "").split(":", 1)[0].strip()
    return head if head in SYSTEM_CANCEL_REASONS else MANUAL


def hold_reason_codes(reason: str) -> list[str]:
    """The `HoldReason` codes in a hold reason such as `over_credit_limit, above_approval_threshold`
    or `insufficient_stock: SKU-1 (2 available)`."""
    head = reason.split(":", 1)[0]
    codes = [part.strip() for part in head.split(",")]
    known = {code.value for code in HoldReason}
    return [code for code in codes if code in known] or ["other"]


def order_started() -> None:
    _counter(STARTED, "Order workflows started").add(1)


def order_completed() -> None:
    """The order reached COMPLETED (settled)."""
    _counter(COMPLETED, "Orders completed (settled)").add(1)
    _record_duration("completed")


def order_cancelled(reason: str | None) -> None:
    """The order reached CANCELLED; `reason` is the cancel reason (reduced to a code)."""
    _counter(CANCELLED, "Orders cancelled, by reason code").add(1, {"reason": cancel_reason_code(reason)})
    _record_duration("cancelled")


def order_held(reason: str) -> None:
    """The order went ON_HOLD; one count per hold reason code."""
    counter = _counter(HELD, "Orders put on hold, by reason code")
    for code in hold_reason_codes(reason):
        counter.add(1, {"reason": code})


def compensation_failed(step: str) -> None:
    """A compensation step (refund, restock, release_reservation, release_credit) used up its first
    retries and the order now needs attention; it goes on retrying."""
    _counter(COMPENSATION_FAILED, "Compensation steps that kept failing, by step").add(1, {"step": step})


def _counter(name: str, description: str) -> MetricCounter:
    return workflow.metric_meter().create_counter(name, description)


def _record_duration(outcome: str) -> None:
    elapsed = workflow.now() - workflow.info().workflow_start_time
    workflow.metric_meter().create_histogram_timedelta(
        DURATION, "Time from order start to COMPLETED or CANCELLED", unit="duration",
    ).record(max(elapsed, timedelta(0)), {"outcome": outcome})
