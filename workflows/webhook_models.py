"""Messages of the webhook dispatcher: its settings and the inputs/results of its activities.

Pydantic models carried by the pydantic data converter; fields may be added compatibly (with defaults).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field


class DeliveryPolicy(BaseModel):
    """How one delivery is attempted and, when the receiver does not answer 2xx, retried.

    Attempt n (1-based) that fails is tried again after initial_backoff · 2^(n-1), at most
    max_backoff; after max_attempts the delivery is `failed` (an admin can retry it).
    The defaults give a receiver about four hours to come back.
    """

    timeout: timedelta = timedelta(seconds=10)
    initial_backoff: timedelta = timedelta(seconds=30)
    max_backoff: timedelta = timedelta(hours=2)
    max_attempts: int = Field(default=10, ge=1)

    def backoff(self, attempts: int) -> timedelta:
        seconds = self.initial_backoff.total_seconds() * 2 ** max(attempts - 1, 0)
        return min(timedelta(seconds=seconds), self.max_backoff)


class DispatchSettings(BaseModel):
    """The dispatcher's input, carried over every continue-as-new."""

    poll_interval: timedelta = Field(
        default=timedelta(seconds=1), description="longest idle wait; a `poke` signal ends it early")
    fan_out_batch: int = Field(default=500, ge=1)
    batch_size: int = Field(default=100, ge=1, description="due deliveries fetched per round")
    max_parallel: int = Field(default=4, ge=1, description="webhooks delivered to at the same time")
    iterations: int = Field(default=200, ge=1, description="rounds before continue-as-new")
    delivery: DeliveryPolicy = Field(default_factory=DeliveryPolicy)


class DispatchStatus(BaseModel):
    """What the `status` query shows an operator."""

    rounds: int = 0
    busy_webhooks: list[str] = Field(default_factory=list)
    delivered: int = 0
    retry_scheduled: int = 0
    failed: int = 0


class FanOutInput(BaseModel):
    limit: int = 500


class FanOutResult(BaseModel):
    events: int
    deliveries: int
    more: bool


class DueInput(BaseModel):
    limit: int = 100
    max_webhooks: int = 4
    exclude: list[str] = Field(default_factory=list, description="webhooks with a delivery running")


class DueLane(BaseModel):
    """Due deliveries of one webhook, oldest first; delivered one after another."""

    webhook_id: str
    delivery_ids: list[int]


class DueResult(BaseModel):
    lanes: list[DueLane]
    more: bool = False
    next_at: datetime | None = Field(default=None, description="when the next pending one is due")


class DeliverInput(BaseModel):
    delivery_id: int
    policy: DeliveryPolicy = Field(default_factory=DeliveryPolicy)


class DeliverResult(BaseModel):
    delivery_id: int
    # delivered | pending (retry scheduled) | failed | skipped (not pending, or webhook removed)
    status: str
    attempts: int = 0
    status_code: int | None = None
    error: str | None = None
