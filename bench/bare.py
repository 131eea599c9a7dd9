"""The baseline: a workflow of the order's shape with nothing inside.

Five no-op activities (validate, credit, reserve, ship and one more), a wait for receipt, one no-op
activity (settle). The client talks to it as to an order: update-with-start `accepted` answering
after the first activity, a `view` query, a `confirm_receipt` update. Activities are synchronous and
run in a thread pool of the same size as the real worker's, so the difference to OrderWorkflow is
the order's own work: payloads, projections, search attributes, database transactions.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

STEPS_BEFORE_RECEIPT = ("validate", "credit", "reserve", "prepare", "ship")
TIMEOUT = timedelta(seconds=30)


@activity.defn
def noop(step: str) -> str:
    return step


@workflow.defn
class BareWorkflow:
    def __init__(self) -> None:
        self._stage = "PENDING"
        self._accepted = False
        self._received = False

    @workflow.run
    async def run(self, order_id: str) -> str:
        for step in STEPS_BEFORE_RECEIPT:
            await workflow.execute_activity(noop, step, start_to_close_timeout=TIMEOUT)
            self._accepted = True
        self._stage = "SHIPPED"
        await workflow.wait_condition(lambda: self._received)
        self._stage = "DELIVERED"
        await workflow.execute_activity(noop, "settle", start_to_close_timeout=TIMEOUT)
        self._stage = "COMPLETED"
        return order_id

    @workflow.update
    async def accepted(self) -> str:
        await workflow.wait_condition(lambda: self._accepted)
        return self._stage

    @workflow.update
    async def shipped(self) -> str:
        """Answers once the workflow waits for receipt (the memory phase opens orders with it)."""
        await workflow.wait_condition(lambda: self._stage != "PENDING")
        return self._stage

    @workflow.update
    def confirm_receipt(self) -> str:
        self._received = True
        return self._stage

    @confirm_receipt.validator
    def _check_receipt(self) -> None:
        if self._stage != "SHIPPED":
            raise ValueError(f"receipt can be confirmed once SHIPPED; it is {self._stage}")

    @workflow.query
    def view(self) -> str:
        return self._stage
