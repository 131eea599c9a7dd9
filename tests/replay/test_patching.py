"""`workflow.patched` in action: how a running order survives a change of workflow code.

A small workflow stands in for OrderWorkflow so the example fits on a screen. Version 1 runs on the
dev server and its history is kept; version 2 adds a step. Without a patch, replaying the old history
fails with a non-determinism error (what a deploy would do to every running order). With
`workflow.patched`, the old history takes the old path and new runs take the new one.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer, Worker
from temporalio.workflow import NondeterminismError

TIMEOUT = timedelta(seconds=10)


@activity.defn
def step(name: str) -> str:
    return name


@workflow.defn(name="Fulfil")
class FulfilV1:
    @workflow.run
    async def run(self) -> list[str]:
        return [await workflow.execute_activity(step, "ship", start_to_close_timeout=TIMEOUT)]


@workflow.defn(name="Fulfil")
class FulfilV2Unpatched:
    """Adds a notification before shipping, as a plain edit would."""

    @workflow.run
    async def run(self) -> list[str]:
        done = [await workflow.execute_activity(step, "notify", start_to_close_timeout=TIMEOUT)]
        return [*done, await workflow.execute_activity(step, "ship", start_to_close_timeout=TIMEOUT)]


@workflow.defn(name="Fulfil")
class FulfilV2Patched:
    """The same change behind a patch: old histories keep the old path."""

    @workflow.run
    async def run(self) -> list[str]:
        done: list[str] = []
        if workflow.patched("notify-before-shipping"):
            done.append(await workflow.execute_activity(step, "notify", start_to_close_timeout=TIMEOUT))
        return [*done, await workflow.execute_activity(step, "ship", start_to_close_timeout=TIMEOUT)]


async def run_and_record(client: Client, workflow_class: type) -> tuple[list[str], WorkflowHistory]:
    queue = f"patching-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[workflow_class], activities=[step],
                      activity_executor=ThreadPoolExecutor(max_workers=2)):
        handle = await client.start_workflow("Fulfil", id=f"fulfil-{uuid.uuid4().hex}", task_queue=queue,
                                             result_type=list[str])
        result = await handle.result()
    return result, await handle.fetch_history()


async def test_an_unpatched_change_breaks_replay_of_a_running_history(client: Client) -> None:
    _, old_history = await run_and_record(client, FulfilV1)
    with pytest.raises(NondeterminismError):
        await Replayer(workflows=[FulfilV2Unpatched]).replay_workflow(old_history)


async def test_a_patched_change_replays_old_histories_and_runs_the_new_path(client: Client) -> None:
    old_result, old_history = await run_and_record(client, FulfilV1)
    assert old_result == ["ship"]
    await Replayer(workflows=[FulfilV2Patched]).replay_workflow(old_history)  # old path, no error

    new_result, new_history = await run_and_record(client, FulfilV2Patched)
    assert new_result == ["notify", "ship"]
    await Replayer(workflows=[FulfilV2Patched]).replay_workflow(new_history)
