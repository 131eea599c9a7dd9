"""Logging: structlog JSON lines in production, the console renderer on a terminal.

Every record goes through one structlog formatter on the root logger: our `structlog.get_logger()`
calls, the Temporal SDK's `workflow.logger` / `activity.logger`, Core's logs (forwarded by the worker's
runtime, see `starter/metrics.py`), uvicorn. The SDK loggers put a `temporal_workflow` /
`temporal_activity` dict into the record's `extra`; `add_temporal_fields` flattens it into top-level
keys (workflow_id, run_id, workflow_type, activity_type, activity_id, attempt, task_queue, …) and adds
`order_id` from the workflow id `order-<id>`, so a log search by order id finds workflow and activity
lines alike.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog
from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from starter.settings import get_settings
from starter.temporal import WORKFLOW_ID_PREFIX

# SDK detail keys → our flat names; "attempt" of the workflow itself is its retry attempt (always 1
# for orders), so only the activity's attempt is kept.
_WORKFLOW_KEYS = {"workflow_id": "workflow_id", "run_id": "run_id", "workflow_type": "workflow_type",
                  "namespace": "namespace", "task_queue": "task_queue",
                  "update_id": "update_id", "update_name": "update_name"}
_ACTIVITY_KEYS = {"activity_id": "activity_id", "activity_type": "activity_type", "attempt": "attempt",
                  "workflow_id": "workflow_id", "workflow_run_id": "run_id",
                  "workflow_type": "workflow_type", "namespace": "namespace", "task_queue": "task_queue"}
# Extras that are internal plumbing, not information: Core's log object (its fields are already in
# the message), uvicorn's coloured duplicate of the message, the SDK's failure marker.
_DROPPED = ("temporal_log", "color_message", "__temporal_error_identifier")


def add_temporal_fields(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: flatten the SDK's workflow/activity details; derive `order_id`."""
    for source, names in (("temporal_activity", _ACTIVITY_KEYS), ("temporal_workflow", _WORKFLOW_KEYS)):
        details = event_dict.pop(source, None)
        if isinstance(details, Mapping):
            for key, name in names.items():
                if details.get(key) is not None:
                    event_dict.setdefault(name, details[key])  # a caller's own field wins
    for key in _DROPPED:
        event_dict.pop(key, None)
    workflow_id = event_dict.get("workflow_id")
    if isinstance(workflow_id, str) and workflow_id.startswith(WORKFLOW_ID_PREFIX):
        event_dict.setdefault("order_id", workflow_id[len(WORKFLOW_ID_PREFIX):])
    return event_dict


def configure_logging(level: str | None = None, *, json: bool | None = None,
                      stream: TextIO | None = None) -> None:
    """Route stdlib logging (the Temporal SDK's loggers included) through structlog's renderer.

    `level` defaults to ORDERS_LOG_LEVEL; `json` to ORDERS_LOG_FORMAT, and without it to JSON unless
    stderr is a terminal. Lines go to `stream` (default stderr).
    """
    if level is None or json is None:
        settings = get_settings()
        level = level or settings.log_level
        if json is None and settings.log_format is not None:
            json = settings.log_format == "json"
    out = stream or sys.stderr
    as_json = not out.isatty() if json is None else json
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        add_temporal_fields,
    ]
    rendering: list[structlog.typing.Processor] = (
        [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()] if as_json
        else [structlog.dev.ConsoleRenderer(colors=out.isatty())]
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The details are fields now; don't also append them to every message as a dict's repr.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False


class ActivityLogInterceptor(Interceptor):
    """One line per activity attempt: how long it took and how it ended, with the activity fields."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityLog(next)


class _ActivityLog(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        started = time.monotonic()
        try:
            result = await self.next.execute_activity(input)
        except BaseException as error:
            fields = {"duration_ms": _ms_since(started), "error_type": _error_type(error),
                      "error": str(error)}
            if isinstance(error, ApplicationError) and error.non_retryable:
                # A business refusal (invalid input, not allowed): an answer, not an incident.
                activity.logger.info("activity refused", extra=fields)
            else:  # the SDK logs the traceback; this line carries the duration and the type
                activity.logger.warning("activity failed", extra=fields)
            raise
        activity.logger.info("activity completed", extra={"duration_ms": _ms_since(started)})
        return result


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _error_type(error: BaseException) -> str:
    return (error.type if isinstance(error, ApplicationError) else None) or type(error).__name__
