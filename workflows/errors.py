"""Typed business failures. The API maps each `type` to an HTTP status; messages are for people.

Raised as non-retryable `ApplicationError`s from activities and update validators, so a business
refusal is never retried and always reaches the caller with its type intact.
"""

from __future__ import annotations

from typing import Any

from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

# Benign: the SDK logs them at DEBUG and keeps them out of the failure metrics, so an alert on
# activity failures means something technical broke, not that a customer was over the limit.
BENIGN = ApplicationErrorCategory.BENIGN

INVALID_INPUT = "invalid_input"  # 422
NOT_ALLOWED = "not_allowed"  # 409: not allowed in the current state
STALE_VERSION = "stale_version"  # 409
FORBIDDEN = "forbidden"  # 403
NOT_FOUND = "not_found"  # 404

HTTP_STATUS = {INVALID_INPUT: 422, NOT_ALLOWED: 409, STALE_VERSION: 409, FORBIDDEN: 403, NOT_FOUND: 404}


def invalid(errors: list[dict[str, Any]], message: str | None = None) -> ApplicationError:
    """`errors` is a list of {"field": "lines[0].sku", "message": "..."}."""
    text = message or "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return ApplicationError(text, {"errors": errors}, type=INVALID_INPUT, non_retryable=True,
                            category=BENIGN)


def not_allowed(message: str, **details: Any) -> ApplicationError:
    return ApplicationError(message, details, type=NOT_ALLOWED, non_retryable=True, category=BENIGN)


def forbidden(message: str) -> ApplicationError:
    return ApplicationError(message, type=FORBIDDEN, non_retryable=True, category=BENIGN)


def stale(message: str, current_version: int) -> ApplicationError:
    return ApplicationError(message, {"current_version": current_version}, type=STALE_VERSION,
                            non_retryable=True, category=BENIGN)
