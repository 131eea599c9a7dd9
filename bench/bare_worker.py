"""`python -m bench.bare_worker`: a worker process for BareWorkflow, sized like worker.py's
(same environment variables and settings: activity threads, concurrency, sticky cache)."""

from __future__ import annotations

import asyncio
import signal
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from temporalio.worker import Worker

from bench.bare import BareWorkflow, noop
from starter.settings import get_settings
from starter.temporal import connect


def _setting(name: str, default: Any) -> Any:
    """Sizing settings of the real worker, with the SDK's defaults where a setting does not exist."""
    return getattr(get_settings(), name, default)


async def main() -> None:
    settings = get_settings()
    client = await connect(settings)
    threads = _setting("activity_pool_size", 16)
    worker = Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=[BareWorkflow],
        activities=[noop],
        activity_executor=ThreadPoolExecutor(max_workers=threads, thread_name_prefix="activity"),
        max_concurrent_activities=min(_setting("max_concurrent_activities", threads), threads),
        max_concurrent_workflow_tasks=_setting("max_concurrent_workflow_tasks", None),
        max_cached_workflows=_setting("max_cached_workflows", 1000),
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
