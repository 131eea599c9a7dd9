"""How the workflow calls activities: timeouts and retries in one place."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

from workflows import errors

# Business refusals are final; everything else (a database restart, a lost connection) is retried
# with backoff for as long as it takes, because giving up would lose an order, money or stock.
BUSINESS_ERRORS = [errors.INVALID_INPUT, errors.NOT_ALLOWED, errors.STALE_VERSION, errors.FORBIDDEN]

PERSISTENT = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,
    non_retryable_error_types=BUSINESS_ERRORS,
)

# A compensation gets this many tries before the order is flagged `needs_attention`; it then goes on
# retrying with PERSISTENT, so a refund or restock is delayed, never dropped.
COMPENSATION_FIRST_TRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=5,
    non_retryable_error_types=BUSINESS_ERRORS,
)


def options(summary: str, retry: RetryPolicy = PERSISTENT) -> dict[str, Any]:
    return {
        "start_to_close_timeout": timedelta(seconds=30),
        "retry_policy": retry,
        "summary": summary,
    }
