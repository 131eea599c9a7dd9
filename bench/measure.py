"""Small measuring tools: CPU meters over processes, percentiles, a workflow history's profile."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import WorkflowHandle

from bench.procs import Child, cpu_seconds


class Meter:
    """CPU seconds used by some processes (and this driver) between `start()` and `stop()`."""

    def __init__(self, **procs: Child) -> None:
        self.procs = procs
        self.used: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        return {"driver": cpu_seconds(), **{name: p.cpu() for name, p in self.procs.items()}}

    def __enter__(self) -> Meter:
        self._start = self._now()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._now()
        self.used = {name: end[name] - self._start[name] for name in end}


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil(n·p/100), at least 1
    return ordered[int(rank) - 1]


@dataclass
class HistoryProfile:
    events: int = 0
    size: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    activities: Counter[str] = field(default_factory=Counter)
    activity_bytes: Counter[str] = field(default_factory=Counter)  # scheduled + completed events

    @property
    def workflow_tasks(self) -> int:
        return self.kinds["workflow_task_completed"]

    def summary(self) -> str:
        acts = ", ".join(f"{name} ×{n} {self.activity_bytes[name] / 1024:.1f} KiB"
                         for name, n in self.activities.most_common())
        return (f"{self.events} events ({self.size / 1024:.1f} KiB), {self.workflow_tasks} workflow tasks, "
                f"{sum(self.activities.values())} activities ({acts}), "
                f"{self.kinds['upsert_workflow_search_attributes']} search-attribute upserts, "
                f"{self.kinds['workflow_execution_update_accepted']} updates, "
                f"{self.kinds['timer_started']} timers")


async def profile(handle: WorkflowHandle[Any, Any]) -> HistoryProfile:
    history = await handle.fetch_history()
    result = HistoryProfile(events=len(history.events))
    scheduled: dict[int, str] = {}
    for event in history.events:
        result.size += event.ByteSize()
        kind = str(event.WhichOneof("attributes")).removesuffix("_event_attributes")
        result.kinds[kind] += 1
        if kind == "activity_task_scheduled":
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled[event.event_id] = name
            result.activities[name] += 1
            result.activity_bytes[name] += event.ByteSize()
        elif kind == "activity_task_completed":
            name = scheduled[event.activity_task_completed_event_attributes.scheduled_event_id]
            result.activity_bytes[name] += event.ByteSize()
    return result
