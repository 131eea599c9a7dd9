"""A test-only workflow that calls every function of `workflows/metrics.py` between timers.

Kept apart from the test module so the workflow sandbox imports nothing but the SDK and our code.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import metrics


@workflow.defn
class MetricsProbe:
    @workflow.run
    async def run(self, outcome: str) -> None:
        metrics.order_started()
        await workflow.sleep(timedelta(milliseconds=50))  # a new task: the lines above are replayed
        metrics.order_held("over_credit_limit, above_approval_threshold")
        metrics.order_held("insufficient_stock: SKU-1 (2 available), SKU-2 (0 available)")
        await workflow.sleep(timedelta(milliseconds=50))
        if outcome == "completed":
            metrics.order_completed()
            return
        metrics.compensation_failed("refund")
        await workflow.sleep(timedelta(milliseconds=50))
        metrics.order_cancelled(outcome)


@workflow.defn
class LogProbe:
    """Logs through `workflow.logger` from the run method and from an update handler."""

    def __init__(self) -> None:
        self._done = False

    @workflow.run
    async def run(self) -> None:
        workflow.logger.info("probe waiting", extra={"waiting_for": "an update"})
        await workflow.wait_condition(lambda: self._done)

    @workflow.update
    async def finish(self) -> None:
        workflow.logger.info("probe finishing")
        self._done = True
